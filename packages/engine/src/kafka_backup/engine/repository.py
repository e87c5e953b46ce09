"""The repository: typed reads and writes of every object of a backup over a :class:`~.store.Store`.

The one place that knows where objects live (keys from :mod:`kafka_backup.engine.format.layout`), which storage
``operation`` label each is written and read with, and what a missing object means: every ``read_*`` returns None
for an object that does not exist, and raises for one that exists but cannot be read —
:class:`~kafka_backup.engine.errors.CorruptObjectError` (``BACKUP_CORRUPT``, carrying the key) when it does not parse,
:class:`~kafka_backup.engine.errors.UnsupportedFormatError` when its major version is unknown, a
:class:`~kafka_backup.engine.errors.StorageError` when storage fails. ``require_backup`` is the one read that turns
"missing" into an error (``BACKUP_NOT_FOUND``).

Write order is the callers' invariant, not the repository's: a segment is written before the partition manifest
listing it, the manifest is the commit point (see :mod:`kafka_backup.engine.backup.commit`); an offset map is written
only after every record of its segment was acknowledged (see :mod:`kafka_backup.engine.format.restore_state`). Each
``write_*`` is one atomic ``put``.

Fencing: the objects two workers of one backup may race on, a partition's manifest and ``snapshot.json``, are also
read with their stored version (``read_*_versioned``) and written with a conditional write that expects it
(``commit_partition_manifest``, ``create_snapshot``): the storage service applies the write only if the object is
still at that version (or, expecting None, still absent), else
:class:`~kafka_backup.engine.errors.PreconditionFailedError` and nothing is written (see
:mod:`kafka_backup.engine.store.conditional`).
"""

from __future__ import annotations

from collections.abc import Iterator

from kafka_backup.engine.errors import BackupNotFoundError, StorageNotFoundError
from kafka_backup.engine.format import layout
from kafka_backup.engine.format.manifest import BackupManifest, PartitionManifest, Snapshot
from kafka_backup.engine.format.restore_state import OffsetMap, RestoreState
from kafka_backup.engine.store import Operation, Store, Version


class Repository:
    """Backup manifest, partition manifests, snapshot checkpoint, segments, restore checkpoints and offset maps."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _read(self, key: str, operation: Operation) -> bytes | None:
        try:
            return self.store.get(key, operation=operation)
        except StorageNotFoundError:
            return None

    # ---- backup.json ---------------------------------------------------------------------------------------------

    def has_backup(self, backup_id: str) -> bool:
        """Whether ``backup.json`` exists (one stat; it is not read)."""
        return self.store.stat(layout.backup_key(backup_id)) is not None

    def read_backup(self, backup_id: str) -> BackupManifest | None:
        key = layout.backup_key(backup_id)
        data = self._read(key, "manifest")
        return None if data is None else BackupManifest.from_json(data, key)

    def require_backup(self, backup_id: str) -> BackupManifest:
        """``backup.json``; a missing one is ``BACKUP_NOT_FOUND`` naming the backup and the storage URL."""
        manifest = self.read_backup(backup_id)
        if manifest is None:
            raise BackupNotFoundError(
                f"no backup '{backup_id}' at {self.store.url} ({layout.backup_key(backup_id)} does not exist)",
                hint="check backup_id and storage.url; `kafka-backup list` shows the backups there",
            )
        return manifest

    def write_backup(self, manifest: BackupManifest) -> None:
        self.store.put(layout.backup_key(manifest.backup_id), manifest.to_json(), operation="manifest")

    # ---- snapshot.json -------------------------------------------------------------------------------------------

    def read_snapshot(self, backup_id: str) -> Snapshot | None:
        key = layout.snapshot_key(backup_id)
        data = self._read(key, "checkpoint")
        return None if data is None else Snapshot.from_json(data, key)

    def write_snapshot(self, snapshot: Snapshot) -> None:
        self.store.put(layout.snapshot_key(snapshot.backup_id), snapshot.to_json(), operation="checkpoint")

    def read_snapshot_versioned(self, backup_id: str) -> tuple[Snapshot, Version] | None:
        key = layout.snapshot_key(backup_id)
        found = self.store.get_versioned(key, operation="checkpoint")
        return None if found is None else (Snapshot.from_json(found[0], key), found[1])

    def create_snapshot(self, snapshot: Snapshot, *, expect: Version | None) -> Version:
        """Write the snapshot targets only if ``snapshot.json`` is still at ``expect`` (None: still absent), so every
        worker of a snapshot shares one set of targets. Lost → ``PreconditionFailedError``."""
        key = layout.snapshot_key(snapshot.backup_id)
        return self.store.put_if(key, snapshot.to_json(), operation="checkpoint", expect=expect)

    # ---- partition manifests and segments ------------------------------------------------------------------------

    def read_partition_manifest(self, backup_id: str, topic: str, partition: int) -> PartitionManifest | None:
        key = layout.manifest_key(backup_id, topic, partition)
        data = self._read(key, "manifest")
        return None if data is None else PartitionManifest.from_json(data, key)

    def write_partition_manifest(self, manifest: PartitionManifest) -> None:
        """The commit point of every segment it lists (write those first)."""
        key = layout.manifest_key(manifest.backup_id, manifest.topic, manifest.partition)
        self.store.put(key, manifest.to_json(), operation="manifest")

    def read_partition_manifest_versioned(
        self, backup_id: str, topic: str, partition: int
    ) -> tuple[PartitionManifest, Version] | None:
        """The manifest and the stored version those bytes are, read together (None: no manifest yet)."""
        key = layout.manifest_key(backup_id, topic, partition)
        found = self.store.get_versioned(key, operation="manifest")
        return None if found is None else (PartitionManifest.from_json(found[0], key), found[1])

    def commit_partition_manifest(self, manifest: PartitionManifest, *, expect: Version | None) -> Version:
        """The fenced commit point: replace the manifest only if it is still at version ``expect`` (None: create it
        only if none exists); returns the new version. Lost → ``PreconditionFailedError``, nothing written."""
        key = layout.manifest_key(manifest.backup_id, manifest.topic, manifest.partition)
        return self.store.put_if(key, manifest.to_json(), operation="manifest", expect=expect)

    def write_segment(self, key: str, data: bytes) -> None:
        """A segment object (its key from :func:`~kafka_backup.engine.format.layout.segment_key`)."""
        self.store.put(key, data, operation="segment")

    def read_segment(self, key: str, *, start: int | None = None, end: int | None = None) -> bytes:
        """A segment's bytes (or ``[start, end)`` of them). A segment a manifest lists must exist: a missing one is
        the store's ``StorageNotFoundError``, which callers report as their own defect."""
        return self.store.get(key, operation="segment", start=start, end=end)

    # ---- restores ------------------------------------------------------------------------------------------------

    def read_restore_state(self, backup_id: str, restore_id: str) -> RestoreState | None:
        key = layout.state_key(backup_id, restore_id)
        data = self._read(key, "checkpoint")
        return None if data is None else RestoreState.from_json(data, key)

    def restore_states(self, backup_id: str) -> list[RestoreState]:
        """Every restore checkpoint of the backup, oldest first."""
        out = []
        for info in self.store.list(layout.restores_prefix(backup_id)):
            if layout.is_state_key(backup_id, info.key):
                data = self._read(info.key, "checkpoint")
                if data is not None:  # deleted since the listing
                    out.append(RestoreState.from_json(data, info.key))
        return sorted(out, key=lambda s: s.created_at)

    def write_restore_state(self, state: RestoreState) -> None:
        self.store.put(layout.state_key(state.backup_id, state.restore_id), state.to_json(), operation="checkpoint")

    def mapped_segments(self, backup_id: str, restore_id: str) -> set[tuple[str, int, int]]:
        """``(source topic, source partition, segment start)`` of every segment the restore wrote an offset map for
        (one listing): the segments proven restored."""
        listed = self.store.list(layout.offsets_prefix(backup_id, restore_id))
        found = (layout.parse_offset_map_key(backup_id, restore_id, info.key) for info in listed)
        return {where for where in found if where is not None}

    def read_offset_map(
        self, backup_id: str, restore_id: str, topic: str, partition: int, segment_start: int
    ) -> OffsetMap | None:
        key = layout.offset_map_key(backup_id, restore_id, topic, partition, segment_start)
        data = self._read(key, "checkpoint")
        return None if data is None else OffsetMap.from_json(data, key)

    def offset_maps(self, backup_id: str, restore_id: str) -> Iterator[OffsetMap]:
        """Every offset map of the restore, in key order (source topic, partition, segment start)."""
        for info in self.store.list(layout.offsets_prefix(backup_id, restore_id)):
            data = self._read(info.key, "checkpoint")
            if data is not None:
                yield OffsetMap.from_json(data, info.key)

    def write_offset_map(self, backup_id: str, restore_id: str, omap: OffsetMap) -> None:
        """Proof that the segment starting at ``omap.segment_start`` is restored: write it only after every one of
        its records was acknowledged."""
        key = layout.offset_map_key(backup_id, restore_id, omap.source_topic, omap.source_partition, omap.segment_start)
        self.store.put(key, omap.to_json(), operation="checkpoint")
