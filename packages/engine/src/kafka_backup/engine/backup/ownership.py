"""Which partitions this worker backs up: the rebalance handler of the backup's Kafka source.

- Assigned: each partition starts at its manifest's ``next_offset`` (a partition no worker backed up before gets
  its first manifest, at the log start), so a run killed at any point re-reads exactly what was not yet committed; a
  log start past that position is a retention gap, recorded at once; a snapshot partition already at its target
  stays paused.
- Revoked: the open segment and every range handed off are committed (and their Kafka offsets, synchronously)
  before the partition is released, so its next owner resumes exactly where this worker stopped. A failure is
  logged; one other than losing the partition to another writer ends the run.
- Lost (not revoked): another worker may already own it; its open segment and pending ranges are dropped without
  committing (the next owner reads them again).
"""

from __future__ import annotations

import time

from kafka_backup.engine.backup.commit import Committer
from kafka_backup.engine.backup.context import RunContext
from kafka_backup.engine.backup.partition import OwnedPartition
from kafka_backup.engine.errors import BackupError, ConcurrentWriterError
from kafka_backup.engine.format.manifest import PartitionManifest, Snapshot
from kafka_backup.engine.kafka.admin import SETTLING_CODES, Cluster
from kafka_backup.engine.kafka.source import KafkaSource

TP = tuple[str, int]


class Ownership:
    """Implements :class:`~kafka_backup.engine.kafka.source.RebalanceHandler` over the run's ``owned`` partitions."""

    def __init__(
        self,
        ctx: RunContext,
        owned: dict[TP, OwnedPartition],
        commits: Committer,
        source: KafkaSource,
        cluster: Cluster,
        *,
        snapshot: Snapshot | None,
        worker: str | None,
    ) -> None:
        self.ctx = ctx
        self.backup_id = ctx.backup_id
        self.owned = owned
        self.commits = commits
        self.source = source
        self.cluster = cluster
        self.snapshot = snapshot
        self.worker = worker
        self.subscribed_at: float | None = None
        self.closing = False
        """Set by the shutdown: revoked partitions keep their last lag and progress for the final report."""
        self.storage_failing = False
        """Set when the run fails on storage: revoked partitions are then not flushed (each flush would retry)."""

    def assigned(self, partitions: list[TP]) -> tuple[dict[TP, int], list[TP]]:
        self.ctx.metrics.backup_consumer_rebalance_total.add(1, self.ctx.labels)
        positions = self._take_ownership(partitions)
        return positions, [p.key for p in self.owned.values() if p.done]

    def _take_ownership(self, tps: list[TP]) -> dict[TP, int]:
        # assigned by the coordinator, so they exist: a leader not serving them yet (a broker restart) is waited for
        log_starts = self.cluster.partition_starts(tps, also=SETTLING_CODES)
        positions: dict[TP, int] = {}
        for tp in tps:
            found = self.ctx.repo.read_partition_manifest_versioned(self.backup_id, *tp)
            manifest = found[0] if found is not None else None
            target = self.snapshot.target(*tp) if self.snapshot else None
            part = OwnedPartition(
                manifest=manifest or PartitionManifest(self.backup_id, tp[0], tp[1], log_starts[tp], log_starts[tp]),
                target=target,
                log=self.ctx.partition_log(tp),
                version=found[1] if found is not None else None,
            )
            self.owned[tp] = part
            if manifest is None:
                self.commits.create_manifest(part)
            else:
                self.commits.record_gap(part, log_starts[tp])
            if target is not None and part.manifest.next_offset >= target:
                part.done = True
            self.ctx.progress.assign(tp, part.manifest.next_offset, target, part.done)
            positions[tp] = part.manifest.next_offset
            part.log.debug("partition_assigned", position=part.manifest.next_offset, target=target)
        self.ctx.summary.partitions = max(self.ctx.summary.partitions, len(self.owned))
        # one line per rebalance at info (one per partition at debug): 23 partitions are not 23 lines of news
        self.ctx.log.info(
            "partitions_assigned",
            worker_id=self.worker,
            waited_s=round(time.monotonic() - self.subscribed_at, 1) if self.subscribed_at else None,
            partitions=len(tps),
            topics=len({tp[0] for tp in tps}),
            resumed=sum(1 for tp in tps if self.owned[tp].manifest.segments),
            done=sum(1 for tp in tps if self.owned[tp].done),
            owned=len(self.owned),
        )
        return positions

    def revoked(self, partitions: list[TP]) -> None:
        with self.commits.offsets.synchronously():
            self._settle_revoked(partitions)

    def _settle_revoked(self, partitions: list[TP]) -> None:
        self.ctx.metrics.backup_consumer_rebalance_total.add(1, self.ctx.labels)
        self.commits.offsets.commit(synchronous=True, only=partitions)
        for tp in partitions:
            part = self.owned.pop(tp, None)
            if part is None:
                continue
            try:
                if part.pending and not self.storage_failing:
                    self.commits.commit(part, part.last_offset + 1)
            except BackupError as exc:
                self.ctx.log.error("flush_on_revoke_failed", topic=tp[0], error=str(exc))
                if not isinstance(exc, ConcurrentWriterError):
                    self.source.fatal = exc
            if not self.closing:
                # the partition moves to another worker, which reports its lag from now on; at shutdown the last
                # lag stays visible (0 when caught up) for the final scrape or export, and the progress its end
                self.ctx.metrics.lag.forget(self.backup_id, *tp)
                self.ctx.progress.release(tp)
            part.log.debug("partition_revoked")
        if partitions:
            self.ctx.log.info("partitions_revoked", partitions=len(partitions), owned=len(self.owned))

    def lost(self, partitions: list[TP]) -> None:
        """Lost (not revoked): another worker may already own them; drop the open segments without committing."""
        for tp in partitions:
            self.owned.pop(tp, None)
            self.commits.offsets.forget(tp)  # its new owner commits from now on
            self.ctx.metrics.lag.forget(self.backup_id, *tp)
            self.ctx.progress.release(tp)
            self.ctx.log.warning("partition_lost", topic=tp[0], partition=tp[1])
