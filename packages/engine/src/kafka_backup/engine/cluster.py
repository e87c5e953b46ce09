"""Cluster-level Kafka operations through the AdminClient: connect, select topics, describe, offsets, groups.

librdkafka reports problems as error codes in callbacks and exceptions; this module turns them into the engine's
typed errors (``KAFKA_CONNECTION_FAILED`` within the configured connection timeout, never a hang). TLS failures
that no retry can fix (an unverifiable broker certificate: ``KAFKA_TLS_FAILED``; a client certificate the broker
refuses: ``KAFKA_AUTH_FAILED``) end the first metadata request as soon as librdkafka reports them, although
librdkafka itself keeps reconnecting as if they were transient.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, OffsetSpec

from kafka_backup.engine.config import KafkaConfig
from kafka_backup.engine.errors import (
    ConfigError,
    KafkaAuthError,
    KafkaConnectionError,
    KafkaOperationError,
    KafkaTlsError,
    NoTopicsMatchedError,
)
from kafka_backup.engine.manifest import TopicInfo
from kafka_backup.engine.names import compile_patterns

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
        return KafkaConnectionError(
            f"cannot reach Kafka at {bootstrap} to {action}",
            hint="check bootstrap_servers, the network and the security protocol",
        )
    reason = err.str() if err else str(exc)
    return KafkaOperationError(f"Kafka request failed while trying to {action}: {reason}")


_CLIENT_FILE_PROBLEMS = {
    "ssl.key.location failed": (
        "the client private key cannot be loaded",
        "check security.ssl_key_password, which an encrypted key needs, and that ssl_key_location is the PEM key "
        "of ssl_certificate_location",
    ),
    "ssl.certificate.location failed": (
        "the client certificate cannot be loaded",
        "security.ssl_certificate_location must be a PEM certificate",
    ),
    "ssl.ca.location failed": (
        "the CA certificates cannot be loaded",
        "security.ssl_ca_location must hold PEM certificates",
    ),
    "Private key check failed": (
        "the client key does not match its certificate",
        "set security.ssl_key_location to the key of ssl_certificate_location",
    ),
}


def client_config_error(exc: KafkaException) -> ConfigError:
    """librdkafka refused to create a client (a setting it rejects, a PEM file it cannot load): a config error,
    raised before any connection. The file checks in :class:`~kafka_backup.engine.config.SecurityConfig` catch
    most of these first; what is left is content OpenSSL rejects (a wrong key password, a key of another cert)."""
    err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    text = (err.str() if err else str(exc)).removeprefix("Failed to create admin client: ")
    for needle, (what, hint) in _CLIENT_FILE_PROBLEMS.items():
        if needle in text:
            match = _OPENSSL_REASON.search(text)
            return ConfigError(f"{what}: {match.group(1).strip() if match else text}", hint=hint)
    return ConfigError(f"the Kafka client configuration is invalid: {text}", hint="check client_config and security")


class Cluster:
    """An AdminClient with typed errors; one per run."""

    def __init__(self, config: KafkaConfig, extra: Mapping[str, Any] | None = None) -> None:
        self.config = config
        self.trap = ErrorTrap()
        conf: dict[str, Any] = {**config.librdkafka(), **(extra or {}), "error_cb": self.trap}
        try:
            self.admin = AdminClient(conf)
        except KafkaException as exc:
            raise client_config_error(exc) from None
        self.timeout = config.connect_timeout_s

    def _fail(self, exc: KafkaException, action: str) -> Exception:
        # error_cb is served by poll(): drain it so an authentication failure is told apart from a timeout
        self.admin.poll(0.1)
        return translate(exc, self.trap, action, self.config.bootstrap_servers)

    def topic_partitions(self) -> dict[str, int]:
        """Topic → partition count; raises KAFKA_CONNECTION_FAILED within ``connect_timeout_s``, and an
        authentication or TLS failure as soon as one is reported.

        The wait is split into growing slices (0.25 s, 0.5 s, ... up to the deadline) so ``error_cb`` can be served
        in between: librdkafka retries a refused certificate or login until the timeout, we need not."""
        deadline = time.monotonic() + self.timeout
        wait = _FIRST_PROBE_S
        while True:
            try:
                metadata = self.admin.list_topics(timeout=min(wait, max(deadline - time.monotonic(), 0.01)))
                break
            except KafkaException as exc:
                self.admin.poll(0)
                if self.trap.hopeless or time.monotonic() >= deadline:
                    raise self._fail(exc, "list topics") from None
            wait *= 2
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
