"""Cluster-level Kafka operations through the AdminClient: connect, select topics, describe, offsets, groups.

librdkafka reports problems as error codes in callbacks and exceptions; this module turns them into the engine's
typed errors (``KAFKA_CONNECTION_FAILED`` within the configured connection timeout, never a hang). TLS failures
that no retry can fix (an unverifiable broker certificate: ``KAFKA_TLS_FAILED``; a client certificate the broker
refuses: ``KAFKA_AUTH_FAILED``) end the first metadata request as soon as librdkafka reports them, although
librdkafka itself keeps reconnecting as if they were transient. Every admin call goes through the run's
:class:`~kafka_backup.engine.kafka.outage.OutageGuard`, so once the cluster was reached, a broker restart or stall is
retried for up to ``outage_tolerance_s`` instead of failing the run.

Callers outside this package pass and get plain values (names, ``(topic, partition)`` tuples, :class:`NewTopicSpec`):
the block at the end of :class:`Cluster` serves the restore and the offset reset that way; consumer-group admin is in
:mod:`~kafka_backup.engine.kafka.groups`. The module runs past 400 lines because the error translation lives beside
the client whose callbacks feed it (:class:`ErrorTrap`); moving it to ``kafka/errors.py`` is the next split.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata, ConfigResource, ConfigSource, NewTopic, OffsetSpec

from kafka_backup.engine.config.kafka import KafkaConfig
from kafka_backup.engine.config.names import compile_patterns
from kafka_backup.engine.errors import (
    ConfigError,
    KafkaAuthError,
    KafkaConnectionError,
    KafkaOperationError,
    KafkaTlsError,
    NoTopicsMatchedError,
)
from kafka_backup.engine.format.manifest import TopicInfo
from kafka_backup.engine.kafka.client_check import explain_client_problem
from kafka_backup.engine.kafka.outage import OutageGuard, OutagePolicy, action

T = TypeVar("T")

_AUTH_CODES = {
    KafkaError._AUTHENTICATION,
    KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}
_CONNECTION_CODES = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT, KafkaError._RESOLVE}
# TLS alerts a broker sends when it refuses the client's certificate (or its absence) under ssl.client.auth=required
_CLIENT_CERT_ALERTS = (
    "alert bad certificate",
    "alert certificate required",
    "alert unknown ca",
    "alert certificate unknown",
    "alert certificate expired",
    "alert certificate revoked",
    "alert unsupported certificate",
)
_OPENSSL_REASON = re.compile(r"routines::([^:(]+)")
TlsFailure = Literal["broker_unverified", "client_rejected"]
_FIRST_PROBE_S = 0.25


def tls_failure(error: KafkaError) -> TlsFailure | None:
    """The TLS failure ``error`` reports that no retry can fix, else None. Other handshake errors (a disconnect or
    an EOF mid-handshake) are also what a restarting broker causes, so they stay connection errors, retried."""
    text = error.str()
    if any(alert in text for alert in _CLIENT_CERT_ALERTS):
        return "client_rejected"
    if error.code() == KafkaError._SSL and "certificate verify failed" in text:
        return "broker_unverified"
    return None


def _tls_error(kind: TlsFailure, detail: str, action: str, bootstrap: str) -> Exception:
    match = _OPENSSL_REASON.search(detail)
    reason = match.group(1).strip() if match else "TLS handshake failed"
    if kind == "client_rejected":
        return KafkaAuthError(
            f"the brokers at {bootstrap} refused the client certificate while trying to {action}: {reason}",
            hint="this listener requires mTLS: set security.ssl_certificate_location and ssl_key_location to a "
            "certificate signed by a CA the brokers trust, and its key",
        )
    return KafkaTlsError(
        f"cannot verify the certificate of the brokers at {bootstrap} while trying to {action}: {reason}",
        hint="set security.ssl_ca_location to the CA that signed the brokers' certificates; on a host-name "
        "mismatch, connect by a name the certificate lists, see ssl_endpoint_identification",
    )


@dataclass(frozen=True)
class Selection:
    topics: list[str]
    unmatched_patterns: list[str]
    partition_counts: dict[str, int] = field(default_factory=dict)
    """Partition count of each chosen topic, when the selection was made from cluster metadata."""


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
        self.tls: tuple[TlsFailure, str] | None = None
        """The first TLS failure (kind, librdkafka's text); kept apart from ``last``, which "all brokers down"
        overwrites right after it."""

    def __call__(self, error: KafkaError) -> None:
        with self._lock:
            self.last = error
            if error.code() in _AUTH_CODES:
                self.auth_failed = True
            kind = tls_failure(error)
            if kind and self.tls is None:
                self.tls = (kind, error.str())

    @property
    def hopeless(self) -> bool:
        """A failure retrying cannot fix was reported: credentials, or TLS trust either way."""
        return self.auth_failed or self.tls is not None


def error_code(exc: KafkaException) -> int | None:
    """The librdkafka error code an exception carries, if any."""
    err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    return err.code() if err is not None else None


def translate(exc: KafkaException, trap: ErrorTrap | None, action: str, bootstrap: str) -> Exception:
    """A typed engine error for a librdkafka failure."""
    err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    code = err.code() if err else None
    kind = tls_failure(err) if err else None
    tls = (kind, err.str()) if kind and err else None
    if tls is None and trap and (code is None or code in _CONNECTION_CODES):
        tls = trap.tls  # the request failed for want of a broker; the trap knows why
    if tls:
        return _tls_error(*tls, action, bootstrap)
    if (trap and trap.auth_failed) or code in _AUTH_CODES:
        return KafkaAuthError(
            f"Kafka rejected the credentials while trying to {action} at {bootstrap}",
            hint="check source.security (protocol, sasl_mechanism, sasl_username, sasl_password)",
        )
    if code in _CONNECTION_CODES or (trap and trap.last and trap.last.code() in _CONNECTION_CODES):
        # the request's own error when it is not the connection's (the trap's last error can be older)
        own = f" (the request failed with {err.name()})" if err is not None and code not in _CONNECTION_CODES else ""
        return KafkaConnectionError(
            f"cannot reach Kafka at {bootstrap} to {action}{own}",
            hint="check bootstrap_servers, the network and the security protocol",
        )
    reason = err.str() if err else str(exc)
    return KafkaOperationError(f"Kafka request failed while trying to {action}: {reason}")


def client_config_error(exc: KafkaException) -> ConfigError:
    """librdkafka refused to create a client (a setting it rejects, a PEM file it cannot load): a config error,
    raised before any connection. The file checks in :class:`~kafka_backup.engine.config.kafka.SecurityConfig` catch
    most of these first; what is left is content OpenSSL rejects (a wrong key password, a key of another cert)."""
    err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    text = (err.str() if err else str(exc)).removeprefix("Failed to create admin client: ")
    explained = explain_client_problem(text)
    if explained is not None:
        return ConfigError(explained[0], hint=explained[1])
    return ConfigError(f"the Kafka client configuration is invalid: {text}", hint="check client_config and security")


SETTLING_CODES = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._NOENT,  # librdkafka's "Failed to query partition leaders: No leaders found"
    }
)
"""What ListOffsets answers for a partition that exists but whose leader is not serving it yet: a fresh topic's, or
any partition's right after a broker restart (the broker has not loaded it). Retried, through the outage guard, for
partitions known to exist (just created, or just assigned by the group coordinator)."""


@dataclass(frozen=True)
class NewTopicSpec:
    """A topic to create: what :meth:`Cluster.create_topics` sends (no librdkafka type leaves this package)."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)


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
        try:
            self.admin = AdminClient(conf)
        except KafkaException as exc:
            raise client_config_error(exc) from None
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

    def _list_topics_patiently(self) -> Any:
        """One metadata request, its wait split into growing slices (0.25 s, 0.5 s, ... up to ``connect_timeout_s``)
        so ``error_cb`` is served in between: librdkafka retries a refused certificate or login until the timeout, we
        need not. A hopeless failure is raised typed; a timeout raw, for the outage guard to judge."""
        deadline = time.monotonic() + self.timeout
        wait = _FIRST_PROBE_S
        while True:
            try:
                return self.admin.list_topics(timeout=min(wait, max(deadline - time.monotonic(), 0.01)))
            except KafkaException as exc:
                self.admin.poll(0)
                if self.trap.hopeless:
                    raise self._fail(exc, "list topics") from None
                if time.monotonic() >= deadline:
                    raise
            wait *= 2

    def topic_partitions(self) -> dict[str, int]:
        """Topic → partition count; raises KAFKA_CONNECTION_FAILED within ``connect_timeout_s``, and an
        authentication or TLS failure as soon as one is reported; later, through the outage guard."""
        metadata = self.call("metadata", self._list_topics_patiently)
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
        selection.partition_counts.update({t: existing[t] for t in selection.topics})
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

    def start_offsets(
        self, partitions: list[TopicPartition], *, also: Collection[int] = ()
    ) -> dict[tuple[str, int], int]:
        return self.offsets(partitions, OffsetSpec.earliest(), also=also)  # type: ignore[no-untyped-call]

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

    def partition_starts(
        self, partitions: Iterable[tuple[str, int]], *, also: Collection[int] = ()
    ) -> dict[tuple[str, int], int]:
        """:meth:`start_offsets` of ``(topic, partition)`` pairs, for callers that never see ``TopicPartition``."""
        return self.start_offsets([TopicPartition(t, p) for t, p in partitions], also=also)

    def partition_ends(
        self, partitions: Iterable[tuple[str, int]], *, read_committed: bool
    ) -> dict[tuple[str, int], int]:
        """:meth:`end_offsets` of ``(topic, partition)`` pairs."""
        return self.end_offsets([TopicPartition(t, p) for t, p in partitions], read_committed)

    def group_instance_ids(self, group: str) -> list[str | None]:
        """The members of consumer group ``group``, each as its ``group.instance.id`` (None: a dynamic member).
        A failed request is ``KAFKA_ERROR`` with librdkafka's message (no retries: callers treat it as unknown)."""
        try:
            futures = self.admin.describe_consumer_groups([group], request_timeout=self.timeout)
            members = futures[group].result(timeout=self.timeout).members or []
        except KafkaException as exc:
            raise KafkaOperationError(str(exc)) from None
        return [m.group_instance_id for m in members]

    # ---- restore and offset-reset operations: (topic, partition) tuples in, typed errors out ------------------------

    def watermarks(self, tps: Sequence[tuple[str, int]], which: Literal["low", "high"]) -> dict[tuple[str, int], int]:
        """Low (earliest) or high (latest) offsets, read_uncommitted, through :meth:`offsets` (the one ListOffsets),
        retried while the partitions' leaders settle (fresh topics say NOT_LEADER) and through outages (see
        :mod:`~kafka_backup.engine.kafka.outage`)."""
        spec = OffsetSpec.latest() if which == "high" else OffsetSpec.earliest()  # type: ignore[no-untyped-call]
        return self.offsets([TopicPartition(*tp) for tp in tps], spec, read_committed=False, also=SETTLING_CODES)

    def create_topics(self, topics: Sequence[NewTopicSpec]) -> list[str]:
        """CreateTopics; returns the names requested. Retried as a whole through an outage: a topic our earlier
        attempt created already exists now, so TOPIC_ALREADY_EXISTS counts as created."""
        new = [
            NewTopic(
                t.name, num_partitions=t.partitions, replication_factor=t.replication_factor, config=dict(t.configs)
            )
            for t in topics
        ]

        def create() -> list[str]:
            futures = self.admin.create_topics(new, request_timeout=self.timeout)
            for future in futures.values():
                try:
                    future.result(timeout=self.timeout)
                except KafkaException as exc:
                    if error_code(exc) != KafkaError.TOPIC_ALREADY_EXISTS:
                        raise
            return list(futures)

        return self.call("create_topics", create)

    def wait_for_leaders(self, wanted: Mapping[str, int], timeout_s: float = 30.0) -> None:
        """Wait until each topic of ``wanted`` (name → partition count) has that many partitions, each with a leader;
        KAFKA_ERROR after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            metadata = self.metadata()
            ready = all(
                name in metadata.topics
                and len(metadata.topics[name].partitions) >= count
                and all(p.leader >= 0 for p in metadata.topics[name].partitions.values())
                for name, count in wanted.items()
            )
            if ready:
                return
            time.sleep(0.05)
        raise KafkaOperationError(f"created topics {sorted(wanted)} have no leaders after {timeout_s:g} s")
