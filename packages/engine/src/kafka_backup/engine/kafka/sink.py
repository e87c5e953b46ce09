"""The producer side of a restore: an idempotent producer whose acknowledgements come back in production order.

Guarantees the restore builds on:

- ``enable.idempotence=true`` and ``acks=all`` are forced (a user's ``client_config`` cannot turn them off): a
  retried batch is never written twice, and records of one partition are written in the order they were produced;
- delivery reports of one partition arrive in production order, so :meth:`Sink.flush` can hand back, per target
  partition, the offsets the records got, in the order they were produced — no per-record bookkeeping object;
- any failed delivery fails the flush with a typed error (the restore stops; a rerun resumes);
- outages are ridden out by the producer itself (it reconnects and retries; idempotence keeps a retried batch from
  being written twice): ``message.timeout.ms`` covers ``target.outage_tolerance_s``, the run's
  :class:`~kafka_backup.engine.kafka.outage.OutageGuard` counts and logs the episode from the client's errors, and waits
  for delivery or queue room end with ``KAFKA_UNAVAILABLE`` once an outage outlasts the tolerance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from kafka_backup.engine.config.kafka import KafkaConfig
from kafka_backup.engine.config.restore import RateLimit
from kafka_backup.engine.errors import KafkaOperationError
from kafka_backup.engine.kafka.admin import ErrorTrap, translate
from kafka_backup.engine.kafka.outage import OutageGuard, OutagePolicy

log = structlog.get_logger(__name__)

TP = tuple[str, int]
HeaderList = list[tuple[str, str | bytes | None]]
FORCED = {"enable.idempotence": True, "acks": "all"}
FLUSH_STALL_S = 120.0
"""A flush gives up when no delivery report arrived for this long (the producer retries internally meanwhile), or
after the delivery timeout and some, when that is longer."""
DELIVERY_MARGIN_S = 30.0
"""``message.timeout.ms`` is at least the outage tolerance plus this (and never under librdkafka's 300 s default)."""


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
    """One idempotent producer for a restore run."""

    def __init__(
        self,
        target: KafkaConfig,
        *,
        client_id: str,
        rate: RateLimit | None = None,
        extra: Mapping[str, Any] | None = None,
        guard: OutageGuard | None = None,
    ) -> None:
        self.target = target
        self.trap = ErrorTrap()
        self.guard = guard or OutageGuard(OutagePolicy(tolerance_s=target.outage_tolerance_s))
        conf: dict[str, Any] = {
            "client.id": client_id,
            # a record waits in the producer (retried, written once: idempotent) through an outage of the tolerance
            "message.timeout.ms": int(max(300.0, target.outage_tolerance_s + DELIVERY_MARGIN_S) * 1000),
            "linger.ms": 20,
            "compression.type": "lz4",
            # records near the broker's message.max.bytes must pass the client; the broker still enforces its limit
            "message.max.bytes": 16 * 1024 * 1024,
            "queue.buffering.max.kbytes": 256 * 1024,
            "max.in.flight.requests.per.connection": 5,
            **target.librdkafka(),
            **(extra or {}),
        }
        overridden = {k: conf[k] for k in FORCED if k in conf and conf[k] != FORCED[k]}
        if overridden:
            log.warning("producer_setting_overridden", settings=sorted(overridden), reason="restore is idempotent")
        conf.update(FORCED)
        conf["error_cb"] = self._on_error
        self._stall_s = max(FLUSH_STALL_S, float(conf["message.timeout.ms"]) / 1000 + DELIVERY_MARGIN_S)
        self._stats_interval_ms = int(conf.get("statistics.interval.ms", 0))
        self._stats_events: list[int] | None = None
        if "stats_cb" in conf:  # count the reports (for close(final_stats=True))
            self._stats_events = events = [0]
            report = conf["stats_cb"]

            def counted(document: str) -> None:
                events[0] += 1
                report(document)

            conf["stats_cb"] = counted
        self.producer = Producer(conf)
        self.limiter = RateLimiter(rate or RateLimit())
        self._acked: dict[TP, list[int]] = {}
        """Offsets of acknowledged records per target partition, in report (= production) order."""
        self._failed: list[tuple[str, KafkaError]] = []
        self._reported = 0
        self._queued = 0
        """Records handed to the producer since the last flush; each gets exactly one delivery report."""
        self._chunk = self.limiter.chunk()

    def _on_error(self, error: KafkaError) -> None:
        self.trap(error)
        self.guard.observe("produce", error)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        # runs once per record: sorted into partitions here, so flush() hands the lists out as they are
        self._reported += 1
        if err is None:
            self._acked.setdefault((msg.topic(), msg.partition()), []).append(msg.offset())  # type: ignore[arg-type]
        else:
            self._failed.append((msg.topic() or "", err))

    def _wait(self, seconds: float) -> None:
        # serve delivery callbacks while waiting for the rate limit
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.producer.poll(min(left, 0.1))

    def _produce_when_room(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        timestamp: int,
        headers: HeaderList | None,
    ) -> None:
        """Queue one record once the producer's queue has room, serving delivery reports meanwhile."""
        while True:
            try:
                self.producer.produce(
                    topic,
                    value,
                    key,
                    partition,
                    on_delivery=self._on_delivery,
                    timestamp=timestamp,
                    headers=headers,
                )
                return
            except BufferError:
                self.guard.check()  # the queue stays full while the target is down
                self.producer.poll(0.05)

    def produce_columns(
        self,
        topic: str,
        indices: Iterable[int],
        *,
        partitions: Sequence[int],
        keys: Sequence[bytes | None],
        values: Sequence[bytes | None],
        timestamps: Sequence[int],
        headers: Sequence[HeaderList | None],
        sizes: Sequence[int],
    ) -> None:
        """Queue the records at ``indices`` of these columns, in order, asynchronously, in one loop without a Python
        call of ours per record (``timestamps`` of 0 let the producer stamp the time); paced by the rate limit."""
        produce = self.producer.produce
        report = self._on_delivery
        pending = list(indices)
        chunk = self._chunk if self.limiter.active else len(pending)
        for first in range(0, len(pending), max(1, chunk)):
            part = pending[first : first + chunk] if chunk < len(pending) else pending
            for i in part:
                try:
                    produce(
                        topic,
                        values[i],
                        keys[i],
                        partitions[i],
                        on_delivery=report,
                        timestamp=timestamps[i],
                        headers=headers[i],
                    )
                except BufferError:  # the producer's queue is full
                    try:
                        self._produce_when_room(topic, partitions[i], keys[i], values[i], timestamps[i], headers[i])
                    except KafkaException as exc:
                        raise self._error(exc, topic) from None
                except KafkaException as exc:
                    raise self._error(exc, topic) from None
            self._queued += len(part)
            if self.limiter.active:
                self.limiter.wait = self._wait
                self.limiter.account(len(part), sum(sizes[i] for i in part))

    def flush(self) -> dict[TP, list[int]]:
        """Wait for every queued record; their offsets per target partition in production order.

        Raises a typed error for the first failed delivery (the run must stop: later records may have been written
        while an earlier one was not, which only a resume can sort out).
        """
        # Delivery reports are the truth: the producer's queue length also counts events (statistics, errors) that
        # may arrive right after a flush, which once made a complete restore fail as "not acknowledged".
        stalled_since = time.monotonic()
        while self._reported < self._queued and not self.trap.auth_failed:
            self.guard.check()
            before = self._reported
            if self.producer.flush(1.0) == 0:
                self.producer.poll(0.05)
            if self._reported > before:
                stalled_since = time.monotonic()
            elif time.monotonic() - stalled_since > self._stall_s:
                break
        if self.trap.auth_failed:
            auth = KafkaException(KafkaError(KafkaError._AUTHENTICATION))
            raise translate(auth, self.trap, "produce", self.target.bootstrap_servers)
        out, failed, reported = self._acked, self._failed, self._reported
        self._acked, self._failed, self._reported = {}, [], 0
        missing = self._queued - reported
        self._queued = 0
        if failed:
            topic, err = failed[0]
            if err.code() == KafkaError._MSG_TIMED_OUT:  # undelivered for longer than the outage tolerance
                raise self.guard.unavailable("produce", err.name())
            raise self._error(KafkaException(err), topic)
        if missing > 0:
            raise KafkaOperationError(
                f"{missing} records were not acknowledged by the target cluster within {self._stall_s:.0f} s",
                hint="check the target cluster's health; a rerun resumes where this one stopped",
            )
        self.guard.succeeded()  # every record acknowledged: the target is back, if it was away
        return out

    def _error(self, exc: KafkaException, topic: str) -> Exception:
        err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        if err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            return KafkaOperationError(
                f"a record is larger than the target topic {topic} accepts",
                hint="raise max.message.bytes on the target topic (create_topics.configs) or the broker",
            )
        return translate(exc, self.trap, f"produce to {topic}", self.target.bootstrap_servers)

    def close(self, *, final_stats: bool = False) -> None:
        """Flush; with ``final_stats``, also serve the producer until its next statistics report (bounded by the
        interval), so statistics sent to ``stats_cb`` include the last records."""
        self.producer.flush(10.0)
        interval_s = float(self._stats_interval_ms) / 1000
        if final_stats and self._stats_events is not None and interval_s > 0:
            seen, deadline = self._stats_events[0], time.monotonic() + interval_s + 0.1
            while self._stats_events[0] == seen and time.monotonic() < deadline:
                self.producer.poll(0.02)
