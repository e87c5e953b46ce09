"""Backup: Kafka partitions → Parquet segments on storage, committed through the partition manifests.

:class:`BackupRun` is the orchestrator of one worker's run; the stages it wires live beside it:

- :mod:`~kafka_backup.engine.kafka.source`: the consumer (the backup's group, rebalances, errors as data);
- :mod:`.ownership`: what happens when partitions are assigned, revoked or lost (resume at the manifest position);
- :mod:`.ingest`: batches into open segments, snapshot targets, retention gaps;
- :mod:`.commit`: the commit protocol (segment stored → manifest replaced, the fenced commit point → Kafka offset),
  its write order and what a crash at each point leaves behind;
- :mod:`.snapshot`: ``backup.json`` and the snapshot targets.

The run: select the topics, write ``backup.json`` (``running``), load or start the snapshot, claim the worker id,
subscribe, then loop (consume, ingest, commit what is encoded, cut aged segments, lag, offsets, progress) until
stopped or, in snapshot mode, until every partition of the snapshot reached its target. The shutdown flushes and
commits every open segment (bounded by ``shutdown_timeout_s``; skipped when storage is failing), commits the final
Kafka offsets and closes the consumer. Then a snapshot that is complete is recorded ``complete``; a continuous run
that committed everything it read is recorded ``stopped`` (unless another worker is still running).

Scale-out: workers with the same ``backup_id`` join the consumer group ``kafka-backup.<backup_id>`` with
cooperative-sticky assignment, each as a static member (``group.instance.id``, see :mod:`worker_id`), so a worker
restarted after a crash takes its partitions back without waiting for its old session to expire.

Context is bound once: every event of the run carries ``backup_id`` from the run's logger (and partition events
``topic``/``partition`` from the partition's), all under this module's logger name.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace

from kafka_backup.engine.backup.commit import RETENTION_GAP, Committer
from kafka_backup.engine.backup.context import RunContext
from kafka_backup.engine.backup.ingest import Ingest
from kafka_backup.engine.backup.ownership import Ownership
from kafka_backup.engine.backup.partition import OwnedPartition
from kafka_backup.engine.backup.progress import BackupProgress, ProgressTracker
from kafka_backup.engine.backup.snapshot import (
    SnapshotWatch,
    finish_continuous,
    finish_snapshot,
    load_or_start_snapshot,
    write_backup_manifest,
)
from kafka_backup.engine.backup.summary import BackupSummary, summary_json
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.errors import BackupError, StorageError
from kafka_backup.engine.format.manifest import BackupManifest, Snapshot
from kafka_backup.engine.gcpace import GcPacer
from kafka_backup.engine.kafka.admin import Cluster
from kafka_backup.engine.kafka.outage import run_guard
from kafka_backup.engine.kafka.source import KafkaSource
from kafka_backup.engine.kafka.worker_id import WorkerId, claim_worker_id
from kafka_backup.engine.store import Store
from kafka_backup.telemetry.baseline import zero_errors
from kafka_backup.telemetry.catalog import Metrics

__all__ = ["BackupRun", "BackupSummary", "run_backup", "summary_json"]

_tracer = trace.get_tracer("kafka_backup.engine.backup.run")

TP = tuple[str, int]
WAIT_NOTICE_S = 2.0
"""After this long subscribed without an assignment, say what the worker waits for (once)."""


@dataclass(frozen=True)
class _Stages:
    """The parts of a run that exist once it is subscribed (built by :meth:`BackupRun._run`)."""

    cluster: Cluster
    source: KafkaSource
    commits: Committer
    ownership: Ownership
    ingest: Ingest
    watch: SnapshotWatch | None


class BackupRun:
    """One worker's run of a backup job. Not thread-safe: everything happens on the consuming thread."""

    def __init__(
        self,
        config: BackupConfig,
        *,
        metrics: Metrics | None = None,
        store: Store | None = None,
        stop: threading.Event | None = None,
        stats_cb: Callable[[str], None] | None = None,
        kafka_logger: logging.Logger | None = None,
        on_progress: Callable[[BackupProgress], None] | None = None,
    ) -> None:
        self.config = config
        self.backup_id = config.backup_id
        self.metrics = metrics or Metrics()
        self.store = store or config.storage.open(metrics=self.metrics, backup_id=self.backup_id)
        self.stop = stop or threading.Event()
        self.stats_cb = stats_cb
        self.kafka_logger = kafka_logger
        self.summary = BackupSummary(backup_id=self.backup_id, codec=config.compression.codec)
        self.guard = run_guard(config.source, "source", self.metrics, backup_id=self.backup_id, stop=self.stop)
        """Rides out broker restarts and stalls: shared by the admin calls and the consumer (one outage, one log)."""
        self.progress = ProgressTracker(on_progress, snapshot=config.mode == "snapshot")
        self.ctx = RunContext(config, self.store, self.metrics, __name__, self.summary, self.progress)
        self.log = self.ctx.log
        self.owned: dict[TP, OwnedPartition] = {}
        self.snapshot: Snapshot | None = None
        self.source: KafkaSource | None = None
        """The Kafka source, once its consumer exists (the CLI's readiness check looks at it)."""
        self.worker_id: WorkerId | None = None
        self._labels = self.ctx.labels
        self._started_at = time.monotonic()
        self._last_lag_update = 0.0
        self._polls = 0
        self._said_waiting = False

    # ---- the run ------------------------------------------------------------------------------------------------

    def run(self) -> BackupSummary:
        started = self._started_at = time.monotonic()
        status = "failure"
        error_types = (*BackupError.codes(), RETENTION_GAP)
        zero_errors(self.metrics, backup_id=self.backup_id, operation="backup", error_types=error_types)
        with _tracer.start_as_current_span("backup", attributes={"backup_id": self.backup_id}):
            try:
                snapshot_finished = self._run()
                status = "stopped" if self.snapshot is not None and not snapshot_finished else "success"
            except BackupError as exc:
                self.metrics.backup_errors_total.add(1, {**self._labels, "operation": "backup", "error_type": exc.code})
                raise
            finally:
                self.guard.close()
                ended = time.monotonic()
                self.summary.duration_s = ended - started
                if self.progress.started_at is not None:
                    self.summary.working_s = ended - self.progress.started_at
                self.summary.status = status
                self.progress.report(force=True)
                self.metrics.backup_duration_seconds.record(self.summary.duration_s, {**self._labels, "status": status})
                if status == "success":
                    self.metrics.backup_last_success_timestamp_seconds.set(time.time(), self._labels)
        return self.summary

    def _run(self) -> bool:
        """The run up to its end; returns whether it recorded a snapshot complete (a snapshot run that ends without
        it, SIGTERM before the end, is ``stopped``, not a success)."""
        cfg = self.config
        cluster = Cluster(cfg.source, {"logger": self.kafka_logger} if self.kafka_logger else None, guard=self.guard)
        selection = cluster.select_topics(cfg.topics.include, cfg.topics.exclude, cfg.topics.include_internal)
        for pattern in selection.unmatched_patterns:
            self.log.warning("topic_pattern_matched_nothing", pattern=pattern)
        topics = selection.topics
        self.summary.topics = topics
        manifest = write_backup_manifest(self.ctx, cluster, topics)
        if cfg.mode == "snapshot":
            self.snapshot = load_or_start_snapshot(self.ctx, cluster, topics)
            self.log.info(
                "snapshot_targets",
                partitions=len(self.snapshot.partitions()),
                records_upper_bound=sum(sum(p.values()) for p in self.snapshot.targets.values()),
            )
        worker_id = self.worker_id = claim_worker_id(self.backup_id, cfg.worker_id)
        try:
            source = self.source = KafkaSource(
                cfg,
                guard=self.guard,
                log=self.log,
                instance_id=worker_id.instance_id(selection.partition_counts),
                worker=worker_id.value,
                stats_cb=self.stats_cb,
                kafka_logger=self.kafka_logger,
                partitions=sum(selection.partition_counts.values()),
            )
            stages = self._stages(cluster, source, worker_id)
            try:
                source.subscribe(topics, stages.ownership)
                stages.ownership.subscribed_at = time.monotonic()
                self._loop(stages)
            finally:
                all_committed = self._shutdown(stages)
        finally:
            worker_id.release()
        return self._finish(stages, manifest, all_committed)

    def _stages(self, cluster: Cluster, source: KafkaSource, worker_id: WorkerId) -> _Stages:
        commits = Committer(self.ctx, self.owned, source, started_at=self._started_at)
        ownership = Ownership(
            self.ctx, self.owned, commits, source, cluster, snapshot=self.snapshot, worker=worker_id.value
        )
        ingest = Ingest(self.ctx, self.owned, commits, source, cluster)
        watch = SnapshotWatch(self.ctx, self.snapshot) if self.snapshot is not None else None
        return _Stages(cluster, source, commits, ownership, ingest, watch)

    def _finish(self, stages: _Stages, manifest: BackupManifest, all_committed: bool) -> bool:
        if self.snapshot is not None and stages.watch is not None:
            if stages.watch.complete(self.owned, force_check=True):
                finish_snapshot(self.ctx, self.snapshot, manifest)
                return True
        elif all_committed:
            finish_continuous(self.ctx, stages.cluster, manifest, stages.source.instance_id)
        return False

    def _loop(self, stages: _Stages) -> None:
        with GcPacer() as gc_pacer:
            self._loop_paced(stages, gc_pacer)

    def _loop_paced(self, stages: _Stages, gc_pacer: GcPacer) -> None:
        source, commits = stages.source, stages.commits
        max_age = self.config.segment.max_age_s
        while not self.stop.is_set():
            gc_pacer.tick()
            if source.fatal is not None:
                raise source.fatal
            batch = source.consume()
            self._polls += 1
            if batch:
                stages.ingest.ingest(batch)
            if self.guard.in_outage:
                # librdkafka reconnects and refetches by itself: records arriving end the outage; without any, the
                # cluster is probed when the next attempt is due (KAFKA_UNAVAILABLE once past the tolerance)
                if batch.records:
                    self.guard.succeeded()
                else:
                    stages.cluster.probe()
            commits.reap()
            now = time.monotonic()
            for part in list(self.owned.values()):
                if part.chunks and now - part.opened_at >= max_age:
                    commits.commit(part, part.last_offset + 1)
            if now - self._last_lag_update >= self.config.metrics.update_interval_ms / 1000:
                self._update_lag(source)
                rate = self._polls / max(1e-3, now - self._last_lag_update) if self._last_lag_update else 0.0
                self.metrics.backup_fetch_rate.set(rate, self._labels)
                self._polls = 0
                self._last_lag_update = now
            if commits.offsets.due(now):
                commits.offsets.commit(synchronous=False)
            if not self.owned:
                self._note_waiting(now, stages.ownership.subscribed_at)
            self.progress.report()
            if stages.watch is not None and stages.watch.complete(self.owned):
                self.progress.report(force=True)  # the end, before the shutdown's log lines
                return

    def _note_waiting(self, now: float, subscribed_at: float | None) -> None:
        """Say once what a worker without partitions waits for, instead of sitting silent."""
        if self._said_waiting or self.progress.started_at is not None or subscribed_at is None:
            return
        waited = now - subscribed_at
        if waited < WAIT_NOTICE_S:
            return
        self._said_waiting = True
        self.log.info(
            "waiting_for_partitions",
            group=f"kafka-backup.{self.backup_id}",
            worker_id=self.worker_id.value if self.worker_id else None,
            waited_s=round(waited, 1),
            session_timeout_s=self.config.session_timeout_ms / 1000,
            reason="the group is rebalancing: a worker that left without leaving the group (a crash) holds its "
            "partitions until its session times out; one restarted with the same worker_id takes them back at once",
        )

    # ---- metrics and shutdown -----------------------------------------------------------------------------------

    def _update_lag(self, source: KafkaSource) -> None:
        """Per partition, once per update interval: end offset (cached watermark) minus the next offset to back up."""
        behind = 0
        for tp, part in self.owned.items():
            high = source.high_watermark(tp)
            if high is None:
                continue
            next_offset = part.last_offset + 1 if part.chunks else part.manifest.next_offset
            if part.target is not None:
                high = min(high, part.target) if part.done else high
            behind += max(0, high - max(next_offset, part.manifest.next_offset))
            self.metrics.lag.update(
                self.backup_id,
                tp[0],
                tp[1],
                high,
                max(next_offset, part.manifest.next_offset),
                last_record_timestamp_ms=part.last_timestamp,
                avg_record_bytes=part.avg_record_bytes,
            )
        if self.owned:
            self.progress.set_lag(behind)

    def _shutdown(self, stages: _Stages) -> bool:
        """Flush and commit every open segment, then close the consumer (bounded by ``shutdown_timeout_s``); returns
        whether every record read is committed (a clean stop). A static member does not leave the group on close:
        its partitions stay its own for ``session_timeout_ms``, for the same worker to take back at once."""
        deadline = time.monotonic() + self.config.shutdown_timeout_s
        ownership, commits = stages.ownership, stages.commits
        ownership.closing = True
        ownership.storage_failing = isinstance(sys.exc_info()[1], StorageError)
        with commits.offsets.synchronously():
            self._update_lag(stages.source)
            stages.source.stop_fetching()
            clean = sys.exc_info()[1] is None
            for part in list(self.owned.values()):
                if ownership.storage_failing or time.monotonic() >= deadline:
                    clean = False
                    self.log.warning(
                        "open_segments_not_flushed",
                        reason="storage failing" if ownership.storage_failing else "shutdown timeout",
                        note="nothing is lost: the next run re-reads them from the manifest position",
                    )
                    break
                if part.pending:
                    try:
                        commits.commit(part, part.last_offset + 1)
                    except BackupError as exc:
                        clean = False
                        self.log.error("flush_on_shutdown_failed", topic=part.key[0], error=str(exc))
                        ownership.storage_failing = isinstance(exc, StorageError)
            commits.close()
            commits.offsets.commit(synchronous=True)
            stages.source.final_stats()
            stages.source.close(max(1.0, deadline - time.monotonic()))
        self.owned.clear()
        return clean


def run_backup(config: BackupConfig, **kwargs: Any) -> BackupSummary:
    """Back up what ``config`` selects; returns the summary. Library entry point of ``kafka-backup backup``."""
    return BackupRun(config, **kwargs).run()
