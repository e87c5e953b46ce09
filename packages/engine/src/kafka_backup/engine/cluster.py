"""Cluster-level Kafka operations through the AdminClient: connect, select topics, describe, offsets, groups.

librdkafka reports problems as error codes in callbacks and exceptions; this module turns them into the engine's
typed errors (``KAFKA_CONNECTION_FAILED`` within the configured connection timeout, never a hang). Every admin call
goes through the run's :class:`~kafka_backup.engine.outage.OutageGuard`, so once the cluster was reached, a broker
restart or stall is retried for up to ``outage_tolerance_s`` instead of failing the run.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata, ConfigResource, ConfigSource, OffsetSpec

from kafka_backup.engine.config import KafkaConfig
from kafka_backup.engine.errors import KafkaAuthError, KafkaConnectionError, KafkaOperationError, NoTopicsMatchedError
from kafka_backup.engine.manifest import TopicInfo
from kafka_backup.engine.outage import OutageGuard, OutagePolicy, action

T = TypeVar("T")

_AUTH_CODES = {
    KafkaError._AUTHENTICATION,
    KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}
_CONNECTION_CODES = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT, KafkaError._RESOLVE}


def compile_patterns(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    """Globs, or regexes when prefixed with ``re:``; both match the whole name."""
    out = []
    for p in patterns:
        out.append(re.compile(p[3:]) if p.startswith("re:") else re.compile(fnmatch.translate(p)))
    return out


@dataclass(frozen=True)
class Selection:
    topics: list[str]
    unmatched_patterns: list[str]


def select(names: Iterable[str], include: list[str], exclude: list[str], include_internal: bool) -> Selection:
    inc = compile_patterns(include)
    exc = compile_patterns(exclude)
    candidates = sorted(n for n in names if include_internal or not n.startswith("__"))
    chosen = [n for n in candidates if any(p.fullmatch(n) for p in inc) and not any(p.fullmatch(n) for p in exc)]
    unmatched = [raw for raw, p in zip(include, inc, strict=True) if not any(p.fullmatch(n) for n in candidates)]
    return Selection(chosen, unmatched)


class ErrorTrap:
    """librdkafka ``error_cb``: keeps the last error so a failed call can say *why* (auth vs. unreachable)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last: KafkaError | None = None
        self.auth_failed = False

    def __call__(self, error: KafkaError) -> None:
        with self._lock:
            self.last = error
            if error.code() in _AUTH_CODES:
                self.auth_failed = True


def translate(exc: KafkaException, trap: ErrorTrap | None, action: str, bootstrap: str) -> Exception:
    """A typed engine error for a librdkafka failure."""
    err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    code = err.code() if err else None
    if (trap and trap.auth_failed) or code in _AUTH_CODES:
        return KafkaAuthError(
            f"Kafka rejected the credentials while trying to {action} at {bootstrap}",
            hint="check source.security (protocol, sasl_mechanism, sasl_username, sasl_password)",
        )
    if code in _CONNECTION_CODES or (trap and trap.last and trap.last.code() in _CONNECTION_CODES):
        return KafkaConnectionError(
            f"cannot reach Kafka at {bootstrap} to {action}",
            hint="check bootstrap_servers, the network and the security protocol",
        )
    reason = err.str() if err else str(exc)
    return KafkaOperationError(f"Kafka request failed while trying to {action}: {reason}")


class Cluster:
    """An AdminClient with typed errors and outages ridden out; one per run.

    ``guard``: the run's outage guard, shared with its consumer or producer (one outage, one log episode); by default
    a guard of its own with the tolerance of ``config``."""

    def __init__(
        self, config: KafkaConfig, extra: Mapping[str, Any] | None = None, *, guard: OutageGuard | None = None
    ) -> None:
        self.config = config
        self.trap = ErrorTrap()
        conf: dict[str, Any] = {**config.librdkafka(), **(extra or {}), "error_cb": self.trap}
        self.admin = AdminClient(conf)
        self.timeout = config.connect_timeout_s
        self.guard = guard or OutageGuard(OutagePolicy(tolerance_s=config.outage_tolerance_s))

    def _fail(self, exc: KafkaException, action: str) -> Exception:
        # error_cb is served by poll(): drain it so an authentication failure is told apart from a timeout
        self.admin.poll(0.1)
        return translate(exc, self.trap, action, self.config.bootstrap_servers)

    def call(self, operation: str, fn: Callable[[], T], *, also: Collection[int] = ()) -> T:
        """``fn()`` (raw librdkafka calls) through the outage guard; what is not ridden out becomes a typed error.
        ``operation`` labels the retries (``metadata``, ``list_offsets``, ...); ``also``: more transient codes."""
        try:
            return self.guard.call(operation, fn, also=also, before_retry=self.refresh_metadata)
        except KafkaException as exc:
            raise self._fail(exc, action(operation)) from None
        except TimeoutError:
            raise self._fail(KafkaException(KafkaError(KafkaError._TIMED_OUT)), action(operation)) from None

    def refresh_metadata(self) -> None:
        """Before a retry: the AdminClient sends ListOffsets with the leader epochs it has cached and does not refresh
        them on FENCED_LEADER_EPOCH, so after a broker restart every retry would fail the same way; a metadata
        request updates the cache (measured with librdkafka 2.16 against a restarted KRaft broker)."""
        with contextlib.suppress(KafkaException, TimeoutError):  # still unavailable: the next attempt says so
            self.admin.list_topics(timeout=self.timeout)

    def metadata(self) -> ClusterMetadata:
        return self.call("metadata", lambda: self.admin.list_topics(timeout=self.timeout))

    def probe(self) -> None:
        """During an outage, one cheap metadata request when the next attempt is due (see ``OutageGuard.probe``)."""
        self.guard.probe("metadata", lambda: self.admin.list_topics(timeout=min(2.0, self.timeout)))

    def topic_partitions(self) -> dict[str, int]:
        """Topic → partition count; raises KAFKA_CONNECTION_FAILED within ``connect_timeout_s``."""
        metadata = self.metadata()
        self.admin.poll(0)
        if self.trap.auth_failed:
            raise self._fail(KafkaException(KafkaError(KafkaError._AUTHENTICATION)), "list topics")
        return {name: len(t.partitions) for name, t in metadata.topics.items() if t.error is None}

    def cluster_id(self) -> str | None:
        try:
            result = self.guard.call(
                "describe_cluster",
                lambda: self.admin.describe_cluster(request_timeout=self.timeout).result(timeout=self.timeout),
                before_retry=self.refresh_metadata,
            )
        except (KafkaException, TimeoutError):
            return None
        return str(result.cluster_id) if result.cluster_id else None

    def select_topics(self, include: list[str], exclude: list[str], include_internal: bool) -> Selection:
        existing = self.topic_partitions()
        selection = select(existing, include, exclude, include_internal)
        if not selection.topics:
            raise NoTopicsMatchedError(
                f"no topic matches include={include} exclude={exclude} ({len(existing)} topics on the cluster)",
                hint="fix topics.include / topics.exclude (globs, or regexes prefixed with 're:')",
            )
        return selection

    def describe_topics(self, topics: list[str]) -> dict[str, TopicInfo]:
        """Partition count, replication factor and non-default (dynamic) configs of each topic."""
        return self.call("describe_topics", lambda: self._describe_topics(topics))

    def _describe_topics(self, topics: list[str]) -> dict[str, TopicInfo]:
        metadata = self.admin.list_topics(timeout=self.timeout)
        resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics]
        futures = self.admin.describe_configs(resources, request_timeout=self.timeout) if resources else {}
        out: dict[str, TopicInfo] = {}
        for resource, future in futures.items():
            entries = future.result(timeout=self.timeout)
            configs = {
                name: str(entry.value)
                for name, entry in entries.items()
                if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and entry.value is not None
            }
            parts = metadata.topics[resource.name].partitions
            rf = min((len(p.replicas) for p in parts.values()), default=1)
            out[resource.name] = TopicInfo(partitions=len(parts), replication_factor=rf, configs=configs)
        return out

    def offsets(
        self,
        partitions: list[TopicPartition],
        spec: OffsetSpec,
        read_committed: bool = True,
        *,
        also: Collection[int] = (),
    ) -> dict[tuple[str, int], int]:
        """List offsets (``OffsetSpec.latest()`` gives the last stable offset under read_committed); ``also``: codes
        to retry besides the transient ones (a fresh topic's leaders settling)."""
        if not partitions:
            return {}
        level = IsolationLevel.READ_COMMITTED if read_committed else IsolationLevel.READ_UNCOMMITTED
        return self.call("list_offsets", lambda: self._list_offsets_once(partitions, spec, level), also=also)

    def _list_offsets_once(
        self, partitions: list[TopicPartition], spec: OffsetSpec, level: IsolationLevel
    ) -> dict[tuple[str, int], int]:
        """One ListOffsets request, raw librdkafka errors (for :meth:`call`)."""
        futures = self.admin.list_offsets(
            dict.fromkeys(partitions, spec), isolation_level=level, request_timeout=self.timeout
        )
        return {(tp.topic, tp.partition): f.result(timeout=self.timeout).offset for tp, f in futures.items()}

    def end_offsets(self, partitions: list[TopicPartition], read_committed: bool) -> dict[tuple[str, int], int]:
        return self.offsets(partitions, OffsetSpec.latest(), read_committed)  # type: ignore[no-untyped-call]

    def start_offsets(self, partitions: list[TopicPartition]) -> dict[tuple[str, int], int]:
        return self.offsets(partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]

    def group_offsets(
        self, topics: list[str], include: list[str], exclude: list[str]
    ) -> dict[str, dict[str, dict[str, int]]]:
        """Committed offsets of matching groups on the selected topics: group → topic → partition → offset."""
        inc, exc = compile_patterns(include), compile_patterns(exclude)
        return self.call("group_offsets", lambda: self._group_offsets(set(topics), inc, exc))

    def _group_offsets(
        self, wanted: set[str], inc: list[re.Pattern[str]], exc: list[re.Pattern[str]]
    ) -> dict[str, dict[str, dict[str, int]]]:
        listing = self.admin.list_consumer_groups(request_timeout=self.timeout).result(timeout=self.timeout)
        groups = [
            g.group_id
            for g in listing.valid
            if any(p.fullmatch(g.group_id) for p in inc) and not any(p.fullmatch(g.group_id) for p in exc)
        ]
        out: dict[str, dict[str, dict[str, int]]] = {}
        for group in sorted(groups):
            request = [ConsumerGroupTopicPartitions(group)]
            result = self.admin.list_consumer_group_offsets(request, request_timeout=self.timeout)
            tps = result[group].result(timeout=self.timeout).topic_partitions or []
            for tp in tps:
                if tp.topic in wanted and tp.offset >= 0 and tp.error is None:
                    out.setdefault(group, {}).setdefault(tp.topic, {})[str(tp.partition)] = tp.offset
        return out
