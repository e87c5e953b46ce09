"""The storage contract: a narrow interface every backend implements and every layer wraps.

Objects are immutable blobs addressed by a key relative to the store's root URL (``/``-separated). ``put`` is
atomic: a reader sees either the previous object (or none) or the complete new one, never a partial write. That
property is what the commit protocol (see :mod:`kafka_backup.engine.backup.commit`) builds on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Operation = Literal["segment", "manifest", "checkpoint"]
"""What an object is, for the storage latency metrics' ``operation`` label."""

Backend = Literal["filesystem", "s3", "gcs", "azure", "memory"]


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


@runtime_checkable
class Store(Protocol):
    """Save, load (optionally a byte range), stat, list, remove. Errors are :class:`~..errors.StorageError`."""

    @property
    def backend(self) -> Backend: ...

    @property
    def url(self) -> str:
        """The root URL, without credentials."""
        ...

    def put(self, key: str, data: bytes, *, operation: Operation) -> None:
        """Write the whole object atomically, replacing any previous one."""
        ...

    def get(self, key: str, *, operation: Operation, start: int | None = None, end: int | None = None) -> bytes:
        """Read the object, or bytes ``[start, end)`` of it. Missing → StorageNotFoundError."""
        ...

    def stat(self, key: str) -> ObjectInfo | None:
        """Size of the object, or None when it does not exist."""
        ...

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (recursively), sorted by key."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""
        ...
