"""Reading a backup's manifests from storage: the backup manifest (missing: BACKUP_NOT_FOUND) and partition manifests
(missing: None). Shared by restore, drill and the CLI, so none of them imports another's orchestrator."""

from __future__ import annotations

from kafka_backup.engine.errors import BackupNotFoundError, StorageNotFoundError
from kafka_backup.engine.format.manifest import BackupManifest, PartitionManifest, backup_key, manifest_key
from kafka_backup.engine.store import Store


def read_backup_manifest(store: Store, backup_id: str) -> BackupManifest:
    key = backup_key(backup_id)
    try:
        data = store.get(key, operation="manifest")
    except StorageNotFoundError:
        raise BackupNotFoundError(
            f"no backup '{backup_id}' at {store.url} ({key} does not exist)",
            hint="check backup_id and storage.url; `kafka-backup list` shows the backups there",
        ) from None
    return BackupManifest.from_json(data, key)


def read_partition_manifest(store: Store, backup_id: str, topic: str, partition: int) -> PartitionManifest | None:
    key = manifest_key(backup_id, topic, partition)
    try:
        return PartitionManifest.from_json(store.get(key, operation="manifest"), key)
    except StorageNotFoundError:
        return None


__all__ = ["read_backup_manifest", "read_partition_manifest"]
