"""Cluster-level Kafka operations through the AdminClient: connect, select topics, describe, offsets, groups.

librdkafka reports problems as error codes in callbacks and exceptions; this module turns them into the engine's
typed errors (``KAFKA_CONNECTION_FAILED`` within the configured connection timeout, never a hang).
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, OffsetSpec

from kafka_backup.engine.config import KafkaConfig
from kafka_backup.engine.errors import KafkaAuthError, KafkaConnectionError, KafkaOperationError, NoTopicsMatchedError
from kafka_backup.engine.manifest import TopicInfo

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
    """An AdminClient with typed errors; one per run."""

    def __init__(self, config: KafkaConfig, extra: Mapping[str, Any] | None = None) -> None:
        self.config = config
        self.trap = ErrorTrap()
        conf: dict[str, Any] = {**config.librdkafka(), **(extra or {}), "error_cb": self.trap}
        self.admin = AdminClient(conf)
        self.timeout = config.connect_timeout_s

    def _fail(self, exc: KafkaException, action: str) -> Exception:
        # error_cb is served by poll(): drain it so an authentication failure is told apart from a timeout
        self.admin.poll(0.1)
        return translate(exc, self.trap, action, self.config.bootstrap_servers)

    def topic_partitions(self) -> dict[str, int]:
        """Topic → partition count; raises KAFKA_CONNECTION_FAILED within ``connect_timeout_s``."""
        try:
            metadata = self.admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise self._fail(exc, "list topics") from None
        self.admin.poll(0)
        if self.trap.auth_failed:
            raise self._fail(KafkaException(KafkaError(KafkaError._AUTHENTICATION)), "list topics")
        return {name: len(t.partitions) for name, t in metadata.topics.items() if t.error is None}

    def cluster_id(self) -> str | None:
        try:
            result = self.admin.describe_cluster(request_timeout=self.timeout).result(timeout=self.timeout)
            return str(result.cluster_id) if result.cluster_id else None
        except KafkaException:
            return None

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
        try:
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
        except KafkaException as exc:
            raise self._fail(exc, "describe topics") from None
        return out

    def offsets(
        self, partitions: list[TopicPartition], spec: OffsetSpec, read_committed: bool = True
    ) -> dict[tuple[str, int], int]:
        """List offsets (``OffsetSpec.latest()`` gives the last stable offset under read_committed)."""
        if not partitions:
            return {}
        level = IsolationLevel.READ_COMMITTED if read_committed else IsolationLevel.READ_UNCOMMITTED
        try:
            futures = self.admin.list_offsets(
                dict.fromkeys(partitions, spec), isolation_level=level, request_timeout=self.timeout
            )
            return {(tp.topic, tp.partition): f.result(timeout=self.timeout).offset for tp, f in futures.items()}
        except KafkaException as exc:
            raise self._fail(exc, "list offsets") from None

    def end_offsets(self, partitions: list[TopicPartition], read_committed: bool) -> dict[tuple[str, int], int]:
        return self.offsets(partitions, OffsetSpec.latest(), read_committed)  # type: ignore[no-untyped-call]

    def start_offsets(self, partitions: list[TopicPartition]) -> dict[tuple[str, int], int]:
        return self.offsets(partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]

    def delete_records(self, before: Mapping[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """Kafka's delete-records: drop every record below ``before[(topic, partition)]``; returns the new low
        watermarks. Compacted topics refuse it (the broker's POLICY_VIOLATION), reported as KAFKA_ERROR."""
        if not before:
            return {}
        request = [TopicPartition(t, p, offset) for (t, p), offset in before.items()]
        try:
            futures = self.admin.delete_records(request, request_timeout=self.timeout, operation_timeout=self.timeout)
            return {(tp.topic, tp.partition): f.result(timeout=self.timeout).low_watermark for tp, f in futures.items()}
        except KafkaException as exc:
            raise self._fail(exc, "delete records") from None

    def group_offsets(
        self, topics: list[str], include: list[str], exclude: list[str]
    ) -> dict[str, dict[str, dict[str, int]]]:
        """Committed offsets of matching groups on the selected topics: group → topic → partition → offset."""
        wanted = set(topics)
        inc, exc = compile_patterns(include), compile_patterns(exclude)
        try:
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
        except KafkaException as exc:
            raise self._fail(exc, "read consumer-group offsets") from None
        return out
