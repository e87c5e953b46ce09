"""The store a drill's restore runs against: the backup for reading, the restore's checkpoints in memory.

Invariant: nothing is written to or removed from the backup storage (read access suffices for a drill); any attempt
outside the checkpoint prefix raises.
"""

from __future__ import annotations

from kafka_backup.engine.errors import StorageNotFoundError
from kafka_backup.engine.store import ObjectInfo, Operation, Store, StoreLayer, Version


class CheckpointOverlay(StoreLayer):
    """The backup store for reading; the drill's restore checkpoints (under ``prefix``) in memory, never on storage."""

    def __init__(self, inner: Store, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix
        self.objects: dict[str, bytes] = {}

    def _ours(self, key: str) -> bool:
        return key.startswith(self.prefix)

    def put(self, key: str, data: bytes, *, operation: Operation) -> None:
        if not self._ours(key):
            raise RuntimeError(f"the drill writes nothing to the backup storage, yet was asked to put {key}")
        self.objects[key] = data

    def get(self, key: str, *, operation: Operation, start: int | None = None, end: int | None = None) -> bytes:
        if not self._ours(key):
            return self.inner.get(key, operation=operation, start=start, end=end)
        if key not in self.objects:
            raise StorageNotFoundError(f"{key} does not exist", key=key)
        return self.objects[key][start:end]

    def get_versioned(self, key: str, *, operation: Operation) -> tuple[bytes, Version] | None:
        if not self._ours(key):
            return self.inner.get_versioned(key, operation=operation)
        raise RuntimeError(f"the drill's restore checkpoints are not versioned, yet {key} was read with its version")

    def put_if(self, key: str, data: bytes, *, operation: Operation, expect: Version | None) -> Version:
        raise RuntimeError(f"the drill makes no conditional writes, yet was asked to write {key} conditionally")

    def stat(self, key: str) -> ObjectInfo | None:
        if not self._ours(key):
            return self.inner.stat(key)
        data = self.objects.get(key)
        return None if data is None else ObjectInfo(key, len(data))

    def list(self, prefix: str) -> list[ObjectInfo]:
        mine = [ObjectInfo(k, len(v)) for k, v in self.objects.items() if k.startswith(prefix)]
        theirs = [] if prefix.startswith(self.prefix) else self.inner.list(prefix)
        return sorted([*theirs, *mine], key=lambda o: o.key)

    def delete(self, key: str) -> None:
        if not self._ours(key):
            raise RuntimeError(f"the drill removes nothing from the backup storage, yet was asked to remove {key}")
        self.objects.pop(key, None)
