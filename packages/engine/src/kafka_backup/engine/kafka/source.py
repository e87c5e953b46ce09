"""The backup's Kafka source: one consumer in the backup's group, delivering batches, rebalances and errors as data.

The consumer is the native one (:class:`kafka_backup.engine._native.NativeConsumer`, librdkafka driven from Rust):
the backup stage sees only :class:`KafkaSource`'s methods, partitions as ``(topic, partition)`` tuples, records as
one ``pyarrow.RecordBatch`` per partition in the segment schema (:data:`~kafka_backup.engine.format.segment.SCHEMA`),
and events (:class:`EndOfPartition`, :class:`OutOfRange`) in the order they followed the records.

What it keeps:

- The consumer joins ``group`` with cooperative-sticky assignment, never commits or stores offsets by itself and
  starts an unknown partition at the earliest offset; the backup seeks every assigned partition to its manifest's
  position (:meth:`RebalanceHandler.assigned`), so Kafka's committed offsets are informational only.
- Static membership: with an ``instance_id`` it joins as ``group.instance.id``, so a restarted worker takes its
  partitions back at once.
- Rebalance callbacks run inside :meth:`KafkaSource.consume` on the calling thread. An exception from
  ``assigned`` is kept by the native consumer, the partitions are not assigned, and the next consume raises it; it
  is kept in :attr:`KafkaSource.fatal` for the run to raise. A revoked or lost partition is unassigned after its
  handler returned.
- librdkafka's errors, statistics, commit results and log lines arrive as events of the native consumer's consume,
  on the consuming thread (never as callbacks from librdkafka's threads); log lines go to the kafka logger.
- librdkafka errors become the engine's errors: fencing of the static member is ``WORKER_ID_IN_USE``, a refused
  session timeout ``CONFIG_INVALID``, fatal and authentication errors their translation (all kept in ``fatal`` for
  the run to raise); transient ones join the run's outage (:class:`~kafka_backup.engine.kafka.outage.OutageGuard`),
  logged once by it; others are logged and ridden out.
- Offset commits that fail are logged (``kafka_offset_commit_failed``) and otherwise ignored: the manifest, not
  Kafka, is the source of truth.

Log events go to the logger the caller passes (the backup's, with its bound context), so they read as the stage's.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa
import structlog
from confluent_kafka import KafkaError, KafkaException

from kafka_backup.engine._native import KafkaClientError, NativeConsumer
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.errors import BackupError, ConfigError, WorkerIdInUseError
from kafka_backup.engine.kafka.admin import client_config_error, translate
from kafka_backup.engine.kafka.native_events import conf_value as _conf_value
from kafka_backup.engine.kafka.native_events import kafka_error as _error
from kafka_backup.engine.kafka.native_events import py_level as _py_level
from kafka_backup.engine.kafka.outage import OutageGuard
from kafka_backup.telemetry.logs import kafka_logger as client_logger

TP = tuple[str, int]
CONSUME_BATCH = 5_000
POLL_TIMEOUT_S = 0.25
PREFETCH_KBYTES = 8192
"""librdkafka's prefetch queue (``queued.max.messages.kbytes``)."""
FETCH_BUDGET_BYTES = 12 * 1024 * 1024
"""What the per-partition fetch size (``max.partition.fetch.bytes``) times the partitions may reach: each partition's
response buffers stay allocated until every record of them is consumed, so memory grows with partitions times the
fetch size, while few partitions go faster with bigger fetches (fewer round trips). Full-size bench, quiet machine
(500,000 x 1 KB; 1,000,000 x 1 KB): 256 KB -> 1 MB made 6 partitions 163.5 -> 188.1 MB/s (CPU 7.7 -> 6.9 s) and
cost peak RSS 225 -> 275 MB with 12 partitions, 258 -> 407 MB with 48."""
PARTITION_FETCH_BYTES = (256 * 1024, 1024 * 1024)
"""The per-partition fetch size's bounds: the budget shared by the partitions, at most librdkafka's default."""


def partition_fetch_bytes(partitions: int | None) -> int:
    """``max.partition.fetch.bytes`` for a run over ``partitions`` (None: unknown, the lower bound)."""
    low, high = PARTITION_FETCH_BYTES
    if not partitions:
        return low
    return max(low, min(high, FETCH_BUDGET_BYTES // partitions))


FETCH_QUEUE_BACKOFF_MS = 20
"""How soon librdkafka fetches again after its prefetch queue was full (its default, 1000, leaves the consumer idle)."""


@dataclass(frozen=True)
class EndOfPartition:
    """The consumer reached the end of ``tp``'s log: ``offset`` is the next offset to be written."""

    tp: TP
    offset: int


@dataclass(frozen=True)
class OutOfRange:
    """``tp``'s position is outside its log (fell below the log start: retention deleted what was not read yet)."""

    tp: TP


SourceEvent = EndOfPartition | OutOfRange


@dataclass
class Batch:
    """What one :meth:`KafkaSource.consume` call delivered: records per partition, then the events that followed."""

    records: dict[TP, pa.RecordBatch] = field(default_factory=dict)
    events: list[SourceEvent] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.records or self.events)


class RebalanceHandler(Protocol):
    """What the source's owner does when the group moves partitions (called inside :meth:`KafkaSource.consume`)."""

    def assigned(self, partitions: list[TP]) -> tuple[dict[TP, int], list[TP]]:
        """Take ``partitions``; returns the position to start each at and those to keep paused."""
        ...

    def revoked(self, partitions: list[TP]) -> None:
        """Settle ``partitions`` before they move to another worker."""
        ...

    def lost(self, partitions: list[TP]) -> None:
        """Drop ``partitions``: another worker may own them already."""
        ...


class KafkaSource:
    """The consumer of one backup worker (see the module docstring). Not thread-safe: one consuming thread."""

    def __init__(
        self,
        config: BackupConfig,
        *,
        guard: OutageGuard,
        log: structlog.stdlib.BoundLogger,
        instance_id: str | None,
        worker: str | None,
        stats_cb: Callable[[str], None] | None = None,
        kafka_logger: logging.Logger | None = None,
        partitions: int | None = None,
    ) -> None:
        """``partitions``: how many partitions the run backs up (sizes the fetches: :func:`partition_fetch_bytes`)."""
        self.config = config
        self._partitions = partitions
        self.group = f"kafka-backup.{config.backup_id}"
        self.guard = guard
        self.log = log
        self.instance_id = instance_id
        """The ``group.instance.id`` this worker joins with (static membership), None for a dynamic member."""
        self._worker = worker
        self._stats_cb = stats_cb
        self._kafka_logger = kafka_logger
        self._stats_at = float("-inf")
        """When librdkafka last delivered statistics (monotonic)."""
        self._stopped_at: float | None = None
        """When :meth:`stop_fetching` paused the partitions for the shutdown (monotonic)."""
        self.fatal: BaseException | None = None
        """The first error that must end the run, met inside a librdkafka callback (where raising would be lost)."""
        self._handler: RebalanceHandler | None = None
        self._client_id = f"kafka-backup-{socket.gethostname()}-{os.getpid()}"
        try:
            self._consumer = NativeConsumer(self._conf())
        except KafkaClientError as exc:
            raise client_config_error(KafkaException(_error(exc.code, str(exc)))) from None

    def _conf(self) -> dict[str, str]:
        cfg = self.config
        conf: dict[str, Any] = {
            **cfg.source.librdkafka(),
            "group.id": self.group,
            "client.id": self._client_id,
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
            "max.partition.fetch.bytes": partition_fetch_bytes(self._partitions),
            "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
            "fetch.max.bytes": 52428800,
        }
        if self.instance_id is not None:
            # static membership: a restarted worker takes its partitions back at once (see worker_id.py)
            conf["group.instance.id"] = self.instance_id
        if self._stats_cb is not None:
            conf["statistics.interval.ms"] = cfg.metrics.update_interval_ms
        conf.update({k: v for k, v in cfg.source.client_config.items() if k.startswith(("fetch.", "queued."))})
        return {k: _conf_value(v) for k, v in conf.items() if v is not None}

    # ---- consuming ----------------------------------------------------------------------------------------------

    def subscribe(self, topics: list[str], handler: RebalanceHandler) -> None:
        self._handler = handler
        self._consumer.subscribe(topics, handler)

    def consume(self) -> Batch:
        """One batch: records per partition (in offset order), then end-of-partition and out-of-range events; what
        librdkafka has queued at once, or, with nothing queued, what comes first within ``POLL_TIMEOUT_S``. Other
        events are translated, observed or logged here (see the module docstring)."""
        try:
            records, events = self._consumer.consume(CONSUME_BATCH, POLL_TIMEOUT_S)
        except KafkaClientError:
            raise
        except BaseException as exc:  # the rebalance handler's, kept by the native consumer until now
            self.fatal = self.fatal or exc
            return Batch()
        batch = Batch(records=records)
        for event in events:
            self._on_event(batch, event)
        return batch

    def _on_event(self, batch: Batch, event: tuple[Any, ...]) -> None:
        kind = event[0]
        if kind == "eof":
            batch.events.append(EndOfPartition((event[1], event[2]), event[3]))
        elif kind == "out_of_range":
            batch.events.append(OutOfRange((event[1], event[2])))
        elif kind == "error":
            self._on_error(_error(event[1], event[2], event[3]))
        elif kind == "commit":
            self._on_commit(event[1], event[2])
        elif kind == "stats":
            self._on_stats(event[1])
        elif kind == "log":
            logger = self._kafka_logger or client_logger("backup")
            logger.log(_py_level(event[1]), "%s [%s] %s", event[2], self._client_id, event[3])

    def seek(self, tp: TP, offset: int) -> None:
        self._consumer.seek(tp[0], tp[1], offset)

    def pause(self, partitions: Sequence[TP]) -> None:
        self._consumer.pause(list(partitions))

    def high_watermark(self, tp: TP) -> int | None:
        """The end offset librdkafka last saw for ``tp`` (no request); None when unknown."""
        return self._consumer.high_watermark(tp[0], tp[1])

    def commit(self, offsets: dict[TP, int], *, synchronous: bool) -> None:
        """Commit ``offsets`` to the group (informational: a failure is logged, never raised)."""
        if not offsets:
            return
        try:
            # a synchronous commit is bounded by the session timeout: past it the group has moved on anyway
            self._consumer.commit(offsets, synchronous, max(1.0, self.config.session_timeout_ms / 1000))
        except KafkaClientError as exc:
            # informational only (the manifest is the source of truth): a rebalance in progress may refuse it
            self._on_commit(exc.code, [])
            return
        if synchronous:
            self._on_commit(None, [])

    def stop_fetching(self) -> None:
        """Pause every assigned partition for the shutdown: nothing more is fetched, and the statistics librdkafka
        delivers from now on count every record this run consumed (:meth:`final_stats`). Called before the open
        segments are flushed, so that the next statistics interval passes while they are encoded and committed."""
        self._stopped_at = time.monotonic()
        try:
            self._consumer.pause(self._consumer.assignment())
        except (KafkaClientError, RuntimeError) as exc:
            self.log.debug("pause_on_shutdown_failed", error=str(exc))

    def final_stats(self) -> None:
        """Wait (at most one statistics interval, partitions paused) for librdkafka's statistics made after
        :meth:`stop_fetching` (or now): the client metrics then count every record this run consumed, also in a run
        shorter than one interval. Usually they came while the shutdown committed, and no wait is left."""
        if self._stats_cb is None:
            return
        if self._stopped_at is None:
            self.stop_fetching()
        asked = self._stopped_at if self._stopped_at is not None else time.monotonic()
        deadline = time.monotonic() + self.config.metrics.update_interval_ms / 1000 + 0.2
        try:
            while self._stats_at < asked and time.monotonic() < deadline:
                self.consume()  # delivers the statistics; paused partitions deliver no records
        except (KafkaClientError, RuntimeError) as exc:
            self.log.debug("final_client_stats_skipped", error=str(exc))

    def close(self, timeout_s: float) -> None:
        """Leave (a static member stays in the group until its session expires); revoke callbacks run first.

        Bounded by ``timeout_s``: librdkafka's close has no timeout of its own and can wait on a group coordinator
        that a broker stall left in the middle of a rebalance. Everything read is committed to storage before this
        (the manifests, not Kafka, are the truth), so a close that does not return in time is logged and abandoned
        on its thread, and the run finishes."""

        def close() -> None:
            try:
                self._consumer.close()
            except Exception as exc:  # librdkafka's, or a revoke handler's raised by the close after it left the group
                self.log.warning("consumer_close_failed", error=str(exc))

        closer = threading.Thread(target=close, name="consumer-close", daemon=True)
        closer.start()
        closer.join(timeout_s)
        if closer.is_alive():
            self.log.warning("consumer_close_timed_out", timeout_s=timeout_s, note="every record read is committed")

    # ---- librdkafka's events (delivered by consume(), on the consuming thread) -------------------------------------

    def _on_stats(self, stats: str) -> None:
        self._stats_at = time.monotonic()
        if self._stats_cb is not None:
            self._stats_cb(stats)

    def _on_error(self, error: KafkaError) -> None:
        if error.code() in (KafkaError.FENCED_INSTANCE_ID, KafkaError._FENCED):
            self.fatal = WorkerIdInUseError(
                f"another worker of backup {self.config.backup_id} joined with worker_id {self._worker!r}, so the "
                "broker fenced this one",
                hint="give each running worker its own worker_id, or leave it unset for a distinct default",
            )
            return
        if (refused := self._refused_join(error)) is not None:
            self.fatal = refused
            return
        if error.fatal() or error.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
            self.fatal = translate(KafkaException(error), None, "consume", self.config.source.bootstrap_servers)
        elif not self.guard.observe("fetch", error):  # transient ones are part of an outage, logged once by it
            # through the kafka logger: its RepeatFilter collapses the error librdkafka reports on every reconnect
            (self._kafka_logger or client_logger("backup")).warning(
                "kafka_client_error",
                extra={"backup_id": self.config.backup_id, "error": error.str(), "code": error.name()},
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

    def _on_commit(self, code: str | None, failed: list[tuple[str, int, str]]) -> None:
        error = _error(code, f"offset commit failed: {code}") if code is not None else None
        if error is None or not self.guard.observe("commit", error):
            self.guard.succeeded()  # the group coordinator answered (even a refusal proves the cluster is back)
        if error is not None or failed:
            # informational only (the manifest is the source of truth): a rebalance in progress may refuse it
            self.log.warning(
                "kafka_offset_commit_failed",
                error=code if code is not None else failed[0][2],
                partitions=[f"{t}-{p}" for t, p, _code in failed],
            )
