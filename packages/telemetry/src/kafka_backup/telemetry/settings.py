"""Telemetry settings read from the environment, validated once, with each misconfiguration as an actionable sentence.

Parsing never raises: it collects ``problems``. ``setup()`` then either logs them once and degrades (no OTLP; logs
and /metrics keep working) or, in strict mode, raises ``TelemetryConfigError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import unquote, urlparse

from kafka_backup.telemetry import env as names

__all__ = ["OtlpTarget", "Protocol", "Signal", "TelemetrySettings"]

DEFAULT_SERVICE_NAME = "kafka-backup"
DEFAULT_CARDINALITY_LIMIT = 10_000
# Short on purpose: a one-shot CLI waits this long per signal at exit when the collector is unreachable.
DEFAULT_OTLP_TIMEOUT_MS = 5_000
DEFAULT_EXPORT_INTERVAL_MS = 60_000
DEFAULT_EXPORT_TIMEOUT_MS = 30_000
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


class Protocol(StrEnum):
    """OTLP transports we export over."""

    GRPC = "grpc"
    HTTP_PROTOBUF = "http/protobuf"


class Signal(StrEnum):
    """The three OTLP signals; the value is the path segment of the HTTP endpoint (``/v1/metrics``)."""

    METRICS = "metrics"
    TRACES = "traces"
    LOGS = "logs"


_ENDPOINT = {
    Signal.METRICS: names.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    Signal.TRACES: names.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    Signal.LOGS: names.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
}
_PROTOCOL = {
    Signal.METRICS: names.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    Signal.TRACES: names.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    Signal.LOGS: names.OTEL_EXPORTER_OTLP_LOGS_PROTOCOL,
}
_HEADERS = {
    Signal.METRICS: names.OTEL_EXPORTER_OTLP_METRICS_HEADERS,
    Signal.TRACES: names.OTEL_EXPORTER_OTLP_TRACES_HEADERS,
    Signal.LOGS: names.OTEL_EXPORTER_OTLP_LOGS_HEADERS,
}
_TIMEOUT = {
    Signal.METRICS: names.OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    Signal.TRACES: names.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    Signal.LOGS: names.OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
}


@dataclass(frozen=True)
class OtlpTarget:
    """Where and how one signal is exported. ``endpoint`` is the full URL the exporter is given."""

    signal: Signal
    protocol: Protocol
    endpoint: str
    timeout_seconds: float
    # Headers usually carry credentials: keep them out of reprs and logs.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class TelemetrySettings:
    """Everything ``setup()`` needs, parsed from an environment mapping (``os.environ`` by default)."""

    service_name: str = DEFAULT_SERVICE_NAME
    resource_attributes: tuple[tuple[str, str], ...] = ()
    metrics: OtlpTarget | None = None
    traces: OtlpTarget | None = None
    logs: OtlpTarget | None = None
    export_interval_ms: int = DEFAULT_EXPORT_INTERVAL_MS
    export_timeout_ms: int = DEFAULT_EXPORT_TIMEOUT_MS
    cardinality_limit: int = DEFAULT_CARDINALITY_LIMIT
    strict: bool = False
    kafka_metrics_push: bool = False
    problems: tuple[str, ...] = ()

    @property
    def otlp_enabled(self) -> bool:
        """True when at least one signal is exported over OTLP."""
        return any(t is not None for t in (self.metrics, self.traces, self.logs))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, service_name: str = DEFAULT_SERVICE_NAME
    ) -> TelemetrySettings:
        """Parse and validate; misconfigurations go to ``problems`` and switch every OTLP signal off."""
        env = os.environ if environ is None else environ
        problems: list[str] = []
        strict = _flag(env, names.KAFKA_BACKUP_OTEL_STRICT, problems)
        push = _flag(env, names.KAFKA_BACKUP_KAFKA_METRICS_PUSH, problems)
        cardinality = _positive_int(
            env, names.KAFKA_BACKUP_METRICS_CARDINALITY_LIMIT, DEFAULT_CARDINALITY_LIMIT, problems
        )
        interval = _positive_int(env, names.OTEL_METRIC_EXPORT_INTERVAL, DEFAULT_EXPORT_INTERVAL_MS, problems)
        export_timeout = _positive_int(env, names.OTEL_METRIC_EXPORT_TIMEOUT, DEFAULT_EXPORT_TIMEOUT_MS, problems)
        targets = {signal: _target(env, signal, problems) for signal in Signal}
        if problems:
            targets = dict.fromkeys(Signal)
        attributes = _resource_attributes(env.get(names.OTEL_RESOURCE_ATTRIBUTES, ""))
        name = env.get(names.OTEL_SERVICE_NAME, "").strip() or dict(attributes).get("service.name") or service_name
        return cls(
            service_name=name,
            resource_attributes=attributes,
            metrics=targets[Signal.METRICS],
            traces=targets[Signal.TRACES],
            logs=targets[Signal.LOGS],
            export_interval_ms=interval,
            export_timeout_ms=export_timeout,
            cardinality_limit=cardinality,
            strict=strict,
            kafka_metrics_push=push,
            problems=tuple(problems),
        )


def _flag(env: Mapping[str, str], name: str, problems: list[str]) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw not in _FALSE:
        problems.append(f"{name}={raw!r} is not a boolean: use true or false")
    return False


def _positive_int(env: Mapping[str, str], name: str, default: int, problems: list[str]) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        value = 0
    if value <= 0:
        problems.append(f"{name}={raw!r} is not a positive number (milliseconds or a count); unset it for {default}")
        return default
    return value


def _target(env: Mapping[str, str], signal: Signal, problems: list[str]) -> OtlpTarget | None:
    specific = env.get(_ENDPOINT[signal], "").strip()
    generic = env.get(names.OTEL_EXPORTER_OTLP_ENDPOINT, "").strip()
    if not specific and not generic:
        return None
    protocol_var = _PROTOCOL[signal] if env.get(_PROTOCOL[signal], "").strip() else names.OTEL_EXPORTER_OTLP_PROTOCOL
    raw_protocol = env.get(protocol_var, "").strip().lower() or Protocol.GRPC.value
    try:
        protocol = Protocol(raw_protocol)
    except ValueError:
        problems.append(
            f"{protocol_var}={raw_protocol!r} is not supported: use grpc (collector port 4317) or http/protobuf "
            "(port 4318)"
        )
        return None
    endpoint_var = _ENDPOINT[signal] if specific else names.OTEL_EXPORTER_OTLP_ENDPOINT
    raw_endpoint = specific or generic
    parsed = urlparse(raw_endpoint)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        problems.append(
            f"{endpoint_var}={raw_endpoint!r} is not a URL: use e.g. http://otel-collector:4317 for grpc or "
            "http://otel-collector:4318 for http/protobuf"
        )
        return None
    try:
        parsed.port  # noqa: B018 - urlparse validates the port lazily, on first access
    except ValueError:
        problems.append(f"{endpoint_var}={raw_endpoint!r} has an invalid port")
        return None
    endpoint = raw_endpoint
    if protocol is Protocol.HTTP_PROTOBUF and not specific:
        # The base endpoint gets the signal path appended; a per-signal endpoint is used as given (OTLP spec).
        endpoint = raw_endpoint.rstrip("/") + f"/v1/{signal.value}"
    timeout_var = _TIMEOUT[signal] if env.get(_TIMEOUT[signal], "").strip() else names.OTEL_EXPORTER_OTLP_TIMEOUT
    timeout_ms = _positive_int(env, timeout_var, DEFAULT_OTLP_TIMEOUT_MS, problems)
    headers_var = _HEADERS[signal] if env.get(_HEADERS[signal], "").strip() else names.OTEL_EXPORTER_OTLP_HEADERS
    headers = _pairs(env.get(headers_var, ""), lower_keys=True)
    return OtlpTarget(signal, protocol, endpoint, timeout_ms / 1000.0, headers)


def _pairs(raw: str, *, lower_keys: bool = False) -> tuple[tuple[str, str], ...]:
    """``k=v,k2=v2`` with URL-encoded values (the W3C baggage-like format both variables use)."""
    pairs = []
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            continue
        pairs.append((key.lower() if lower_keys else key, unquote(value.strip())))
    return tuple(pairs)


def _resource_attributes(raw: str) -> tuple[tuple[str, str], ...]:
    return _pairs(raw)
