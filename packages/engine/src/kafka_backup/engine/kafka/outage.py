"""Riding out Kafka outages: the one retry helper behind every Kafka call of a backup or restore run.

A run shares one :class:`OutageGuard` between its admin calls (through
:class:`~kafka_backup.engine.kafka.admin.Cluster`), its consumer (backup) and its producer (restore). Rules it keeps:

- Only *transient* failures are retried: the connection (transport errors, all brokers down, timeouts) and
  leadership moving after a broker restart (not leader, leader not available, fenced or unknown leader epoch, a
  coordinator loading or moving). Authentication, authorization and request errors surface at once.
- Only once the run has reached the cluster: before the first successful call a failure surfaces at once, so a
  wrong address still fails with ``KAFKA_CONNECTION_FAILED`` within ``connect_timeout_s``, not after minutes.
- An *outage* (episode) starts at the first transient failure and ends at the next success of any Kafka call of the
  run. It may last ``outage_tolerance_s`` (the cluster's config key): past that the run fails with
  ``KAFKA_UNAVAILABLE``, naming the operation, the last error and the key to raise.
- Waits between attempts double from :attr:`OutagePolicy.initial_delay_s` up to :attr:`OutagePolicy.max_delay_s`,
  with jitter, and never run past the outage's deadline.
- One warning when an outage starts, one info when it ends (its duration, attempts and operations); never a line
  per attempt. Every retry is reported to ``on_retry(operation, reason)`` (the ``kafka_backup_retries_total``
  counter), ``reason`` being librdkafka's error name (``_TRANSPORT``, ``FENCED_LEADER_EPOCH``, ...).

Retrying a call never duplicates data: admin calls are reads, or idempotent (creating a topic that exists is
accepted by the caller); the restore's producer is idempotent with ``acks=all``, so its own internal retries within
``message.timeout.ms`` (set to cover the tolerance, see :mod:`~kafka_backup.engine.kafka.sink`) are written once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from confluent_kafka import KafkaError, KafkaException

from kafka_backup.engine.errors import KafkaConnectionError, KafkaUnavailableError

if TYPE_CHECKING:
    from kafka_backup.engine.config.kafka import KafkaConfig
    from kafka_backup.telemetry.catalog import Metrics

log = structlog.get_logger(__name__)

T = TypeVar("T")

TRANSIENT_CODES = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError._TIMED_OUT_QUEUE,
        KafkaError._WAIT_COORD,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.KAFKA_STORAGE_ERROR,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.REPLICA_NOT_AVAILABLE,
        KafkaError.OFFSET_NOT_AVAILABLE,
    }
)
"""librdkafka and broker error codes that a broker restart, a stall or a leader election produce."""


ACTIONS = {
    "metadata": "list topics",
    "list_offsets": "list offsets",
    "describe_topics": "describe topics",
    "describe_cluster": "describe the cluster",
    "group_offsets": "read consumer-group offsets",
    "create_topics": "create topics",
    "describe_groups": "describe consumer groups",
    "alter_group_offsets": "commit consumer-group offsets",
    "fetch": "consume",
    "produce": "produce",
}
"""What each operation label (of ``kafka_backup_retries_total``) does, in words for messages."""


def action(operation: str) -> str:
    return ACTIONS.get(operation, operation.replace("_", " "))


def _kafka_error(exc: BaseException | KafkaError) -> KafkaError | None:
    if isinstance(exc, KafkaError):
        return exc
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def transient_reason(exc: BaseException | KafkaError, also: Collection[int] = ()) -> str | None:
    """The reason label when ``exc`` is a transient Kafka failure (``also``: more codes the caller knows to be
    transient), else None."""
    err = _kafka_error(exc)
    if err is not None:
        if err.fatal():
            return None
        if err.code() in TRANSIENT_CODES or err.code() in also or err.retriable():
            return str(err.name())
        return None
    if isinstance(exc, TimeoutError):  # a future's result(timeout=...) ran out before librdkafka's request did
        return "_TIMED_OUT"
    if isinstance(exc, KafkaConnectionError | KafkaUnavailableError):
        return exc.code
    return None


@dataclass(frozen=True)
class OutagePolicy:
    """How long and how patiently a run retries a cluster that became unavailable."""

    tolerance_s: float = 180.0
    """Longest outage ridden out (the ``outage_tolerance_s`` config key); 0 retries nothing."""
    initial_delay_s: float = 0.25
    max_delay_s: float = 5.0


@dataclass
class _Episode:
    started: float
    deadline: float
    operation: str
    reason: str
    attempts: int = 0
    operations: set[str] = field(default_factory=set)
    next_probe: float = 0.0


class OutageGuard:
    """Retries transient Kafka failures of one run through outages bounded by ``policy.tolerance_s``.

    Thread-safe: librdkafka callbacks (``error_cb``) report into it from inside ``poll``/``consume``/``flush``.
    """

    def __init__(
        self,
        policy: OutagePolicy | None = None,
        *,
        key: str = "outage_tolerance_s",
        on_retry: Callable[[str, str], None] | None = None,
        stop: threading.Event | None = None,
        **context: Any,
    ) -> None:
        """``key`` names the config key of the tolerance in messages (``source.outage_tolerance_s``); ``stop`` ends
        a wait early (the last error is raised); ``context`` is bound to the log events (``backup_id``, ...)."""
        self.policy = policy or OutagePolicy()
        self.key = key
        self.on_retry = on_retry
        self.stop = stop
        self.context = context
        self.reached = False
        """Set by the first successful call: from then on transient failures are retried."""
        self.retries = 0
        self._episode: _Episode | None = None
        self._lock = threading.Lock()

    @property
    def in_outage(self) -> bool:
        return self._episode is not None

    # ---- the three ways in: a call to retry, a failure seen elsewhere, a success ---------------------------------

    def call(
        self,
        operation: str,
        fn: Callable[[], T],
        *,
        also: Collection[int] = (),
        before_retry: Callable[[], None] | None = None,
    ) -> T:
        """``fn()``, retried while it fails transiently within the outage bound; other failures are raised as they
        are (the caller translates them), and so is the last one when ``stop`` is set during a wait.
        ``before_retry`` runs before each new attempt (a metadata refresh: see ``Cluster.call``)."""
        while True:
            try:
                result = fn()
            except (KafkaException, TimeoutError, KafkaConnectionError) as exc:
                reason = transient_reason(exc, also)
                if reason is None or not self.reached or self.policy.tolerance_s <= 0:
                    raise
                delay = self._failed(operation, reason, exc)
                if self.stop is not None and self.stop.wait(delay):
                    raise
                if self.stop is None:
                    time.sleep(delay)
                if before_retry is not None:
                    before_retry()
                continue
            self.succeeded()
            return result

    def observe(self, operation: str, error: KafkaError) -> bool:
        """A failure reported asynchronously (a client's ``error_cb``, a fetch error event): True when it is
        transient and part of an outage (counted, and logged when it starts one). Never raises: callbacks run
        inside librdkafka, so the run's loop calls :meth:`check` to enforce the bound."""
        reason = transient_reason(error)
        if reason is None or not self.reached or self.policy.tolerance_s <= 0:
            return False
        self._count(operation, reason)
        return True

    def succeeded(self) -> None:
        """The cluster answered (a call succeeded, or a broker replied even with an error of its own): it is
        reachable; an outage in progress ends here."""
        with self._lock:
            self.reached = True
        self._end(resolved=True)

    def close(self) -> None:
        """The run is over: an outage still in progress is logged as ended, unresolved (the run finished without
        needing the cluster again, e.g. every record was already fetched)."""
        self._end(resolved=False)

    def _end(self, *, resolved: bool) -> None:
        with self._lock:
            episode, self._episode = self._episode, None
        if episode is not None:
            log.info(
                "kafka_outage_ended",
                **self.context,
                resolved=resolved,
                duration_s=round(time.monotonic() - episode.started, 3),
                attempts=episode.attempts,
                operations=sorted(episode.operations),
                last_reason=episode.reason,
            )

    def check(self) -> None:
        """Raise ``KAFKA_UNAVAILABLE`` when the outage in progress has lasted longer than the tolerance."""
        episode = self._episode
        if episode is not None and time.monotonic() >= episode.deadline:
            raise self.unavailable(episode.operation, episode.reason)

    def probe(self, operation: str, fn: Callable[[], object]) -> None:
        """During an outage, when the next attempt is due, try ``fn`` once (a cheap request such as metadata):
        success ends the outage, a transient failure counts as a retry. For loops that must keep serving a client
        (the consumer) instead of waiting in :meth:`call`. Raises when the bound is passed."""
        episode = self._episode
        if episode is None:
            return
        self.check()
        if time.monotonic() < episode.next_probe:
            return
        try:
            fn()
        except (KafkaException, TimeoutError, KafkaConnectionError) as exc:
            reason = transient_reason(exc)
            if reason is None:
                raise
            self._failed(operation, reason, exc)
            return
        self.succeeded()

    def unavailable(self, operation: str, reason: str) -> KafkaUnavailableError:
        """The error of an outage longer than the tolerance."""
        episode = self._episode
        lasted = time.monotonic() - episode.started if episode is not None else 0.0
        return KafkaUnavailableError(
            f"Kafka stayed unavailable for {lasted:.0f} s while trying to {action(operation)} "
            f"(last error: {reason}); {self.key} is {self.policy.tolerance_s:g} s",
            hint=f"check the cluster's health; raise {self.key} to ride out longer outages; a rerun resumes",
        )

    # ---- bookkeeping -------------------------------------------------------------------------------------------

    def _count(self, operation: str, reason: str) -> _Episode:
        now = time.monotonic()
        with self._lock:
            started = self._episode is None
            if self._episode is None:
                self._episode = _Episode(now, now + self.policy.tolerance_s, operation, reason)
            episode = self._episode
            episode.attempts += 1
            episode.operation, episode.reason = operation, reason
            episode.operations.add(operation)
            self.retries += 1
        if started:
            log.warning(
                "kafka_outage_started",
                **self.context,
                operation=operation,
                reason=reason,
                tolerance_s=self.policy.tolerance_s,
                note=f"retrying with backoff for up to {self.key}",
            )
        if self.on_retry is not None:
            self.on_retry(operation, reason)
        return episode

    def _failed(self, operation: str, reason: str, exc: BaseException) -> float:
        """Count a failed attempt; the wait before the next one (raises past the bound)."""
        episode = self._count(operation, reason)
        now = time.monotonic()
        if now >= episode.deadline:
            raise self.unavailable(operation, reason) from exc
        base = min(self.policy.max_delay_s, self.policy.initial_delay_s * 2.0 ** min(episode.attempts - 1, 30))
        delay = min(base * random.uniform(0.5, 1.0), episode.deadline - now)  # noqa: S311 - jitter, not crypto
        episode.next_probe = now + delay
        return delay


def run_guard(
    cluster: KafkaConfig,
    role: str,
    metrics: Metrics,
    *,
    backup_id: str,
    stop: threading.Event | None = None,
    **context: Any,
) -> OutageGuard:
    """The guard of a backup (``role`` ``source``) or restore (``target``) run: the tolerance of that cluster's
    config, every retry counted in ``kafka_backup_retries_total{backup_id, operation, reason}``."""
    counter = metrics.backup_retries_total

    def on_retry(operation: str, reason: str) -> None:
        counter.add(1, {"backup_id": backup_id, "operation": operation, "reason": reason})

    return OutageGuard(
        OutagePolicy(tolerance_s=cluster.outage_tolerance_s),
        key=f"{role}.outage_tolerance_s",
        on_retry=on_retry,
        stop=stop,
        backup_id=backup_id,
        **context,
    )
