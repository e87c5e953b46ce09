"""The producer side of a restore: an idempotent producer that queues records straight from Arrow batches
(:class:`kafka_backup.engine._native.NativeProducer`, librdkafka driven from Rust) and hands back the target offset of
every row of every batch.

Guarantees the restore builds on:

- ``enable.idempotence=true`` and ``acks=all`` are forced (a user's ``client_config`` cannot turn them off): a
  retried batch is never written twice, and records of one partition are written in the order they were produced;
- a batch is queued with one native call per chunk (no Python per record); the delivery reports are kept in Rust,
  and :meth:`Sink.flush` hands back, per batch, the target offset of every row (-1 for rows it skipped);
- any failed delivery fails the flush with a typed error (the restore stops; a rerun resumes);
- a producer that makes no progress (no delivery report) for ``no_progress_s`` while records are outstanding raises
  :class:`ProducerStuck`: the caller abandons it (:meth:`Sink.abandon`) and resumes with a new one. librdkafka can
  leave a partition without a leader for good after a transient ``leader -1`` in a produce response (a broker
  fenced by the KRaft controller after a stall: confluentinc/librdkafka#5430, open), and its records then wait for
  ``message.timeout.ms`` and fail; a new producer reads fresh metadata;
- outages are ridden out by the producer itself (it reconnects and retries; idempotence keeps a retried batch from
  being written twice): ``message.timeout.ms`` covers ``target.outage_tolerance_s``, the run's
  :class:`~kafka_backup.engine.kafka.outage.OutageGuard` counts and logs the episode from the client's errors, and waits
  for delivery or queue room end with ``KAFKA_UNAVAILABLE`` once an outage outlasts the tolerance;
- librdkafka's errors, statistics and log lines are events served on the calling thread (errors to the trap and the
  guard, statistics to ``stats_cb``, log lines to ``logger``, as the keys of ``extra`` name them), never printed.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import structlog
from confluent_kafka import KafkaError, KafkaException

from kafka_backup.engine._native import KafkaClientError, NativeProducer
from kafka_backup.engine.config.kafka import KafkaConfig
from kafka_backup.engine.config.restore import RateLimit
from kafka_backup.engine.errors import KafkaOperationError
from kafka_backup.engine.kafka.admin import ErrorTrap, client_config_error, translate
from kafka_backup.engine.kafka.native_events import conf_value, kafka_error, py_level
from kafka_backup.engine.kafka.outage import OutageGuard, OutagePolicy
from kafka_backup.telemetry.logs import kafka_logger

log = structlog.get_logger(__name__)

FORCED = {"enable.idempotence": True, "acks": "all"}
NO_PROGRESS_S = 30.0
"""A producer with records outstanding and no delivery report for this long is stuck (:class:`ProducerStuck`). Longer
than a healthy cluster ever takes to acknowledge a batch; a restart during a real outage is harmless (the resume
waits for the cluster within the outage tolerance)."""
DELIVERY_MARGIN_S = 30.0
"""``message.timeout.ms`` is at least the outage tolerance plus this (and never under librdkafka's 300 s default)."""
QUEUE_KBYTES = 16 * 1024
"""librdkafka's queue bound (``queue.buffering.max.kbytes``): records are copied into it, so it is most of the
producer's memory. Bench at scale 0.3 (6 partitions): peak RSS of the 1 KB restore 347 MB with confluent-kafka and
256 MB, 308 MB native with 64 MB, 263 MB with 16 MB (CPU 4.9 -> 3.6 s; records/s not lower)."""
ROOM_WAIT_S = 0.1
"""How long one native produce call waits for room in a full queue before the outage guard is checked."""


class ProducerStuck(Exception):
    """No delivery report for ``seconds`` while ``outstanding`` records wait: the producer must be replaced."""

    def __init__(self, outstanding: int, seconds: float) -> None:
        super().__init__(f"{outstanding} records without a delivery report for {seconds:.0f} s")
        self.outstanding = outstanding
        self.seconds = seconds


class _Stall:
    """How long a counter has not moved."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.since = time.monotonic()

    def seconds(self, value: int) -> float:
        now = time.monotonic()
        if value != self.value:
            self.value, self.since = value, now
        return now - self.since


class RateLimiter:
    """Keeps the cumulative rate at or under the limits: sleeps (through ``wait``) when ahead of schedule."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], None] = time.sleep,
    ) -> None:
        self.records_per_sec = limit.records_per_sec
        self.bytes_per_sec = limit.bytes_per_sec
        self.clock = clock
        self.wait = wait
        self.started = clock()
        self.records = 0
        self.bytes = 0

    @property
    def active(self) -> bool:
        return self.records_per_sec is not None or self.bytes_per_sec is not None

    def chunk(self) -> int:
        """How many records to send between checks (a tenth of a second's worth, at least one)."""
        if self.records_per_sec is None:
            return 500
        return max(1, min(500, int(self.records_per_sec / 10)))

    def account(self, records: int, nbytes: int) -> None:
        self.records += records
        self.bytes += nbytes
        due = 0.0
        if self.records_per_sec:
            due = max(due, self.records / self.records_per_sec)
        if self.bytes_per_sec:
            due = max(due, self.bytes / self.bytes_per_sec)
        ahead = due - (self.clock() - self.started)
        if ahead > 0:
            self.wait(ahead)


class Sink:
    """One idempotent producer for a restore run. Not thread-safe: one producing thread."""

    def __init__(
        self,
        target: KafkaConfig,
        *,
        client_id: str,
        rate: RateLimit | None = None,
        extra: Mapping[str, Any] | None = None,
        guard: OutageGuard | None = None,
        no_progress_s: float = NO_PROGRESS_S,
    ) -> None:
        self.target = target
        self.trap = ErrorTrap()
        self.guard = guard or OutageGuard(OutagePolicy(tolerance_s=target.outage_tolerance_s))
        self.client_id = client_id
        conf: dict[str, Any] = {
            "client.id": client_id,
            # a record waits in the producer (retried, written once: idempotent) through an outage of the tolerance
            "message.timeout.ms": int(max(300.0, target.outage_tolerance_s + DELIVERY_MARGIN_S) * 1000),
            "linger.ms": 20,
            "compression.type": "lz4",
            # records near the broker's message.max.bytes must pass the client; the broker still enforces its limit
            "message.max.bytes": 16 * 1024 * 1024,
            "queue.buffering.max.kbytes": QUEUE_KBYTES,
            "max.in.flight.requests.per.connection": 5,
            **target.librdkafka(),
            **(extra or {}),
        }
        overridden = {k: conf[k] for k in FORCED if k in conf and conf[k] != FORCED[k]}
        if overridden:
            log.warning("producer_setting_overridden", settings=sorted(overridden), reason="restore is idempotent")
        conf.update(FORCED)
        self._stats_cb: Callable[[str], None] | None = conf.pop("stats_cb", None)
        self._logger: logging.Logger = conf.pop("logger", None) or kafka_logger("restore")
        self.no_progress_s = no_progress_s
        self._stats_interval_ms = int(conf.get("statistics.interval.ms", 0))
        self._stats_events = 0
        try:
            self.producer = NativeProducer({k: conf_value(v) for k, v in conf.items() if v is not None})
        except KafkaClientError as exc:
            raise client_config_error(KafkaException(kafka_error(exc.code, str(exc)))) from None
        self.limiter = RateLimiter(rate or RateLimit())
        self._chunk = self.limiter.chunk()
        self._ids = itertools.count(1)
        self._pending: dict[int, str] = {}
        """Batches produced since the last flush, and their topics."""
        self._abandoned = False

    # ---- librdkafka's events (served on the producing thread) ----------------------------------------------------

    def _serve(self, events: list[Any]) -> None:
        for event in events:
            kind = event[0]
            if kind == "error":
                self._on_error(kafka_error(event[1], event[2], event[3]))
            elif kind == "stats":
                self._stats_events += 1
                if self._stats_cb is not None:
                    self._stats_cb(event[1])
            elif kind == "log":
                self._logger.log(py_level(event[1]), "%s [%s] %s", event[2], self.client_id, event[3])

    def _on_error(self, error: KafkaError) -> None:
        self.trap(error)
        self.guard.observe("produce", error)

    def _wait(self, seconds: float) -> None:
        # serve delivery reports and events while waiting for the rate limit
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._serve(self.producer.poll(min(left, 0.1)))

    # ---- producing ---------------------------------------------------------------------------------------------

    def produce_batch(self, topic: str, records: pa.RecordBatch, partitions: pa.Array) -> int:
        """Queue every row of ``records`` (segment schema) to ``topic`` at its ``partitions[i]`` (int32; -1: skip the
        row), in row order, asynchronously; paced by the rate limit. Returns the batch's id for :meth:`flush`."""
        batch_id = next(self._ids)
        self._pending[batch_id] = topic
        n = records.num_rows
        chunk = max(1, self._chunk) if self.limiter.active else max(1, n)
        start = 0
        stall: _Stall | None = None
        while start < n:
            end = min(n, start + chunk)
            try:
                start, queued, nbytes, events = self.producer.produce(
                    topic, records, partitions, batch_id, start, end - start, ROOM_WAIT_S
                )
            except KafkaClientError as exc:
                self._serve(self.producer.poll(0))  # what was served before the refusal (errors: the trap)
                raise self._error(exc.code, str(exc), exc.fatal, topic) from None
            self._serve(events)
            if start < end:  # no room: the queue stays full while the target is down, or the producer is stuck
                self.guard.check()
                stall = stall or _Stall(self.producer.reported())
                self._check_stuck(stall)
            else:
                stall = None
            if self.limiter.active and queued:
                self.limiter.wait = self._wait
                self.limiter.account(queued, nbytes)
        return batch_id

    def flush(self) -> dict[int, pa.Int64Array]:
        """Wait for every queued record; the target offset of every row per batch id (-1 for skipped rows).

        Raises a typed error for the first failed delivery (the run must stop: later records may have been written
        while an earlier one was not, which only a resume can sort out).
        """
        # Delivery reports are the truth: counted in Rust per record queued, not librdkafka's queue length (which also
        # counts events such as statistics that may arrive right after a flush)
        stall = _Stall(self.producer.reported())
        while self.producer.outstanding() > 0 and not self.trap.auth_failed:
            self.guard.check()
            self._serve(self.producer.flush(1.0))
            self._check_stuck(stall)
        if self.trap.auth_failed:
            auth = KafkaException(KafkaError(KafkaError._AUTHENTICATION))
            raise translate(auth, self.trap, "produce", self.target.bootstrap_servers)
        pending, self._pending = self._pending, {}
        out: dict[int, pa.Int64Array] = {}
        for batch_id, topic in pending.items():
            offsets, failures = self.producer.take(batch_id)  # every report is in: nothing is outstanding
            if failures:
                _row, code, message = failures[0]
                if code == "_MSG_TIMED_OUT":  # undelivered for longer than the outage tolerance
                    raise self.guard.unavailable("produce", code)
                raise self._error(code, message, False, topic)
            out[batch_id] = offsets
        self.guard.succeeded()  # every record acknowledged: the target is back, if it was away
        return out

    def _check_stuck(self, stall: _Stall) -> None:
        outstanding = self.producer.outstanding()
        seconds = stall.seconds(self.producer.reported())
        if outstanding > 0 and seconds > self.no_progress_s:
            raise ProducerStuck(outstanding, seconds)

    def _error(self, code: str, message: str, fatal: bool, topic: str) -> Exception:
        if code == "MSG_SIZE_TOO_LARGE":
            return KafkaOperationError(
                f"a record is larger than the target topic {topic} accepts",
                hint="raise max.message.bytes on the target topic (create_topics.configs) or the broker",
            )
        exc = KafkaException(kafka_error(code, message, fatal))
        return translate(exc, self.trap, f"produce to {topic}", self.target.bootstrap_servers)

    def close(self, *, final_stats: bool = False) -> None:
        """Flush (at most 10 s), then close the producer; with ``final_stats``, first serve it until its next
        statistics report (bounded by the interval), so statistics sent to ``stats_cb`` include the last records.
        Nothing to do once abandoned."""
        if self._abandoned:
            return
        self._serve(self.producer.flush(10.0))
        interval_s = float(self._stats_interval_ms) / 1000
        if final_stats and self._stats_cb is not None and interval_s > 0:
            seen, deadline = self._stats_events, time.monotonic() + interval_s + 0.1
            while self._stats_events == seen and time.monotonic() < deadline:
                self._serve(self.producer.poll(0.02))
        self.producer.close()

    def abandon(self) -> None:
        """Close at once, dropping what is queued or in flight (a stuck producer: its records are found in the target
        or produced again by the caller's resume). Nothing more is sent once this returns."""
        self._pending = {}
        self._abandoned = True
        self.producer.close()
