"""The backup's Kafka source: one consumer in the backup's group, delivering batches, rebalances and errors as data.

This is the seam a native consumer will plug into: the backup stage sees only :class:`Source`'s methods, partitions
as ``(topic, partition)`` tuples, records as :class:`~kafka_backup.engine.format.segment.KafkaMessage` batches per
partition, and events (:class:`EndOfPartition`, :class:`OutOfRange`) in the order they followed the records.

What it keeps:

- The consumer joins ``group`` with cooperative-sticky assignment, never commits or stores offsets by itself and
  starts an unknown partition at the earliest offset; the backup seeks every assigned partition to its manifest's
  position (:meth:`RebalanceHandler.assigned`), so Kafka's committed offsets are informational only.
- Static membership: with an ``instance_id`` it joins as ``group.instance.id``, so a restarted worker takes its
  partitions back at once.
- Rebalance callbacks run inside :meth:`KafkaSource.consume` on the calling thread. An exception from
  ``assigned`` would be lost inside librdkafka, so it is kept in :attr:`KafkaSource.fatal` and the partitions are
  not assigned; a revoked or lost partition is unassigned after its handler returned.
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

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.errors import BackupError, ConfigError, WorkerIdInUseError
from kafka_backup.engine.format.segment import KafkaMessage
from kafka_backup.engine.kafka.admin import translate
from kafka_backup.engine.kafka.outage import OutageGuard
from kafka_backup.telemetry.logs import kafka_logger as client_logger

TP = tuple[str, int]
CONSUME_BATCH = 5_000
POLL_TIMEOUT_S = 0.25
PREFETCH_KBYTES = 8192
"""librdkafka's prefetch queue (``queued.max.messages.kbytes``)."""
PARTITION_FETCH_BYTES = 256 * 1024
"""Per-partition bytes of one fetch response (``max.partition.fetch.bytes``): each partition's response buffers stay
allocated until every record of them is consumed, so memory grows with partitions times this."""
FETCH_QUEUE_BACKOFF_MS = 20
"""How soon librdkafka fetches again after its prefetch queue was full (its default, 1000, leaves the consumer idle)."""
GREEDY_CONSUME = 1
"""Take what librdkafka has queued instead of waiting for a full batch (see ``KafkaSource._consume``)."""


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

    records: dict[TP, list[KafkaMessage]] = field(default_factory=dict)
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


def _tps(partitions: Sequence[TP]) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t, p in partitions]


def _keys(partitions: list[TopicPartition]) -> list[TP]:
    return [(tp.topic, tp.partition) for tp in partitions]


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
    ) -> None:
        self.config = config
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
        self.fatal: BaseException | None = None
        """The first error that must end the run, met inside a librdkafka callback (where raising would be lost)."""
        self._handler: RebalanceHandler | None = None
        self._consumer = Consumer(self._conf())

    def _conf(self) -> dict[str, Any]:
        cfg = self.config
        conf: dict[str, Any] = {
            **cfg.source.librdkafka(),
            "group.id": self.group,
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
        if self.instance_id is not None:
            # static membership: a restarted worker takes its partitions back at once (see worker_id.py)
            conf["group.instance.id"] = self.instance_id
        if self._stats_cb is not None:
            conf["statistics.interval.ms"] = cfg.metrics.update_interval_ms
            conf["stats_cb"] = self._on_stats
        if self._kafka_logger is not None:
            conf["logger"] = self._kafka_logger
        conf.update({k: v for k, v in cfg.source.client_config.items() if k.startswith(("fetch.", "queued."))})
        return conf

    # ---- consuming ----------------------------------------------------------------------------------------------

    def subscribe(self, topics: list[str], handler: RebalanceHandler) -> None:
        self._handler = handler
        self._consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)

    def consume(self) -> Batch:
        """One batch: records grouped per partition (in offset order), then end-of-partition and out-of-range events;
        other errors are translated, observed or logged here (see the module docstring)."""
        batch = Batch()
        for msg in self._consume():
            err = msg.error()
            if err is None:
                batch.records.setdefault((msg.topic(), msg.partition()), []).append(msg)  # type: ignore[arg-type]
                continue
            where: TP = (msg.topic() or "", msg.partition() or 0)
            if err.code() == KafkaError._PARTITION_EOF:
                batch.events.append(EndOfPartition(where, msg.offset() or 0))
            elif err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                batch.events.append(OutOfRange(where))
            elif (refused := self._refused_join(err)) is not None:
                self.fatal = refused
            elif not self.guard.observe("fetch", err):
                self.log.warning("kafka_fetch_error", error=err.str(), code=err.name())
        return batch

    def _consume(self) -> list[Message]:
        """What is queued, at once; with nothing queued, wait for the first record only. (``consume(n, timeout)``
        waits for all ``n`` records, which never come while the prefetch queue holds fewer than ``n``.)"""
        if not GREEDY_CONSUME:
            return self._consumer.consume(CONSUME_BATCH, timeout=POLL_TIMEOUT_S)
        messages = self._consumer.consume(CONSUME_BATCH, timeout=0)
        if not messages:
            messages = self._consumer.consume(1, timeout=POLL_TIMEOUT_S)
            if messages:
                messages += self._consumer.consume(CONSUME_BATCH - 1, timeout=0)
        return messages

    def seek(self, tp: TP, offset: int) -> None:
        self._consumer.seek(TopicPartition(tp[0], tp[1], offset))

    def pause(self, partitions: Sequence[TP]) -> None:
        self._consumer.pause(_tps(partitions))

    def high_watermark(self, tp: TP) -> int | None:
        """The end offset librdkafka last saw for ``tp`` (no request); None when unknown."""
        try:
            _low, high = self._consumer.get_watermark_offsets(TopicPartition(*tp), cached=True)
        except KafkaException:
            return None
        return high if high >= 0 else None

    def commit(self, offsets: dict[TP, int], *, synchronous: bool) -> None:
        """Commit ``offsets`` to the group (informational: a failure is logged, never raised)."""
        if not offsets:
            return
        request = [TopicPartition(t, p, offset) for (t, p), offset in offsets.items()]
        try:
            if synchronous:
                self._consumer.commit(offsets=request, asynchronous=False)
            else:
                self._consumer.commit(offsets=request, asynchronous=True)
        except KafkaException as exc:
            # informational only (the manifest is the source of truth): a rebalance in progress may refuse it
            self.log.warning("kafka_offset_commit_failed", error=str(exc))

    def final_stats(self) -> None:
        """Wait (at most one statistics interval, partitions paused) for librdkafka's next statistics: the client
        metrics then count every record this run consumed, also in a run shorter than one interval."""
        if self._stats_cb is None:
            return
        asked = time.monotonic()
        deadline = asked + self.config.metrics.update_interval_ms / 1000 + 0.2
        try:
            self._consumer.pause(self._consumer.assignment())
            while self._stats_at < asked and time.monotonic() < deadline:
                self._consumer.poll(0.05)  # serves the callback; paused partitions deliver no records
        except (KafkaException, RuntimeError) as exc:
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
            except (KafkaException, RuntimeError) as exc:
                self.log.warning("consumer_close_failed", error=str(exc))

        closer = threading.Thread(target=close, name="consumer-close", daemon=True)
        closer.start()
        closer.join(timeout_s)
        if closer.is_alive():
            self.log.warning("consumer_close_timed_out", timeout_s=timeout_s, note="every record read is committed")

    # ---- librdkafka callbacks (served inside consume(), on the consuming thread) ----------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._handler is not None
        try:
            positions, paused = self._handler.assigned(_keys(partitions))
        except BaseException as exc:  # an exception inside a librdkafka callback would be swallowed
            self.fatal = exc
            positions, paused = {}, []
        consumer.incremental_assign([TopicPartition(t, p, offset) for (t, p), offset in positions.items()])
        if paused:
            consumer.pause(_tps(paused))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._handler is not None
        self._handler.revoked(_keys(partitions))
        if partitions and consumer.assignment():
            consumer.incremental_unassign(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._handler is not None
        self._handler.lost(_keys(partitions))
        if partitions and consumer.assignment():
            consumer.incremental_unassign(partitions)

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

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is None or not self.guard.observe("commit", error):
            self.guard.succeeded()  # the group coordinator answered (even a refusal proves the cluster is back)
        failed = [p for p in partitions if p.error is not None]
        if error is not None or failed:
            # informational only (the manifest is the source of truth): a rebalance in progress may refuse it
            self.log.warning(
                "kafka_offset_commit_failed",
                error=str(error if error is not None else failed[0].error),
                partitions=[f"{p.topic}-{p.partition}" for p in failed or partitions],
            )
