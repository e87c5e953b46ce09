"""Restore: manifests → segments (verified) → selection → target partitions → idempotent producer → Kafka.

The orchestrator: :class:`RestoreRun` runs the phases in the order that keeps the guarantees below; each phase
lives in its own module: the plan (values: :mod:`.plan`; built from the manifests alone: :mod:`.planner`,
:mod:`.selection`), the pre-flight checks (:mod:`.preflight`), the target's preparation (:mod:`.target`), the
checkpoint and resuming (:mod:`.resume`), the produce loop (:mod:`.produce`), counts and summary
(:mod:`.progress`), consumer-group offsets (:mod:`.offsets`). Kafka is reached only through
:mod:`kafka_backup.engine.kafka` (no librdkafka type in this package).

Order and resume:

1. Every target partition receives a deterministic stream: the selected records destined to it, in source
   (topic, partition) order, then offset order. Source partitions that share no target partition are independent
   chains, interleaved one segment at a time; within a chain segments are produced strictly in order.
2. Verify before writing. Before anything is written (no topic created, no checkpoint, no record), every selected
   segment not yet restored is checked to exist with its manifest size (:func:`check_segments`: one stat each, in
   parallel), and a new restore applies ``existing_data`` to target partitions that already hold records (refuse,
   append after them, or delete them with delete-records). Each segment's SHA-256 is verified when it is read, by
   the prefetching reader too, before any of its records is produced. A segment whose bytes are corrupt but whose
   size is right is found only then: the segments produced before it are flushed and mapped before the error is
   raised, so a rerun after the repair resumes after them. ``verify_first`` moves every checksum check before the
   first write (at the cost of reading the data twice).
3. Before the first record is produced, ``state.json`` records each target partition's end offset (``starts``) and
   whether it was empty. Nothing is produced before that checkpoint exists.
4. After every ``flush_records`` records the producer is flushed; then, in production order, each finished
   segment's offset map is written. A map's presence proves its segment was fully acknowledged.
5. A rerun (same restore id) reads ``state.json``, treats the chain prefix of mapped segments as done, and for a
   partition that was empty at the start counts the records already in it (``end - start``: offsets of a
   non-transactional producer are contiguous, so compaction or retention on the target cannot change this count)
   and skips exactly that many records of its stream before producing again. The restored data of such a
   partition ends up exactly equal to the selection. A partition that held data at the start cannot tell our
   records from others': it resumes after the last mapped segment (at-least-once).

6. A producer that stops making progress (no delivery report for ``NO_PROGRESS_S`` while records wait) is replaced
   within the run the way a rerun would resume: it is abandoned, the end offsets are read (until two reads agree),
   and the segments since the last checkpoint are produced again through a new producer, skipping what the target
   already holds of them. Retries count in ``kafka_backup_retries_total{operation="produce",reason="producer_stuck"}``.

The guarantee assumes nobody else writes to the target partitions during the restore. End offsets are read until
two reads agree, so records of the crashed run still in flight are counted once they are committed.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import structlog
from opentelemetry import trace

from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.errors import BackupError, RestoreStateError
from kafka_backup.engine.format.restore_state import RestoreState
from kafka_backup.engine.kafka.admin import Cluster
from kafka_backup.engine.kafka.outage import run_guard
from kafka_backup.engine.kafka.sink import NO_PROGRESS_S, Sink
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.restore.offsets import execute_reset, plan_reset
from kafka_backup.engine.restore.plan import TP, RestorePlan, chains
from kafka_backup.engine.restore.planner import build_plan, refine_estimates, target_occupancy
from kafka_backup.engine.restore.preflight import check_segments, verify_checksums
from kafka_backup.engine.restore.produce import SegmentProducer, production_order
from kafka_backup.engine.restore.progress import Progress, RestoreSummary, RestoreTracker
from kafka_backup.engine.restore.resume import (
    complete_state,
    drop_mapped_prefix,
    read_state,
    resume_positions,
    stable_ends,
    start_state,
    unmapped_segments,
    written_since,
)
from kafka_backup.engine.restore.selection import check_selection
from kafka_backup.engine.restore.target import apply_existing_data, create_topics
from kafka_backup.engine.store import Store
from kafka_backup.telemetry.baseline import zero_errors
from kafka_backup.telemetry.catalog import Metrics

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("kafka_backup.engine.restore.run")


class RestoreRun:
    """One restore run. Not thread-safe."""

    def __init__(
        self,
        config: RestoreConfig,
        *,
        metrics: Metrics | None = None,
        store: Store | None = None,
        stop: threading.Event | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        client_extra: Mapping[str, Any] | None = None,
        final_client_stats: bool | None = None,
        no_progress_s: float = NO_PROGRESS_S,
    ) -> None:
        """``client_extra``: librdkafka settings for this run's clients (``stats_cb``, ``logger``) from the CLI.

        ``final_client_stats``: before closing the producer, wait (one ``statistics.interval.ms`` at most) for a last
        statistics report, so the client families include the final records; the CLI asks for it when the run's
        metrics are read after it (metrics file, endpoint, OTLP). Default: whenever a ``stats_cb`` is given.

        ``no_progress_s``: how long the producer may go without a delivery report before it is replaced."""
        self.config = config
        self.no_progress_s = no_progress_s
        self.client_extra = dict(client_extra or {})
        self.final_client_stats = "stats_cb" in self.client_extra if final_client_stats is None else final_client_stats
        self.backup_id = config.backup_id
        self.restore_id = config.effective_restore_id()
        self.metrics = metrics or Metrics()
        self.store = store or config.storage.open(metrics=self.metrics, backup_id=self.backup_id)
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.summary = RestoreSummary(self.restore_id, self.backup_id)
        self.guard = run_guard(
            config.target, "target", self.metrics, backup_id=self.backup_id, stop=self.stop, restore_id=self.restore_id
        )
        """Rides out broker restarts and stalls: shared by the admin calls and the producer (one outage, one log)."""
        self.tracker = RestoreTracker(self.summary, self.metrics, on_progress)

    def _admin_extra(self) -> dict[str, Any]:
        return {k: v for k, v in self.client_extra.items() if k == "logger"}

    # ---- entry points ---------------------------------------------------------------------------------------

    def plan(self) -> RestorePlan:
        """The plan (reads manifests and the target's topic list; writes nothing)."""
        backup = Repository(self.store).require_backup(self.backup_id)
        check_selection(self.config, backup)  # what the backup alone refutes fails before connecting
        cluster = Cluster(self.config.target, self._admin_extra(), guard=self.guard)
        plan = build_plan(self.config, self.store, cluster.topic_partitions(), backup)  # its gate stats segments
        plan = refine_estimates(plan, self.config, self.store)
        return replace(plan, occupied=target_occupancy(cluster, plan))

    def run(self) -> RestoreSummary:
        self.tracker.started = time.monotonic()
        status = "failure"
        zero_errors(self.metrics, backup_id=self.backup_id, operation="restore", error_types=BackupError.codes())
        with _tracer.start_as_current_span(
            "restore", attributes={"backup_id": self.backup_id, "restore_id": self.restore_id}
        ):
            try:
                self._run()
                status = "success" if not self.stop.is_set() else "stopped"
            except BackupError as exc:
                self.metrics.backup_errors_total.add(
                    1, {"backup_id": self.backup_id, "operation": "restore", "error_type": exc.code}
                )
                raise
            finally:
                self.guard.close()
                self.summary.duration_s = time.monotonic() - self.tracker.started
                self.summary.status = status
                self.metrics.restore_duration_seconds.record(
                    self.summary.duration_s, {"backup_id": self.backup_id, "status": status}
                )
        return self.summary

    # ---- phases -----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        cfg = self.config
        backup = Repository(self.store).require_backup(self.backup_id)
        check_selection(cfg, backup)  # what the backup alone refutes fails before connecting
        cluster = Cluster(cfg.target, self._admin_extra(), guard=self.guard)
        plan = build_plan(cfg, self.store, cluster.topic_partitions(), backup)
        self.summary.segments_skipped = sum(p.skipped_segments for p in plan.partitions)
        self._record_left_out(plan)
        log.info(
            "restore_planned",
            backup_id=self.backup_id,
            restore_id=self.restore_id,
            partitions=len(plan.partitions),
            segments=plan.segments,
            records=plan.records,
        )
        state = read_state(self.store, self.backup_id, self.restore_id)
        if state is not None and state.fingerprint != plan.fingerprint:
            raise RestoreStateError(
                f"restore '{self.restore_id}' was started with a different selection or mapping",
                hint="rerun it with the original settings, or choose a new --restore-id",
            )
        if state is None or state.status != "complete":
            self._check_unmapped_segments(plan)
        if state is None:
            # a new restore: the records in the target are not ours (a resumed one's are: it ignores the policy)
            apply_existing_data(cluster, plan, cfg.existing_data, self.summary)
        create_topics(cluster, plan, self.summary)
        fresh_ends: dict[TP, int] | None = None
        if state is None:
            state, fresh_ends = start_state(self.store, cluster, plan, cfg.target.bootstrap_servers)
        elif state.status == "complete":
            log.info("restore_already_complete", backup_id=self.backup_id, restore_id=self.restore_id)
        self.tracker.total = plan.records
        if state.status != "complete":
            self._restore(cluster, plan, state, fresh_ends)
            if self.stop.is_set():
                return
            state = complete_state(self.store, cluster, state)
        else:
            self.tracker.done = self.tracker.total = plan.records
        self.tracker.report(final=True)
        if cfg.consumer_groups.reset:
            resets = plan_reset(self.store, backup, state, cfg.consumer_groups.include, cfg.consumer_groups.exclude)
            results = execute_reset(cluster, resets, metrics=self.metrics, backup_id=self.backup_id)
            self.summary.offset_reset = [r.to_dict() for r in results]

    def _check_unmapped_segments(self, plan: RestorePlan) -> None:
        """Pre-flight: every segment still to be produced (no offset map yet) exists with its manifest size (and,
        with ``verify_first``, has its manifest SHA-256)."""
        todo = unmapped_segments(self.store, plan)
        check_segments(self.store, todo)
        if self.config.verify_first:
            verify_checksums(self.store, todo)

    def _record_left_out(self, plan: RestorePlan) -> None:
        """A partial restore (``allow_partial``) says what it leaves out: summary, log, metric."""
        self.summary.left_out = list(plan.left_out)
        for f in plan.left_out:
            log.warning(
                "restore_leaves_out",
                backup_id=self.backup_id,
                restore_id=self.restore_id,
                topic=f.topic,
                partition=f.partition,
                reason=f.kind,
                detail=f.detail,
            )
            labels = {"topic": f.topic or "", "partition": "" if f.partition is None else str(f.partition)}
            self.metrics.restore_left_out_total.add(1, {**self.tracker.labels, **labels, "reason": f.kind})

    def _restore(
        self, cluster: Cluster, plan: RestorePlan, state: RestoreState, fresh_ends: dict[TP, int] | None
    ) -> None:
        """Produce every segment not mapped yet; ``fresh_ends`` are the end offsets read when this run created the
        state (None when resuming: then they are read again, and allowed to settle)."""
        queues = [deque((p, s) for p in chain for s in p.segments) for chain in chains(plan.partitions)]
        mapped = drop_mapped_prefix(self.store, plan, queues, self.tracker)
        ends = fresh_ends if fresh_ends is not None else stable_ends(cluster, state.target_partitions())
        positions = resume_positions(state, mapped, ends)
        resumed = sum(positions.skip.values())
        if mapped or resumed:
            log.info(
                "restore_resumed",
                backup_id=self.backup_id,
                restore_id=self.restore_id,
                mapped_records=sum(mapped.values()),
                unmapped_records_found=resumed,
            )
        self.tracker.report()

        def reopen(stuck: Sink, nxt: dict[TP, int]) -> tuple[Sink, dict[TP, int]]:
            stuck.abandon()
            if self.guard.on_retry is not None:  # kafka_backup_retries_total
                self.guard.on_retry("produce", "producer_stuck")
            ends = stable_ends(cluster, state.target_partitions())
            return self._sink(), written_since(state, nxt, ends)

        producer = SegmentProducer(
            self.config, self.store, self._sink(), positions, self.tracker, self.stop, reopen=reopen
        )
        try:
            producer.run(production_order(queues))
        finally:
            producer.sink.close(final_stats=self.final_client_stats)

    def _sink(self) -> Sink:
        return Sink(
            self.config.target,
            client_id=f"kafka-backup-restore-{socket.gethostname()}-{os.getpid()}",
            rate=self.config.rate_limit,
            extra=self.client_extra,
            guard=self.guard,
            no_progress_s=self.no_progress_s,
        )


def run_restore(config: RestoreConfig, **kwargs: Any) -> RestoreSummary:
    """Restore what ``config`` selects; returns the summary. Library entry point of ``kafka-backup restore``."""
    return RestoreRun(config, **kwargs).run()


__all__ = ["RestoreRun", "run_restore"]
