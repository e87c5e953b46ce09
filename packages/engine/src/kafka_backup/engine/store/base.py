"""The storage contract: a narrow interface every backend implements and every layer wraps.

Objects are immutable blobs addressed by a key relative to the store's root URL (``/``-separated). ``put`` is
atomic: a reader sees either the previous object (or none) or the complete new one, never a partial write. That
property is what the commit protocol (see :mod:`kafka_backup.engine.backup.commit`) builds on.

Conditional writes (``get_versioned`` + ``put_if``) are what makes a fence hold under a race: ``put_if`` replaces
the object only if it is still at the version the caller read (or, with ``expect=None``, only if it does not exist),
decided by the storage service itself in the same request, so of two writers that read the same version exactly one
succeeds and the other gets :class:`~kafka_backup.engine.errors.PreconditionFailedError`. What each backend uses
(S3 ``If-Match``/``If-None-Match``, GCS ``ifGenerationMatch``, Azure ETag conditions, a folder lock for local files)
is described in :mod:`kafka_backup.engine.store.conditional` and ``docs/storage.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NewType, Protocol, runtime_checkable

Operation = Literal["segment", "manifest", "checkpoint"]
"""What an object is, for the storage latency metrics' ``operation`` label."""

Backend = Literal["filesystem", "s3", "gcs", "azure", "memory"]


Version = NewType("Version", str)
"""An opaque token naming one stored state of an object: the ETag (S3, Azure), the generation (GCS), or a token
from the file's inode, modification time and content hash (local files). Only equality means anything."""


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

    def get_versioned(self, key: str, *, operation: Operation) -> tuple[bytes, Version] | None:
        """The whole object and the version those bytes are, read together; None when it does not exist."""
        ...

    def put_if(self, key: str, data: bytes, *, operation: Operation, expect: Version | None) -> Version:
        """Write the whole object atomically, only if it is still at version ``expect`` (``None``: only if it does not
        exist); return the new version. Otherwise → PreconditionFailedError, and the object is left as it was."""
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


class StoreLayer:
    """A store that wraps another (retries, telemetry, a drill's overlay, a test's recorder): its backend and URL
    are the wrapped store's, :attr:`inner`."""

    inner: Store

    @property
    def backend(self) -> Backend:
        return self.inner.backend

    @property
    def url(self) -> str:
        return self.inner.url


class RootedStore:
    """A store implementation rooted at a folder or bucket path: its backend, root URL and the path of a key."""

    _backend: Backend
    _url: str
    _root: str

    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def url(self) -> str:
        return self._url

    def _path(self, key: str) -> str:
        return f"{self._root}/{key}" if key else self._root
