"""The one versioned envelope every stored object carries, and the one check every reader makes.

A JSON object (``backup.json``, ``snapshot.json``, a partition manifest, a restore checkpoint, an offset map) is a
JSON object whose ``format`` names what it is (its *marker*, e.g. ``kafka-backup-partition-manifest``) and whose
``version`` is ``"MAJOR.MINOR"``; the rest of the object is the body. A segment (Parquet) carries the same pair in
its key-value metadata (``kafka_backup.format``, ``kafka_backup.format_version``).

Reading rules (the invariants every reader gets from :func:`open_json` / :func:`check_version`):

- a minor version only adds optional fields: any minor of a known major is read (unknown fields are ignored);
- an unknown major is refused with :class:`~kafka_backup.engine.errors.UnsupportedFormatError`, naming the object's
  key, the version found and the versions understood;
- another object's marker, bytes that are not a JSON object, or a body without a required field is
  :class:`~kafka_backup.engine.errors.CorruptObjectError` (``BACKUP_CORRUPT``) carrying the key, never a bare
  ``ValueError``/``KeyError``;
- *legacy forms*: objects written before the envelope existed are major 1. Manifests, restore checkpoints and offset
  maps carried the marker with an integer ``version`` (``1``, read as ``1.0``); ``snapshot.json`` carried neither.
  An object without a marker (and without a version) is therefore read as the legacy major-1 form of the format the
  reader expects; its shape is still checked.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

from kafka_backup.engine.errors import CorruptObjectError, UnsupportedFormatError

T = TypeVar("T")


@dataclass(frozen=True)
class Format:
    """One stored object type: its marker, what to call it in messages, and the version this code writes."""

    marker: str
    what: str
    major: int = 1
    minor: int = 0

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def understood(self) -> str:
        """The versions this code reads: every minor of its major."""
        return f"{self.major}.x"


BACKUP_MANIFEST = Format("kafka-backup-backup", "backup manifest")
SNAPSHOT = Format("kafka-backup-snapshot", "snapshot checkpoint")
PARTITION_MANIFEST = Format("kafka-backup-partition-manifest", "partition manifest")
RESTORE_STATE = Format("kafka-backup-restore-state", "restore checkpoint")
OFFSET_MAP = Format("kafka-backup-restore-offsets", "restore offset map")
SEGMENT = Format("kafka-backup-segment", "segment")
FORMATS: tuple[Format, ...] = (BACKUP_MANIFEST, SNAPSHOT, PARTITION_MANIFEST, RESTORE_STATE, OFFSET_MAP, SEGMENT)
"""Every format, as documented in ``docs/format.md``."""


def seal(fmt: Format, body: Mapping[str, Any], *, compact: bool = False) -> bytes:
    """The object's bytes: marker and version first, then ``body`` (sorted keys, or compact one-line JSON)."""
    wrapped = {"format": fmt.marker, "version": fmt.version, **body}
    if compact:
        return json.dumps(wrapped, separators=(",", ":")).encode()
    return json.dumps(wrapped, indent=1, sort_keys=True).encode()


def check_version(fmt: Format, found: object, key: str) -> tuple[int, int]:
    """``(major, minor)`` of a stored ``version`` (``None``: the legacy form, 1.0); refuses an unknown major."""
    if found is None:
        return (1, 0)
    text = str(found)
    parts = text.split(".")
    if (
        isinstance(found, bool)
        or not isinstance(found, int | str)
        or len(parts) > 2
        or not all(p.isdigit() for p in parts)
    ):
        raise CorruptObjectError(f"{key}: {fmt.what} carries an unreadable format version {found!r}", key=key)
    major, minor = int(parts[0]), int(parts[1]) if len(parts) == 2 else 0
    if major != fmt.major:
        raise UnsupportedFormatError(
            f"{key}: {fmt.what} has format version {text}; this kafka-backup reads {fmt.marker} {fmt.understood}",
            key=key,
            found=text,
            understood=fmt.understood,
            hint="it was written by another kafka-backup release: read it with one that supports this version",
        )
    return (major, minor)


def open_json(fmt: Format, data: bytes, key: str) -> dict[str, Any]:
    """The body of a stored JSON object (without ``format`` and ``version``), after the envelope checks."""
    try:
        body = json.loads(data)
    except ValueError as exc:  # also UnicodeDecodeError
        raise CorruptObjectError(f"{key}: {fmt.what} is not valid JSON ({exc})", key=key) from None
    if not isinstance(body, dict):
        raise CorruptObjectError(f"{key}: {fmt.what} is not a JSON object", key=key)
    marker = body.pop("format", None)
    if marker is not None and marker != fmt.marker:
        raise CorruptObjectError(f"{key}: not a kafka-backup {fmt.what} (format {marker!r})", key=key)
    check_version(fmt, body.pop("version", None), key)
    return body


def read_json(fmt: Format, data: bytes, key: str, build: Callable[[dict[str, Any]], T]) -> T:
    """:func:`open_json`, then ``build`` the value from the body; a missing or ill-typed field is corruption."""
    body = open_json(fmt, data, key)
    try:
        return build(body)
    except KeyError as exc:
        # not "KeyError: 'x'": the log redactor reads that as a secret-named pair
        raise CorruptObjectError(f"{key}: {fmt.what} lacks the required field {exc.args[0]!r}", key=key) from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise CorruptObjectError(f"{key}: {fmt.what} does not parse ({type(exc).__name__}: {exc})", key=key) from None


class Stored:
    """A dataclass stored as one JSON object in the envelope of its :attr:`FORMAT`: ``to_json`` seals its fields
    (``asdict``) as the body, ``from_json`` checks marker and version (:func:`read_json`) and builds the object from
    the body with the class's ``_from_body``; :attr:`NAME` is what errors call it when no key is given."""

    FORMAT: ClassVar[Format]
    NAME: ClassVar[str]

    def to_json(self) -> bytes:
        return seal(self.FORMAT, dataclasses.asdict(self))  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, data: bytes, name: str | None = None) -> Self:
        """Parse the stored bytes; ``name`` (its key) is named in every error."""
        return read_json(cls.FORMAT, data, name or cls.NAME, cls._from_body)

    @classmethod
    def _from_body(cls, body: dict[str, Any]) -> Self:
        raise NotImplementedError
