"""Telemetry for kafka-backup: one OpenTelemetry MeterProvider, a Prometheus pull reader and an OTLP push reader,
traces and logs over OTLP when configured, structured logs always.

The engine records through ``Metrics`` (the OTel API only) and logs through ``get_logger``; the CLI wires the SDK
once with ``setup()`` and calls ``shutdown()`` before it exits.
"""

from kafka_backup.telemetry.catalog import CATALOG, Family, Kind, Metrics, family
from kafka_backup.telemetry.client_stats import ClientStats, librdkafka_config
from kafka_backup.telemetry.errors import MetricsFileError, MetricsServerError, TelemetryConfigError, TelemetryError
from kafka_backup.telemetry.export_file import metrics_json, write_metrics_file
from kafka_backup.telemetry.logs import LogFormat, LoggingConfig, configure_logging, get_logger, kafka_logger
from kafka_backup.telemetry.observed import LagTracker, ObservedValues
from kafka_backup.telemetry.providers import Telemetry, active, setup, shutdown
from kafka_backup.telemetry.redact import Redactor, register_secret
from kafka_backup.telemetry.server import MetricsServer, ReadinessCheck, serve_metrics
from kafka_backup.telemetry.settings import TelemetrySettings

__all__ = [
    "CATALOG",
    "ClientStats",
    "Family",
    "Kind",
    "LagTracker",
    "LogFormat",
    "LoggingConfig",
    "Metrics",
    "MetricsFileError",
    "MetricsServer",
    "MetricsServerError",
    "ObservedValues",
    "ReadinessCheck",
    "Redactor",
    "Telemetry",
    "TelemetryConfigError",
    "TelemetryError",
    "TelemetrySettings",
    "active",
    "configure_logging",
    "family",
    "get_logger",
    "kafka_logger",
    "librdkafka_config",
    "metrics_json",
    "register_secret",
    "serve_metrics",
    "setup",
    "shutdown",
    "write_metrics_file",
]
