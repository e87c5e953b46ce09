"""Every environment variable the telemetry package reads, in one place (documented in ``docs/telemetry.md``).

The ``OTEL_*`` names are the OpenTelemetry standard ones; ``KAFKA_BACKUP_*`` are ours. ``OTLP_PASSTHROUGH`` and
``LOG_PASSTHROUGH`` list what a parent process forwards to child jobs so they report to the same place.
"""

from __future__ import annotations

__all__ = [
    "KAFKA_BACKUP_KAFKA_METRICS_PUSH",
    "KAFKA_BACKUP_LOG_FORMAT",
    "KAFKA_BACKUP_LOG_LEVEL",
    "KAFKA_BACKUP_METRICS_CARDINALITY_LIMIT",
    "KAFKA_BACKUP_METRICS_HOST",
    "KAFKA_BACKUP_METRICS_PATH",
    "KAFKA_BACKUP_METRICS_PORT",
    "KAFKA_BACKUP_OTEL_STRICT",
    "LOG_PASSTHROUGH",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_METRIC_EXPORT_TIMEOUT",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTLP_PASSTHROUGH",
]

# --- OTLP export (standard) ------------------------------------------------------------------------------------------
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
"""Base URL of the collector for every signal; unset means no OTLP export at all."""
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTEL_EXPORTER_OTLP_LOGS_ENDPOINT = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
OTEL_EXPORTER_OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
"""``grpc`` (default) or ``http/protobuf``. The exporter classes ignore it, so we read it and pick the class."""
OTEL_EXPORTER_OTLP_METRICS_PROTOCOL = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"
OTEL_EXPORTER_OTLP_TRACES_PROTOCOL = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
OTEL_EXPORTER_OTLP_LOGS_PROTOCOL = "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"
OTEL_EXPORTER_OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
"""``key=value,key2=value2`` (values URL-encoded), e.g. ``authorization=Bearer%20...``; never logged."""
OTEL_EXPORTER_OTLP_METRICS_HEADERS = "OTEL_EXPORTER_OTLP_METRICS_HEADERS"
OTEL_EXPORTER_OTLP_TRACES_HEADERS = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
OTEL_EXPORTER_OTLP_LOGS_HEADERS = "OTEL_EXPORTER_OTLP_LOGS_HEADERS"
OTEL_EXPORTER_OTLP_TIMEOUT = "OTEL_EXPORTER_OTLP_TIMEOUT"
"""Per-export timeout in milliseconds, as the specification says (the Python exporters read it as seconds)."""
OTEL_EXPORTER_OTLP_METRICS_TIMEOUT = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"
OTEL_EXPORTER_OTLP_TRACES_TIMEOUT = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
OTEL_EXPORTER_OTLP_LOGS_TIMEOUT = "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT"
OTEL_METRIC_EXPORT_INTERVAL = "OTEL_METRIC_EXPORT_INTERVAL"
"""Milliseconds between OTLP metric exports (default 60000)."""
OTEL_METRIC_EXPORT_TIMEOUT = "OTEL_METRIC_EXPORT_TIMEOUT"
"""Milliseconds one OTLP metric collection and export may take (default 30000)."""

# --- resource and SDK (standard) -------------------------------------------------------------------------------------
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
"""``service.name`` of every signal (default ``kafka-backup``)."""
OTEL_RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
"""Extra resource attributes, ``key=value,...``."""
OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
"""``true`` turns every instrument into a no-op (read by the SDK itself): /metrics then serves nothing of ours."""

# --- ours ------------------------------------------------------------------------------------------------------------
KAFKA_BACKUP_OTEL_STRICT = "KAFKA_BACKUP_OTEL_STRICT"
"""``true``: a telemetry misconfiguration raises ``TelemetryConfigError`` (CLI exit code 2) instead of degrading."""
KAFKA_BACKUP_METRICS_CARDINALITY_LIMIT = "KAFKA_BACKUP_METRICS_CARDINALITY_LIMIT"
"""Most label combinations one metric family keeps (default 10000); more fold into ``otel_metric_overflow``."""
KAFKA_BACKUP_METRICS_HOST = "KAFKA_BACKUP_METRICS_HOST"
"""Bind address of the metrics/health HTTP server (default ``127.0.0.1``)."""
KAFKA_BACKUP_METRICS_PORT = "KAFKA_BACKUP_METRICS_PORT"
"""Port of the metrics/health HTTP server (default 8080; 0 picks a free one)."""
KAFKA_BACKUP_METRICS_PATH = "KAFKA_BACKUP_METRICS_PATH"
"""Path of the scrape endpoint (default ``/metrics``)."""
KAFKA_BACKUP_LOG_FORMAT = "KAFKA_BACKUP_LOG_FORMAT"
"""``text`` (default; colour only on a TTY) or ``json`` (one object per line); anything else warns and uses text."""
KAFKA_BACKUP_LOG_LEVEL = "KAFKA_BACKUP_LOG_LEVEL"
"""Default level plus per-logger directives, e.g. ``info,kafka=debug,kafka_backup.engine.store=warning``."""
KAFKA_BACKUP_KAFKA_METRICS_PUSH = "KAFKA_BACKUP_KAFKA_METRICS_PUSH"
"""``true`` enables librdkafka's KIP-714 client metrics push (``enable.metrics.push``); off by default."""

OTLP_PASSTHROUGH: tuple[str, ...] = (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_METRICS_HEADERS,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS,
    OTEL_EXPORTER_OTLP_LOGS_HEADERS,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
    OTEL_METRIC_EXPORT_INTERVAL,
    OTEL_METRIC_EXPORT_TIMEOUT,
    OTEL_RESOURCE_ATTRIBUTES,
    KAFKA_BACKUP_OTEL_STRICT,
)
"""Forwarded to child jobs when a collector is configured."""

LOG_PASSTHROUGH: tuple[str, ...] = (KAFKA_BACKUP_LOG_FORMAT, KAFKA_BACKUP_LOG_LEVEL)
"""Forwarded to child jobs whenever set."""
