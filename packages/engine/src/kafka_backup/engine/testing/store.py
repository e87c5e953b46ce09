"""A real store that remembers every call made to it, in order: for tests of what the engine does to storage
(prune deletes manifests before data, a restore reads only the segments it needs, a dry run writes nothing)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from kafka_backup.engine.store import ObjectInfo, Operation, Store, StoreLayer, Version


@dataclass(frozen=True)
class StoreCall:
    """One call: ``method`` is put, get, stat, list or delete; ``key`` the key or list prefix. A conditional write
    (``put_if``) is recorded as a ``put`` and a versioned read as a ``get``: what the engine wrote and read."""

    method: str
    key: str


class RecordingStore(StoreLayer):
    """Wraps a real :class:`~kafka_backup.engine.store.Store`; every call goes through to it and is appended to
    :attr:`calls` (thread-safe: the backup's encoder thread stores segments)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: list[StoreCall] = []
        self._lock = threading.Lock()

    def _note(self, method: str, key: str) -> None:
        with self._lock:
            self.calls.append(StoreCall(method, key))

    def keys(self, method: str) -> list[str]:
        """The keys of every call of ``method``, in call order."""
        with self._lock:
            return [c.key for c in self.calls if c.method == method]

    @property
    def deleted(self) -> list[str]:
        return self.keys("delete")

    @property
    def written(self) -> list[str]:
        return self.keys("put")

    def put(self, key: str, data: bytes, *, operation: Operation) -> None:
        self._note("put", key)
        self.inner.put(key, data, operation=operation)

    def get(self, key: str, *, operation: Operation, start: int | None = None, end: int | None = None) -> bytes:
        self._note("get", key)
        return self.inner.get(key, operation=operation, start=start, end=end)

    def get_versioned(self, key: str, *, operation: Operation) -> tuple[bytes, Version] | None:
        self._note("get", key)
        return self.inner.get_versioned(key, operation=operation)

    def put_if(self, key: str, data: bytes, *, operation: Operation, expect: Version | None) -> Version:
        self._note("put", key)
        return self.inner.put_if(key, data, operation=operation, expect=expect)

    def stat(self, key: str) -> ObjectInfo | None:
        self._note("stat", key)
        return self.inner.stat(key)

    def list(self, prefix: str) -> list[ObjectInfo]:
        self._note("list", prefix)
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self._note("delete", key)
        self.inner.delete(key)
