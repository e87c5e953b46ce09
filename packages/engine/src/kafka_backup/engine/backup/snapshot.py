"""The backup job's own records: ``backup.json`` (what is backed up, and whether the job ran, stopped or completed)
and, in snapshot mode, the snapshot targets (each partition's end offset when the snapshot started).

- ``backup.json`` is written ``running`` when a worker starts; ``complete`` once every snapshot partition reached its
  target; ``stopped`` when a continuous run stopped cleanly and no other worker of the backup is still in the group.
  A worker that dies leaves ``running``, so a crash is never mistaken for a clean stop.
- The snapshot targets are written once, by the first worker, with a conditional create (or a conditional replace
  of a finished or different snapshot): of two workers starting at the same instant one writes them and the other
  reads and uses them, so every worker of a snapshot shares one set of targets. A worker restarted later resumes the
  same snapshot (same topics, still ``running``), so a crash never moves the end of a snapshot.
- ``backup.json`` is last-writer-wins: every worker writes the same description of the job.
- Every worker of a snapshot stops only when every partition reached its target according to storage (its own in
  memory), so the survivors finish a dead worker's partitions.
"""

from __future__ import annotations

import time
from dataclasses import replace

from kafka_backup.engine.backup.context import RunContext
from kafka_backup.engine.backup.partition import OwnedPartition
from kafka_backup.engine.errors import KafkaOperationError, PreconditionFailedError
from kafka_backup.engine.format.manifest import BackupManifest, Snapshot, now_ms
from kafka_backup.engine.kafka.admin import Cluster

TP = tuple[str, int]


def write_backup_manifest(ctx: RunContext, cluster: Cluster, topics: list[str]) -> BackupManifest:
    cfg = ctx.config
    groups: dict[str, dict[str, dict[str, int]]] = {}
    if cfg.consumer_groups.capture:
        exclude = [*cfg.consumer_groups.exclude, "kafka-backup.*"]
        groups = cluster.group_offsets(topics, cfg.consumer_groups.include, exclude)
    existing = ctx.repo.read_backup(ctx.backup_id)
    manifest = BackupManifest(
        backup_id=ctx.backup_id,
        created_at=existing.created_at if existing else now_ms(),
        updated_at=now_ms(),
        topics=cluster.describe_topics(topics),
        consumer_groups=groups,
        compression=cfg.compression.codec,
        status="running",
        source_cluster_id=cluster.cluster_id(),
        mode=cfg.mode,
    )
    ctx.repo.write_backup(manifest)
    return manifest


def load_or_start_snapshot(ctx: RunContext, cluster: Cluster, topics: list[str]) -> Snapshot:
    found = ctx.repo.read_snapshot_versioned(ctx.backup_id)
    existing = found[0] if found is not None else None
    if existing is not None and existing.status == "running" and sorted(existing.targets) == topics:
        ctx.log.info("snapshot_resumed", started_at=existing.started_at)
        return existing
    counts = cluster.topic_partitions()
    tps = [(t, p) for t in topics for p in range(counts[t])]
    ends = cluster.partition_ends(tps, read_committed=ctx.config.isolation == "read_committed")
    targets: dict[str, dict[str, int]] = {}
    for (topic, partition), end in ends.items():
        targets.setdefault(topic, {})[str(partition)] = end
    snapshot = Snapshot(ctx.backup_id, now_ms(), targets)
    try:
        ctx.repo.create_snapshot(snapshot, expect=found[1] if found is not None else None)
    except PreconditionFailedError:
        # another worker started the snapshot at the same moment: all workers must share one set of targets
        ctx.log.info("snapshot_started_by_another_worker")
        return load_or_start_snapshot(ctx, cluster, topics)
    return snapshot


class SnapshotWatch:
    """Whether every partition of the snapshot reached its target: own partitions in memory, others on storage
    (read at most once a second unless forced; a partition seen complete is not read again)."""

    def __init__(self, ctx: RunContext, snapshot: Snapshot) -> None:
        self.ctx = ctx
        self.snapshot = snapshot
        self._complete_remote: set[TP] = set()
        self._last_remote_check = 0.0

    def complete(self, owned: dict[TP, OwnedPartition], force_check: bool = False) -> bool:
        pending = [tp for tp in self.snapshot.partitions() if tp not in self._complete_remote]
        mine = [tp for tp in pending if tp in owned]
        if any(not owned[tp].done for tp in mine):
            return False
        others = [tp for tp in pending if tp not in owned]
        if not others:
            return True
        now = time.monotonic()
        if not force_check and now - self._last_remote_check < 1.0:
            return False
        self._last_remote_check = now
        for tp in others:
            manifest = self.ctx.repo.read_partition_manifest(self.ctx.backup_id, *tp)
            target = self.snapshot.target(*tp)
            if manifest is None or target is None or manifest.next_offset < target:
                return False
            self._complete_remote.add(tp)
        return True


def finish_snapshot(ctx: RunContext, snapshot: Snapshot, manifest: BackupManifest) -> None:
    ctx.repo.write_snapshot(replace(snapshot, status="complete"))
    ctx.repo.write_backup(replace(manifest, status="complete", completed_at=now_ms(), updated_at=now_ms()))
    ctx.log.info("snapshot_complete")


def finish_continuous(ctx: RunContext, cluster: Cluster, manifest: BackupManifest, instance_id: str | None) -> None:
    """A continuous run stopped cleanly: every record it read is committed. ``backup.json`` says ``stopped``
    unless another worker of the backup is still in the group (it writes ``stopped`` when it stops; a worker
    that dies leaves ``running``, so a crash is never mistaken for a clean stop)."""
    try:
        members = cluster.group_instance_ids(f"kafka-backup.{ctx.backup_id}")
    except KafkaOperationError as exc:
        ctx.log.warning("backup_state_not_written", state="stopped", error=str(exc))
        return
    # a static member stays in the group after a clean close, until its session expires: this worker is not
    # "another worker"
    others = [m for m in members if instance_id is None or m != instance_id]
    if others:
        ctx.log.info("backup_state_left_running", other_workers=len(others))
        return
    stopped = now_ms()
    manifest = replace(manifest, status="stopped", stopped_at=stopped, updated_at=stopped)
    ctx.repo.write_backup(manifest)
    ctx.log.info("backup_stopped_cleanly")
