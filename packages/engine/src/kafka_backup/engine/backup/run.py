"""Backup: Kafka partitions → Parquet segments on storage, committed through the partition manifests.

Commit protocol (kept by :meth:`BackupRun._commit`):

1. write the segment completely (``Store.put``: local files temp + fsync + rename, object stores one PUT);
2. then replace that partition's manifest atomically with one that lists the new segment — this is the commit
   point; before it the segment is an unreferenced object that no reader trusts;
3. only then commit the consumer offset to Kafka (informational: the manifest is the source of truth).

Pipelining: step 1 (encode the segment: Parquet, zstd, SHA-256; then store it) runs on an encoder thread while the
consuming thread keeps consuming; steps 2 and 3 stay on the consuming thread, in hand-off order per partition, once
step 1 is done (:meth:`BackupRun._reap`), so the order above holds for every segment. Anything that must see a
partition's commits settled (revoke, shutdown, a retention gap, the snapshot target) calls the synchronous
:meth:`BackupRun._commit`, which waits for them.

Resuming: on assignment every partition is sought to its manifest's ``next_offset``, so a run killed at any point
(``kill -9``) re-reads exactly what was not yet committed; the manifest never points at a missing or partial
segment, and no record is stored twice in the manifest's view. A segment written before a crash but never
committed may be overwritten or left behind unreferenced; ``validate`` reports it, ``prune`` removes it.

Fencing: a manifest is only ever replaced with a conditional write (``Store.put_if``) that expects the version this
worker read or wrote last, and created only if none exists, so a worker that lost a partition in a rebalance (and
did not notice yet) cannot clobber the new owner's commits, even when both write at the same instant: the storage
service decides the condition in the write itself (S3 ``If-Match``/``If-None-Match``, GCS ``ifGenerationMatch``,
Azure ETag conditions, a folder ``flock`` for local files; see :mod:`kafka_backup.engine.store.conditional`). The
loser gets ``ConcurrentWriterError`` and gives the partition up; its segment stays unreferenced. Two workers creating
the same first manifest at once start from the same offset: the loser carries on from the winner's. ``snapshot.json``
is created the same way, so every worker of a snapshot shares one set of targets; ``backup.json`` is
last-writer-wins (every worker writes the same description of the job).

Scale-out: workers with the same ``backup_id`` join the consumer group ``kafka-backup.<backup_id>`` with
cooperative-sticky assignment, each as a static member (``group.instance.id``, see :mod:`worker_id`), so a worker
restarted after a crash takes its partitions back without waiting for its old session to expire. On revoke a worker
flushes and commits the partition's open segment before releasing it. In snapshot mode every worker stops only when
every partition of the snapshot has reached its target end offset according to storage, so the survivors finish a
dead worker's partitions.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from opentelemetry import trace

from kafka_backup.engine.backup.progress import BackupProgress, ProgressTracker
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.errors import (
    BackupError,
    ConcurrentWriterError,
    ConfigError,
    PreconditionFailedError,
    StorageError,
    StorageNotFoundError,
    WorkerIdInUseError,
)
from kafka_backup.engine.format.manifest import (
    BackupManifest,
    PartitionManifest,
    SegmentEntry,
    Snapshot,
    backup_key,
    manifest_key,
    now_ms,
    segment_key,
    snapshot_key,
)
from kafka_backup.engine.format.segment import EncodedSegment, build_table, encode, payload_bytes
from kafka_backup.engine.gcpace import GcPacer
from kafka_backup.engine.kafka.admin import SETTLING_CODES, Cluster, translate
from kafka_backup.engine.kafka.outage import run_guard
from kafka_backup.engine.kafka.worker_id import WorkerId, claim_worker_id
from kafka_backup.engine.store import Store, Version
from kafka_backup.telemetry.baseline import zero_errors
from kafka_backup.telemetry.catalog import Metrics
from kafka_backup.telemetry.logs import kafka_logger as client_logger

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("kafka_backup.engine.backup.run")
RETENTION_GAP = "OFFSET_OUT_OF_RANGE"
"""``error_type`` counted when records expired before they were backed up (the gap is recorded, the run goes on)."""

TP = tuple[str, int]
CONSUME_BATCH = 5_000
POLL_TIMEOUT_S = 0.25
MAX_BUFFERED_BYTES = 48 * 1024 * 1024
"""Bound on record bytes held in memory across all partitions, open segments and segments being encoded together.
Open segments past half of it: the largest is handed to the encoder; segments being encoded past the other half: the
consuming thread waits for the oldest."""
PREFETCH_KBYTES = 8192
"""librdkafka's prefetch queue (``queued.max.messages.kbytes``)."""
PARTITION_FETCH_BYTES = 256 * 1024
"""Per-partition bytes of one fetch response (``max.partition.fetch.bytes``): each partition's response buffers stay
allocated until every record of them is consumed, so memory grows with partitions times this."""
FETCH_QUEUE_BACKOFF_MS = 20
"""How soon librdkafka fetches again after its prefetch queue was full (its default, 1000, leaves the consumer idle)."""
RELEASE_ARROW_MEMORY = 1
"""Return Arrow's unused memory to the OS after each segment (see ``_write_segment``)."""
GREEDY_CONSUME = 1
"""Take what librdkafka has queued instead of waiting for a full batch (see ``_consume``)."""
OFFSET_COMMIT_INTERVAL_S = 1.0
"""Kafka offsets (informational) are committed asynchronously, at most this often: a synchronous commit per segment
held the consuming thread for a broker round trip each time (5% of a backup of 1 KB records), and commits always in
flight would hold off a cooperative rebalance. Revoked partitions and the final offsets at shutdown are committed
synchronously."""
WAIT_NOTICE_S = 2.0
"""After this long subscribed without an assignment, say what the worker waits for (once)."""
ENCODER_THREADS = 1
"""One encoder beside the consuming thread (and librdkafka's): on small machines a second one only competes. 0
encodes on the consuming thread (no overlap; the benchmarks' A/B baseline)."""


@dataclass
class BackupSummary:
    backup_id: str
    records: int = 0
    uncompressed_bytes: int = 0
    compressed_bytes: int = 0
    segments: int = 0
    partitions: int = 0
    topics: list[str] = field(default_factory=list)
    gaps: int = 0
    duration_s: float = 0.0
    working_s: float = 0.0
    """From the first partition assignment to the end: ``duration_s`` minus start-up and the wait for the group
    (a restarted worker's old session, a rebalance), the time the records/s rate is measured over."""
    status: str = "success"
    codec: str = "zstd"

    @property
    def ratio(self) -> float:
        return self.uncompressed_bytes / self.compressed_bytes if self.compressed_bytes else 0.0

    @property
    def records_per_sec(self) -> float:
        return self.records / self.working_s if self.working_s > 0 else 0.0


@dataclass
class _Flush:
    """A range of a partition handed to the encoder, committed (segment, manifest, offset) once it is encoded."""

    start_offset: int
    end_offset: int
    encoded: Future[tuple[EncodedSegment, int]] | None
    """The segment (without its bytes) and its stored size, once written; None: no records, only a gap to record."""
    bytes: int
    dropped: bool = False


@dataclass
class _Partition:
    """A partition this worker owns: its committed manifest, the ranges being encoded, and the records read since
    (the open segment)."""

    manifest: PartitionManifest
    target: int | None
    version: Version | None = None
    """The stored version of :attr:`manifest` (None: none stored yet): the next manifest write expects it."""
    flushes: deque[_Flush] = field(default_factory=deque)
    chunks: list[pa.Table] = field(default_factory=list)
    buffered_records: int = 0
    buffered_bytes: int = 0
    opened_at: float = 0.0
    last_offset: int = -1
    last_timestamp: int | None = None
    avg_record_bytes: float | None = None
    """Moving average of record payload size, for the bytes-lag estimate."""
    done: bool = False

    @property
    def key(self) -> TP:
        return (self.manifest.topic, self.manifest.partition)

    @property
    def flushed_to(self) -> int:
        """Where the next hand-off starts: the end of the last range handed to the encoder, else of the manifest."""
        return self.flushes[-1].end_offset if self.flushes else self.manifest.next_offset


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
        self.owned: dict[TP, _Partition] = {}
        self.snapshot: Snapshot | None = None
        self.consumer: Consumer | None = None
        self._complete_remote: set[TP] = set()
        self._last_remote_check = 0.0
        self._last_lag_update = 0.0
        self._fatal: BaseException | None = None
        self._labels = {"backup_id": self.backup_id}
        self._cluster: Cluster | None = None
        self._backup_manifest: BackupManifest | None = None
        self._started_at = time.monotonic()
        self._closing = False
        self._rebalancing = False
        self._offsets_to_commit: dict[TP, int] = {}
        """Manifest positions not yet committed to Kafka (see ``OFFSET_COMMIT_INTERVAL_S``)."""
        self._last_offset_commit = 0.0
        self._storage_failing = False
        """Set when the run fails on storage: shutdown then skips flushing (each flush would retry for minutes)."""
        self._polls = 0
        self._encoder = ThreadPoolExecutor(ENCODER_THREADS, "segment-encoder") if ENCODER_THREADS > 0 else None
        self._encoding: deque[tuple[_Partition, _Flush]] = deque()
        """Every hand-off not yet committed, oldest first (per partition too, so committing from the left is in
        order)."""
        self._encoding_bytes = 0
        self.progress = ProgressTracker(on_progress, snapshot=config.mode == "snapshot")
        self.worker_id: WorkerId | None = None
        self._subscribed_at: float | None = None
        self._said_waiting = False
        self._stats_at = float("-inf")
        """When librdkafka last delivered statistics (monotonic)."""
        self._instance_id: str | None = None
        """The ``group.instance.id`` this worker joined with (static membership), None for a dynamic member."""
        self._snapshot_finished = False
        """Set once a snapshot run has recorded the snapshot complete; a snapshot run that ends without it (SIGTERM
        before the end) is ``stopped``, not a success."""
        self._all_committed = False
        """Set by a shutdown that committed every record read (nothing left unflushed): a clean stop."""

    # ---- the run ------------------------------------------------------------------------------------------------

    def run(self) -> BackupSummary:
        started = self._started_at = time.monotonic()
        status = "failure"
        error_types = (*BackupError.codes(), RETENTION_GAP)
        zero_errors(self.metrics, backup_id=self.backup_id, operation="backup", error_types=error_types)
        with _tracer.start_as_current_span("backup", attributes={"backup_id": self.backup_id}):
            try:
                self._run()
                status = "stopped" if self.snapshot is not None and not self._snapshot_finished else "success"
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

    def _run(self) -> None:
        cfg = self.config
        cluster = Cluster(cfg.source, {"logger": self.kafka_logger} if self.kafka_logger else None, guard=self.guard)
        selection = cluster.select_topics(cfg.topics.include, cfg.topics.exclude, cfg.topics.include_internal)
        for pattern in selection.unmatched_patterns:
            log.warning("topic_pattern_matched_nothing", backup_id=self.backup_id, pattern=pattern)
        topics = selection.topics
        self.summary.topics = topics
        self._write_backup_manifest(cluster, topics)
        if cfg.mode == "snapshot":
            self.snapshot = self._load_or_start_snapshot(cluster, topics)
            log.info(
                "snapshot_targets",
                backup_id=self.backup_id,
                partitions=len(self.snapshot.partitions()),
                records_upper_bound=sum(sum(p.values()) for p in self.snapshot.targets.values()),
            )
        self._cluster = cluster
        self.worker_id = claim_worker_id(self.backup_id, cfg.worker_id)
        try:
            self.consumer = self._make_consumer(selection.partition_counts)
            try:
                self.consumer.subscribe(
                    topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
                )
                self._subscribed_at = time.monotonic()
                self._loop()
            finally:
                self._shutdown()
        finally:
            self.worker_id.release()
        if self.snapshot is not None and self._snapshot_complete(force_check=True):
            self._finish_snapshot()
        elif self.snapshot is None and self._all_committed:
            self._finish_continuous()

    def _make_consumer(self, subscription: dict[str, int]) -> Consumer:
        cfg = self.config
        conf: dict[str, Any] = {
            **cfg.source.librdkafka(),
            "group.id": f"kafka-backup.{self.backup_id}",
            "client.id": f"kafka-backup-{socket.gethostname()}-{os.getpid()}",
            "partition.assignment.strategy": "cooperative-sticky",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "isolation.level": cfg.isolation,
            "session.timeout.ms": cfg.session_timeout_ms,
            "heartbeat.interval.ms": max(500, cfg.session_timeout_ms // 5),
            # bounded prefetch keeps memory flat with many partitions; a full prefetch queue postpones the next fetch
            # by fetch.queue.backoff.ms, 1 s by default, which stalled the backup for most of its run
            "queued.max.messages.kbytes": PREFETCH_KBYTES,
            "max.partition.fetch.bytes": PARTITION_FETCH_BYTES,
            "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
            "fetch.max.bytes": 52428800,
            "error_cb": self._on_error,
            "on_commit": self._on_commit,
        }
        instance_id = self.worker_id.instance_id(subscription) if self.worker_id is not None else None
        self._instance_id = instance_id
        if instance_id is not None:
            # static membership: a restarted worker takes its partitions back at once (see worker_id.py)
            conf["group.instance.id"] = instance_id
        if self.stats_cb is not None:
            conf["statistics.interval.ms"] = cfg.metrics.update_interval_ms
            conf["stats_cb"] = self._on_stats
        if self.kafka_logger is not None:
            conf["logger"] = self.kafka_logger
        conf.update({k: v for k, v in cfg.source.client_config.items() if k.startswith(("fetch.", "queued."))})
        return Consumer(conf)

    def _on_stats(self, stats: str) -> None:
        self._stats_at = time.monotonic()
        if self.stats_cb is not None:
            self.stats_cb(stats)

    def _final_stats(self) -> None:
        """Wait (at most one statistics interval, partitions paused) for librdkafka's next statistics: the client
        metrics then count every record this run consumed, also in a run shorter than one interval."""
        if self.stats_cb is None or self.consumer is None:
            return
        asked = time.monotonic()
        deadline = asked + self.config.metrics.update_interval_ms / 1000 + 0.2
        try:
            self.consumer.pause(self.consumer.assignment())
            while self._stats_at < asked and time.monotonic() < deadline:
                self.consumer.poll(0.05)  # serves the callback; paused partitions deliver no records
        except (KafkaException, RuntimeError) as exc:
            log.debug("final_client_stats_skipped", backup_id=self.backup_id, error=str(exc))

    def _on_error(self, error: KafkaError) -> None:
        if error.code() in (KafkaError.FENCED_INSTANCE_ID, KafkaError._FENCED):
            worker = self.worker_id.value if self.worker_id else None
            self._fatal = WorkerIdInUseError(
                f"another worker of backup {self.backup_id} joined with worker_id {worker!r}, so the broker fenced "
                "this one",
                hint="give each running worker its own worker_id, or leave it unset for a distinct default",
            )
            return
        if (refused := self._refused_join(error)) is not None:
            self._fatal = refused
            return
        if error.fatal() or error.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
            self._fatal = translate(KafkaException(error), None, "consume", self.config.source.bootstrap_servers)
        elif not self.guard.observe("fetch", error):  # transient ones are part of an outage, logged once by it
            # through the kafka logger: its RepeatFilter collapses the error librdkafka reports on every reconnect
            (self.kafka_logger or client_logger("backup")).warning(
                "kafka_client_error", extra={"backup_id": self.backup_id, "error": error.str(), "code": error.name()}
            )

    def _refused_join(self, error: KafkaError) -> BackupError | None:
        """A group join the broker refuses for good (retrying could only hang the run), as the error to fail with."""
        if error.code() != KafkaError.INVALID_SESSION_TIMEOUT:
            return None
        return ConfigError(
            f"the broker refused session_timeout_ms={self.config.session_timeout_ms}: {error.str()}",
            hint="set session_timeout_ms within the broker's group.min.session.timeout.ms and "
            "group.max.session.timeout.ms (6000 to 1800000 by default)",
        )

    def _loop(self) -> None:
        with GcPacer() as gc_pacer:
            self._loop_paced(gc_pacer)

    def _loop_paced(self, gc_pacer: GcPacer) -> None:
        assert self.consumer is not None
        max_age = self.config.segment.max_age_s
        while not self.stop.is_set():
            gc_pacer.tick()
            if self._fatal is not None:
                raise self._fatal
            messages = self._consume()
            self._polls += 1
            if messages:
                self._ingest(messages)
            if self.guard.in_outage:
                self._ride_out(messages)
            self._reap()
            now = time.monotonic()
            for part in list(self.owned.values()):
                if part.chunks and now - part.opened_at >= max_age:
                    self._commit(part, part.last_offset + 1)
            if now - self._last_lag_update >= self.config.metrics.update_interval_ms / 1000:
                self._update_lag()
                rate = self._polls / max(1e-3, now - self._last_lag_update) if self._last_lag_update else 0.0
                self.metrics.backup_fetch_rate.set(rate, self._labels)
                self._polls = 0
                self._last_lag_update = now
            if self._offsets_to_commit and now - self._last_offset_commit >= OFFSET_COMMIT_INTERVAL_S:
                self._commit_kafka_offsets(synchronous=False)
            if not self.owned:
                self._note_waiting(now)
            self.progress.report()
            if self.snapshot is not None and self._snapshot_complete():
                self.progress.report(force=True)  # the end, before the shutdown's log lines
                return

    def _note_waiting(self, now: float) -> None:
        """Say once what a worker without partitions waits for, instead of sitting silent."""
        if self._said_waiting or self.progress.started_at is not None or self._subscribed_at is None:
            return
        waited = now - self._subscribed_at
        if waited < WAIT_NOTICE_S:
            return
        self._said_waiting = True
        log.info(
            "waiting_for_partitions",
            backup_id=self.backup_id,
            group=f"kafka-backup.{self.backup_id}",
            worker_id=self.worker_id.value if self.worker_id else None,
            waited_s=round(waited, 1),
            session_timeout_s=self.config.session_timeout_ms / 1000,
            reason="the group is rebalancing: a worker that left without leaving the group (a crash) holds its "
            "partitions until its session times out; one restarted with the same worker_id takes them back at once",
        )

    def _ride_out(self, messages: list[Message]) -> None:
        """During an outage the consumer keeps being served (librdkafka reconnects and refetches by itself): records
        arriving end the outage; without any, the cluster is probed when the next attempt is due. Raises
        ``KAFKA_UNAVAILABLE`` once the outage outlasts ``source.outage_tolerance_s``."""
        if any(m.error() is None for m in messages):
            self.guard.succeeded()
        elif self._cluster is not None:
            self._cluster.probe()

    # ---- ingesting batches ------------------------------------------------------------------------------------

    def _consume(self) -> list[Message]:
        """What is queued, at once; with nothing queued, wait for the first record only. (``consume(n, timeout)``
        waits for all ``n`` records, which never come while the prefetch queue holds fewer than ``n``.)"""
        assert self.consumer is not None
        if not GREEDY_CONSUME:
            return self.consumer.consume(CONSUME_BATCH, timeout=POLL_TIMEOUT_S)
        messages = self.consumer.consume(CONSUME_BATCH, timeout=0)
        if not messages:
            messages = self.consumer.consume(1, timeout=POLL_TIMEOUT_S)
            if messages:
                messages += self.consumer.consume(CONSUME_BATCH - 1, timeout=0)
        return messages

    def _ingest(self, messages: list[Message]) -> None:
        by_partition: dict[TP, list[Message]] = {}
        events: list[Message] = []
        for msg in messages:
            if msg.error() is None:
                by_partition.setdefault((msg.topic(), msg.partition()), []).append(msg)  # type: ignore[arg-type]
            else:
                events.append(msg)
        for tp, batch in by_partition.items():
            part = self.owned.get(tp)
            if part is None or part.done:
                continue  # revoked or finished while these were in flight
            self._append(part, batch)
        # end-of-partition and error events after the data of the same batch, which they follow
        for msg in events:
            err = msg.error()
            assert err is not None
            where: TP = (msg.topic() or "", msg.partition() or 0)
            if err.code() == KafkaError._PARTITION_EOF:
                self._on_eof(where, msg.offset() or 0)
            elif err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                self._on_out_of_range(where)
            elif (refused := self._refused_join(err)) is not None:
                self._fatal = refused
            elif not self.guard.observe("fetch", err):
                log.warning("kafka_fetch_error", backup_id=self.backup_id, error=err.str(), code=err.name())
        total = sum(p.buffered_bytes for p in self.owned.values())
        while total > MAX_BUFFERED_BYTES // 2:
            largest = max(self.owned.values(), key=lambda p: p.buffered_bytes)
            total -= largest.buffered_bytes
            self._hand_off(largest, largest.last_offset + 1)

    def _append(self, part: _Partition, batch: list[Message]) -> None:
        topic, partition = part.key
        table = build_table(topic, partition, batch)
        reached_target = False
        # the target is an end offset (exclusive): the record just below it ends the partition at once, without the
        # end-of-partition event an empty fetch brings only after fetch.wait.max.ms
        last = table.column("offset")[-1].as_py()
        if part.target is not None and last + 1 >= part.target:
            if last >= part.target:
                table = table.filter(pc.less(table.column("offset"), part.target))
            reached_target = True
        seg = self.config.segment
        while table.num_rows:
            room = seg.max_records - part.buffered_records
            head, table = table.slice(0, room), table.slice(room)
            if not part.chunks:
                part.opened_at = time.monotonic()
            part.chunks.append(head)
            part.buffered_records += head.num_rows
            head_bytes = payload_bytes(head)
            part.buffered_bytes += head_bytes
            batch_avg = head_bytes / head.num_rows
            part.avg_record_bytes = (
                batch_avg if part.avg_record_bytes is None else 0.8 * part.avg_record_bytes + 0.2 * batch_avg
            )
            part.last_offset = head.column("offset")[-1].as_py()
            part.last_timestamp = head.column("timestamp")[-1].as_py()
            self.progress.advance(part.key, part.last_offset + 1, head_bytes)
            if part.buffered_bytes >= seg.max_bytes or part.buffered_records >= seg.max_records:
                self._hand_off(part, part.last_offset + 1)
        if reached_target:
            self._finish_partition(part)

    def _on_eof(self, tp: TP, offset: int) -> None:
        part = self.owned.get(tp)
        if part is None or part.done or part.target is None:
            return
        if offset >= part.target:
            self._finish_partition(part)

    def _on_out_of_range(self, tp: TP) -> None:
        """Our position fell below the log start (retention): record the lost range as a gap, go on from there."""
        part = self.owned.get(tp)
        if part is None or self.consumer is None:
            return
        if part.chunks or part.flushes:
            self._commit(part, part.last_offset + 1)
        assert self._cluster is not None
        start = self._cluster.start_offsets([TopicPartition(*tp)], also=SETTLING_CODES)[tp]
        self._record_retention_gap(part, start)
        self.consumer.seek(TopicPartition(tp[0], tp[1], part.manifest.next_offset))

    def _record_retention_gap(self, part: _Partition, log_start: int) -> None:
        if log_start <= part.manifest.next_offset:
            return
        lost = log_start - part.manifest.next_offset
        log.error(
            "records_lost_to_retention",
            backup_id=self.backup_id,
            topic=part.key[0],
            partition=part.key[1],
            from_offset=part.manifest.next_offset,
            to_offset=log_start,
            records=lost,
        )
        self.metrics.backup_errors_total.add(1, {**self._labels, "operation": "backup", "error_type": RETENTION_GAP})
        self._store_manifest(part, part.manifest.with_gap(log_start, "retention"))
        self.summary.gaps += 1

    def _finish_partition(self, part: _Partition) -> None:
        """Snapshot target reached: commit everything up to the target, stop fetching this partition."""
        assert part.target is not None
        self._commit(part, max(part.target, part.last_offset + 1))
        part.done = True
        self.progress.finish(part.key)
        if self.consumer is not None:
            self.consumer.pause([TopicPartition(*part.key)])
        self.metrics.lag.update(self.backup_id, part.key[0], part.key[1], part.target, part.manifest.next_offset)

    # ---- committing -------------------------------------------------------------------------------------------

    def _commit(self, part: _Partition, end_offset: int) -> None:
        """Commit everything of ``part`` up to ``end_offset`` and wait until it is (see the module docstring)."""
        self._hand_off(part, end_offset)
        while part.flushes:
            self._commit_oldest(part)

    def _hand_off(self, part: _Partition, end_offset: int) -> None:
        """Queue the open segment (or, with no records, a gap up to ``end_offset``) for committing; returns at once
        unless the segments being encoded already hold half of ``MAX_BUFFERED_BYTES``."""
        start = part.flushed_to
        if part.chunks:
            topic, partition = part.key
            codec = self.config.compression
            job = functools.partial(
                _write_segment,
                self.store,
                segment_key(self.backup_id, topic, partition, start, end_offset),
                part.chunks,
                topic=topic,
                partition=partition,
                start_offset=start,
                end_offset=end_offset,
                codec=codec.codec,
                level=codec.level,
            )
            if self._encoder is not None:
                # in this thread's context, so the storage span is a child of the backup span as before
                encoded = self._encoder.submit(contextvars.copy_context().run, job)
            else:
                encoded = Future()
                encoded.set_result(job())
            flush = _Flush(start, end_offset, encoded, part.buffered_bytes)
        elif end_offset > start:
            flush = _Flush(start, end_offset, None, 0)
        else:
            return
        part.chunks, part.buffered_records, part.buffered_bytes = [], 0, 0
        part.flushes.append(flush)
        self._encoding.append((part, flush))
        self._encoding_bytes += flush.bytes
        while self._encoding_bytes > MAX_BUFFERED_BYTES // 2:
            self._commit_oldest(None)

    def _reap(self) -> None:
        """Commit the hand-offs whose encoding is done, oldest first, without waiting."""
        while self._encoding:
            _part, flush = self._encoding[0]
            if flush.encoded is not None and not flush.encoded.done():
                return
            self._commit_oldest(None)

    def _commit_oldest(self, settling: _Partition | None) -> None:
        """Wait for the oldest hand-off and commit it, unless its partition was lost or taken over meanwhile (a
        partition being settled by a revoke is committed although it is no longer owned)."""
        part, flush = self._encoding.popleft()
        self._encoding_bytes -= flush.bytes
        part.flushes.popleft()
        if flush.dropped or (part is not settling and self.owned.get(part.key) is not part):
            return
        try:
            written = flush.encoded.result() if flush.encoded is not None else None
            self._commit_unfenced(part, flush, written)
        except ConcurrentWriterError as exc:
            log.warning("partition_taken_over", backup_id=self.backup_id, topic=part.key[0], error=str(exc))
            self._abandon(part)
            if self.consumer is not None:
                self.consumer.pause([TopicPartition(*part.key)])
        except BaseException:
            # nothing read after a range that failed to commit may be committed (it would start at the wrong
            # offset): drop the partition's later ranges and open segment, as a crash would; a rerun resumes them
            self._abandon(part)
            raise

    def _abandon(self, part: _Partition) -> None:
        for later in part.flushes:
            later.dropped = True
        part.chunks, part.buffered_records, part.buffered_bytes = [], 0, 0
        if self.owned.get(part.key) is part:
            self.owned.pop(part.key)

    def _commit_unfenced(self, part: _Partition, flush: _Flush, written: tuple[EncodedSegment, int] | None) -> None:
        """Steps 2 and 3 for a range whose segment is stored (step 1, on the encoder thread)."""
        topic, partition = part.key
        manifest = part.manifest
        if written is not None:
            seg, size = written
            with _tracer.start_as_current_span(
                "segment.flush",
                attributes={"backup_id": self.backup_id, "topic": topic, "partition": partition},
            ):
                codec = self.config.compression
                key = segment_key(self.backup_id, topic, partition, flush.start_offset, flush.end_offset)
                entry = SegmentEntry(
                    key=key,
                    start_offset=flush.start_offset,
                    end_offset=flush.end_offset,
                    first_offset=seg.first_offset,
                    last_offset=seg.last_offset,
                    records=seg.records,
                    size=size,
                    uncompressed_bytes=seg.uncompressed_bytes,
                    sha256=seg.sha256,
                    codec=codec.codec,
                    first_timestamp=seg.first_timestamp,
                    last_timestamp=seg.last_timestamp,
                    min_timestamp=seg.min_timestamp,
                    max_timestamp=seg.max_timestamp,
                    created_at=now_ms(),
                )
                self._store_manifest(part, manifest.with_segment(entry))
            self._count_segment(part, entry)
        else:
            self._store_manifest(part, manifest.with_gap(flush.end_offset, "no_records"))
        self._commit_kafka_offset(part)

    def _store_manifest(self, part: _Partition, new: PartitionManifest) -> None:
        """Replace the partition manifest only if it is still the version this worker holds, or create it only if
        none exists (the commit point): one conditional write, so of two racing workers exactly one commits."""
        key = manifest_key(self.backup_id, *part.key)
        try:
            version = self.store.put_if(key, new.to_json(), operation="manifest", expect=part.version)
        except PreconditionFailedError as exc:
            found = self.store.get_versioned(key, operation="manifest")
            current = PartitionManifest.from_json(found[0], key) if found is not None else None
            same_start = current is not None and current.next_offset == part.manifest.next_offset
            if part.version is None and found is not None and current is not None and same_start:
                # another worker created the first manifest at the same moment, at the same offset: carry on from
                # its manifest (whoever commits next with its version owns the partition)
                part.manifest, part.version = current, found[1]
                return
            moved = "was removed" if current is None else f"moved to {current.next_offset}"
            raise ConcurrentWriterError(
                f"manifest {key} {moved} while this worker was at {part.manifest.next_offset}",
                hint="another worker owns this partition now",
            ) from exc
        part.manifest, part.version = new, version
        self.metrics.backup_last_successful_commit.set(time.time(), {**self._labels, **self._tp_labels(part.key)})

    def _commit_kafka_offset(self, part: _Partition) -> None:
        """Note the partition's new manifest position for Kafka; committed now (synchronously) while its partition is
        being revoked or the run is closing, otherwise with the next asynchronous batch."""
        self._offsets_to_commit[part.key] = part.manifest.next_offset
        if self._rebalancing or self._closing:
            self._commit_kafka_offsets(synchronous=True, only=[part.key])

    def _commit_kafka_offsets(self, *, synchronous: bool, only: list[TP] | None = None) -> None:
        keys = list(self._offsets_to_commit) if only is None else [k for k in only if k in self._offsets_to_commit]
        offsets = [TopicPartition(t, p, self._offsets_to_commit.pop((t, p))) for t, p in keys]
        self._last_offset_commit = time.monotonic()
        if not offsets or self.consumer is None:
            return
        try:
            if synchronous:
                self.consumer.commit(offsets=offsets, asynchronous=False)
            else:
                self.consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            # informational only (the manifest is the source of truth): a rebalance in progress may refuse it
            log.warning("kafka_offset_commit_failed", backup_id=self.backup_id, error=str(exc))

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is None or not self.guard.observe("commit", error):
            self.guard.succeeded()  # the group coordinator answered (even a refusal proves the cluster is back)
        failed = [p for p in partitions if p.error is not None]
        if error is not None or failed:
            # informational only (the manifest is the source of truth): a rebalance in progress may refuse it
            log.warning(
                "kafka_offset_commit_failed",
                backup_id=self.backup_id,
                error=str(error if error is not None else failed[0].error),
                partitions=[f"{p.topic}-{p.partition}" for p in failed or partitions],
            )

    def _count_segment(self, part: _Partition, entry: SegmentEntry) -> None:
        labels = {**self._labels, **self._tp_labels(part.key)}
        algo = {**self._labels, "algorithm": entry.codec}
        m = self.metrics
        m.backup_records_total.add(entry.records, labels)
        m.backup_bytes_total.add(entry.uncompressed_bytes, labels)
        m.backup_segments_total.add(1, labels)
        m.backup_compressed_bytes_total.add(entry.size, {**algo, "topic": part.key[0]})
        m.backup_uncompressed_bytes_total.add(entry.uncompressed_bytes, {**algo, "topic": part.key[0]})
        s = self.summary
        s.records += entry.records
        s.uncompressed_bytes += entry.uncompressed_bytes
        s.compressed_bytes += entry.size
        s.segments += 1
        m.backup_compression_ratio.set(s.ratio, algo)
        elapsed = max(1e-6, time.monotonic() - (self.progress.started_at or self._started_at))
        topic_labels = {**self._labels, "topic": part.key[0]}
        m.backup_throughput_records_per_sec.set(s.records / elapsed, topic_labels)
        m.backup_throughput_bytes_per_sec.set(s.uncompressed_bytes / elapsed, topic_labels)

    @staticmethod
    def _tp_labels(tp: TP) -> dict[str, str]:
        return {"topic": tp[0], "partition": str(tp[1])}

    # ---- rebalance callbacks (run inside consume(), on this thread) ----------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.backup_consumer_rebalance_total.add(1, self._labels)
        try:
            positions = self._take_ownership(partitions)
        except BaseException as exc:  # an exception inside a librdkafka callback would be swallowed
            self._fatal = exc
            positions = []
        consumer.incremental_assign(positions)
        done = [TopicPartition(*p.key) for p in self.owned.values() if p.done]
        if done:
            consumer.pause(done)

    def _take_ownership(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        tps: list[TP] = [(tp.topic, tp.partition) for tp in partitions]
        assert self._cluster is not None
        # assigned by the coordinator, so they exist: a leader not serving them yet (a broker restart) is waited for
        log_starts = self._cluster.start_offsets([TopicPartition(*tp) for tp in tps], also=SETTLING_CODES)
        positions = []
        for tp in tps:
            key = manifest_key(self.backup_id, *tp)
            found = self.store.get_versioned(key, operation="manifest")
            manifest = PartitionManifest.from_json(found[0], key) if found is not None else None
            target = self.snapshot.target(*tp) if self.snapshot else None
            part = _Partition(
                manifest=manifest or PartitionManifest(self.backup_id, tp[0], tp[1], log_starts[tp], log_starts[tp]),
                target=target,
                version=found[1] if found is not None else None,
            )
            self.owned[tp] = part
            if manifest is None:
                self._store_manifest(part, part.manifest)
            else:
                self._record_retention_gap(part, log_starts[tp])
            if target is not None and part.manifest.next_offset >= target:
                part.done = True
            self.progress.assign(tp, part.manifest.next_offset, target, part.done)
            positions.append(TopicPartition(tp[0], tp[1], part.manifest.next_offset))
            log.debug(
                "partition_assigned",
                backup_id=self.backup_id,
                topic=tp[0],
                partition=tp[1],
                position=part.manifest.next_offset,
                target=target,
            )
        self.summary.partitions = max(self.summary.partitions, len(self.owned))
        # one line per rebalance at info (one per partition at debug): 23 partitions are not 23 lines of news
        log.info(
            "partitions_assigned",
            backup_id=self.backup_id,
            worker_id=self.worker_id.value if self.worker_id else None,
            waited_s=round(time.monotonic() - self._subscribed_at, 1) if self._subscribed_at else None,
            partitions=len(tps),
            topics=len({tp[0] for tp in tps}),
            resumed=sum(1 for tp in tps if self.owned[tp].manifest.segments),
            done=sum(1 for tp in tps if self.owned[tp].done),
            owned=len(self.owned),
        )
        return positions

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._rebalancing = True
        try:
            self._settle_revoked(consumer, partitions)
        finally:
            self._rebalancing = False

    def _settle_revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.backup_consumer_rebalance_total.add(1, self._labels)
        self._commit_kafka_offsets(synchronous=True, only=[(tp.topic, tp.partition) for tp in partitions])
        for tp in partitions:
            part = self.owned.pop((tp.topic, tp.partition), None)
            if part is None:
                continue
            try:
                if (part.chunks or part.flushes) and not self._storage_failing:
                    self._commit(part, part.last_offset + 1)
            except BackupError as exc:
                log.error("flush_on_revoke_failed", backup_id=self.backup_id, topic=tp.topic, error=str(exc))
                if not isinstance(exc, ConcurrentWriterError):
                    self._fatal = exc
            if not self._closing:
                # the partition moves to another worker, which reports its lag from now on; at shutdown the last
                # lag stays visible (0 when caught up) for the final scrape or export, and the progress its end
                self.metrics.lag.forget(self.backup_id, tp.topic, tp.partition)
                self.progress.release((tp.topic, tp.partition))
            log.debug("partition_revoked", backup_id=self.backup_id, topic=tp.topic, partition=tp.partition)
        if partitions:
            log.info("partitions_revoked", backup_id=self.backup_id, partitions=len(partitions), owned=len(self.owned))
        if partitions and consumer.assignment():
            consumer.incremental_unassign(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Lost (not revoked): another worker may already own them; drop the open segments without committing."""
        for tp in partitions:
            self.owned.pop((tp.topic, tp.partition), None)
            self._offsets_to_commit.pop((tp.topic, tp.partition), None)  # its new owner commits from now on
            self.metrics.lag.forget(self.backup_id, tp.topic, tp.partition)
            self.progress.release((tp.topic, tp.partition))
            log.warning("partition_lost", backup_id=self.backup_id, topic=tp.topic, partition=tp.partition)
        if partitions and consumer.assignment():
            consumer.incremental_unassign(partitions)

    # ---- snapshot bookkeeping ---------------------------------------------------------------------------------

    def _read_manifest(self, topic: str, partition: int) -> PartitionManifest | None:
        key = manifest_key(self.backup_id, topic, partition)
        try:
            return PartitionManifest.from_json(self.store.get(key, operation="manifest"), key)
        except StorageNotFoundError:
            return None

    def _load_or_start_snapshot(self, cluster: Cluster, topics: list[str]) -> Snapshot:
        key = snapshot_key(self.backup_id)
        found = self.store.get_versioned(key, operation="checkpoint")
        existing = Snapshot.from_json(found[0]) if found is not None else None
        if existing is not None and existing.status == "running" and sorted(existing.targets) == topics:
            log.info("snapshot_resumed", backup_id=self.backup_id, started_at=existing.started_at)
            return existing
        counts = cluster.topic_partitions()
        tps = [TopicPartition(t, p) for t in topics for p in range(counts[t])]
        ends = cluster.end_offsets(tps, read_committed=self.config.isolation == "read_committed")
        targets: dict[str, dict[str, int]] = {}
        for (topic, partition), end in ends.items():
            targets.setdefault(topic, {})[str(partition)] = end
        snapshot = Snapshot(self.backup_id, now_ms(), targets)
        try:
            self.store.put_if(key, snapshot.to_json(), operation="checkpoint", expect=found[1] if found else None)
        except PreconditionFailedError:
            # another worker started the snapshot at the same moment: all workers must share one set of targets
            return self._load_or_start_snapshot(cluster, topics)
        return snapshot

    def _snapshot_complete(self, force_check: bool = False) -> bool:
        """True when every snapshot partition reached its target (own partitions in memory, others on storage)."""
        assert self.snapshot is not None
        pending = [tp for tp in self.snapshot.partitions() if tp not in self._complete_remote]
        mine = [tp for tp in pending if tp in self.owned]
        if any(not self.owned[tp].done for tp in mine):
            return False
        others = [tp for tp in pending if tp not in self.owned]
        if not others:
            return True
        now = time.monotonic()
        if not force_check and now - self._last_remote_check < 1.0:
            return False
        self._last_remote_check = now
        for tp in others:
            manifest = self._read_manifest(*tp)
            target = self.snapshot.target(*tp)
            if manifest is None or target is None or manifest.next_offset < target:
                return False
            self._complete_remote.add(tp)
        return True

    def _finish_snapshot(self) -> None:
        assert self.snapshot is not None
        assert self._backup_manifest is not None
        self.store.put(
            snapshot_key(self.backup_id),
            replace(self.snapshot, status="complete").to_json(),
            operation="checkpoint",
        )
        manifest = self._backup_manifest
        self.store.put(
            backup_key(self.backup_id),
            replace(manifest, status="complete", completed_at=now_ms(), updated_at=now_ms()).to_json(),
            operation="manifest",
        )
        self._snapshot_finished = True
        log.info("snapshot_complete", backup_id=self.backup_id)

    def _finish_continuous(self) -> None:
        """A continuous run stopped cleanly: every record it read is committed. ``backup.json`` says ``stopped``
        unless another worker of the backup is still in the group (it writes ``stopped`` when it stops; a worker
        that dies leaves ``running``, so a crash is never mistaken for a clean stop)."""
        assert self._backup_manifest is not None
        assert self._cluster is not None
        group = f"kafka-backup.{self.backup_id}"
        try:
            futures = self._cluster.admin.describe_consumer_groups([group], request_timeout=self._cluster.timeout)
            members = futures[group].result(timeout=self._cluster.timeout).members or []
        except KafkaException as exc:
            log.warning("backup_state_not_written", backup_id=self.backup_id, state="stopped", error=str(exc))
            return
        # a static member stays in the group after a clean close, until its session expires: this worker is not
        # "another worker"
        others = [m for m in members if self._instance_id is None or m.group_instance_id != self._instance_id]
        if others:
            log.info("backup_state_left_running", backup_id=self.backup_id, other_workers=len(others))
            return
        stopped = now_ms()
        manifest = replace(self._backup_manifest, status="stopped", stopped_at=stopped, updated_at=stopped)
        self.store.put(backup_key(self.backup_id), manifest.to_json(), operation="manifest")
        log.info("backup_stopped_cleanly", backup_id=self.backup_id)

    def _write_backup_manifest(self, cluster: Cluster, topics: list[str]) -> None:
        cfg = self.config
        groups: dict[str, dict[str, dict[str, int]]] = {}
        if cfg.consumer_groups.capture:
            exclude = [*cfg.consumer_groups.exclude, "kafka-backup.*"]
            groups = cluster.group_offsets(topics, cfg.consumer_groups.include, exclude)
        key = backup_key(self.backup_id)
        try:
            existing: BackupManifest | None = BackupManifest.from_json(self.store.get(key, operation="manifest"))
        except StorageNotFoundError:
            existing = None
        manifest = BackupManifest(
            backup_id=self.backup_id,
            created_at=existing.created_at if existing else now_ms(),
            updated_at=now_ms(),
            topics=cluster.describe_topics(topics),
            consumer_groups=groups,
            compression=cfg.compression.codec,
            status="running",
            source_cluster_id=cluster.cluster_id(),
            mode=cfg.mode,
        )
        self.store.put(key, manifest.to_json(), operation="manifest")
        self._backup_manifest = manifest

    # ---- metrics and shutdown -----------------------------------------------------------------------------------

    def _update_lag(self) -> None:
        """Per partition, once per update interval: end offset (cached watermark) minus the next offset to back up."""
        if self.consumer is None:
            return
        behind = 0
        for tp, part in self.owned.items():
            try:
                _low, high = self.consumer.get_watermark_offsets(TopicPartition(*tp), cached=True)
            except KafkaException:
                continue
            if high < 0:
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

    def _shutdown(self) -> None:
        """Flush and commit every open segment, then close the consumer (bounded by ``shutdown_timeout_s``). A static
        member does not leave the group on close: its partitions stay its own for ``session_timeout_ms``, for the
        same worker to take back at once."""
        deadline = time.monotonic() + self.config.shutdown_timeout_s
        self._closing = True
        self._storage_failing = isinstance(sys.exc_info()[1], StorageError)
        self._update_lag()
        clean = sys.exc_info()[1] is None
        for part in list(self.owned.values()):
            if self._storage_failing or time.monotonic() >= deadline:
                clean = False
                log.warning(
                    "open_segments_not_flushed",
                    backup_id=self.backup_id,
                    reason="storage failing" if self._storage_failing else "shutdown timeout",
                    note="nothing is lost: the next run re-reads them from the manifest position",
                )
                break
            if part.chunks or part.flushes:
                try:
                    self._commit(part, part.last_offset + 1)
                except BackupError as exc:
                    clean = False
                    log.error("flush_on_shutdown_failed", backup_id=self.backup_id, topic=part.key[0], error=str(exc))
                    self._storage_failing = isinstance(exc, StorageError)
        if self._encoder is not None:
            self._encoder.shutdown(wait=True, cancel_futures=True)
        self._commit_kafka_offsets(synchronous=True)
        self._final_stats()
        if self.consumer is not None:
            try:
                self.consumer.close()
            except (KafkaException, RuntimeError) as exc:
                log.warning("consumer_close_failed", backup_id=self.backup_id, error=str(exc))
        self.owned.clear()
        self._all_committed = clean


def _write_segment(store: Store, key: str, chunks: list[pa.Table], **kwargs: Any) -> tuple[EncodedSegment, int]:
    """Step 1 of the commit protocol: encode the segment and store it; returns it without its bytes, and its size.

    ``chunks`` is emptied here, so the records are freed as soon as they are encoded; then Arrow's freed buffers go
    back to the OS (``RELEASE_ARROW_MEMORY``), which its allocator would otherwise keep on top of the memory bound.
    """
    table = pa.concat_tables(chunks)
    chunks.clear()
    segment = encode(table, **kwargs)
    del table
    if RELEASE_ARROW_MEMORY:
        pa.default_memory_pool().release_unused()
    store.put(key, segment.data, operation="segment")
    return replace(segment, data=b""), len(segment.data)


def run_backup(config: BackupConfig, **kwargs: Any) -> BackupSummary:
    """Back up what ``config`` selects; returns the summary. Library entry point of ``kafka-backup backup``."""
    return BackupRun(config, **kwargs).run()


def summary_json(summary: BackupSummary) -> str:
    return json.dumps(
        {
            "backup_id": summary.backup_id,
            "status": summary.status,
            "records": summary.records,
            "uncompressed_bytes": summary.uncompressed_bytes,
            "compressed_bytes": summary.compressed_bytes,
            "compression_ratio": round(summary.ratio, 3),
            "segments": summary.segments,
            "partitions": summary.partitions,
            "topics": summary.topics,
            "gaps": summary.gaps,
            "duration_seconds": round(summary.duration_s, 3),
            "working_seconds": round(summary.working_s, 3),
            "records_per_second": round(summary.records_per_sec, 1),
        }
    )
