"""Telemetry for kafka-backup: one OpenTelemetry MeterProvider, a Prometheus pull reader and an OTLP push reader,
traces and logs over OTLP when configured, structured logs always.

The engine records through ``Metrics`` (the OTel API only) and logs through ``get_logger``; the CLI wires the SDK
once with ``setup()`` and calls ``shutdown()`` before it exits.

The names below are imported on first use (PEP 562 ``__getattr__``): importing one submodule, or this package for
one name, does not load the OpenTelemetry SDK, the exporters and the metrics server, which cost most of a second
of start-up that ``kafka-backup --help`` should not pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafka_backup.telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from kafka_backup.telemetry.catalog import CATALOG, Family, Kind, Metrics, family
    from kafka_backup.telemetry.client_stats import ClientStats, librdkafka_config
    from kafka_backup.telemetry.deferred_logs import configure_logging_on_first_record, ensure_logging
    from kafka_backup.telemetry.errors import (
        MetricsFileError,
        MetricsServerError,
        TelemetryConfigError,
        TelemetryError,
    )
    from kafka_backup.telemetry.export_file import metrics_json, write_metrics_file
    from kafka_backup.telemetry.logs import LogFormat, LoggingConfig, configure_logging, get_logger, kafka_logger
    from kafka_backup.telemetry.observed import LagTracker, ObservedValues
    from kafka_backup.telemetry.providers import Telemetry, active, setup, shutdown
    from kafka_backup.telemetry.quiet import QuietTelemetry, quiet_setup
    from kafka_backup.telemetry.redact import Redactor, default_redactor, register_secret
    from kafka_backup.telemetry.server import MetricsServer, ReadinessCheck, serve_metrics
    from kafka_backup.telemetry.settings import TelemetrySettings

_MODULE_OF = {
    **dict.fromkeys(["CATALOG", "Family", "Kind", "Metrics", "family"], "catalog"),
    **dict.fromkeys(["ClientStats", "librdkafka_config"], "client_stats"),
    **dict.fromkeys(["configure_logging_on_first_record", "ensure_logging"], "deferred_logs"),
    **dict.fromkeys(["MetricsFileError", "MetricsServerError", "TelemetryConfigError", "TelemetryError"], "errors"),
    **dict.fromkeys(["metrics_json", "write_metrics_file"], "export_file"),
    **dict.fromkeys(["LogFormat", "LoggingConfig", "configure_logging", "get_logger", "kafka_logger"], "logs"),
    **dict.fromkeys(["LagTracker", "ObservedValues"], "observed"),
    **dict.fromkeys(["Telemetry", "active", "setup", "shutdown"], "providers"),
    **dict.fromkeys(["QuietTelemetry", "quiet_setup"], "quiet"),
    **dict.fromkeys(["Redactor", "default_redactor", "register_secret"], "redact"),
    **dict.fromkeys(["MetricsServer", "ReadinessCheck", "serve_metrics"], "server"),
    "TelemetrySettings": "settings",
}
"""Public name -> the submodule that defines it."""


__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF)

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
    "QuietTelemetry",
    "ReadinessCheck",
    "Redactor",
    "Telemetry",
    "TelemetryConfigError",
    "TelemetryError",
    "TelemetrySettings",
    "active",
    "configure_logging",
    "configure_logging_on_first_record",
    "default_redactor",
    "ensure_logging",
    "family",
    "get_logger",
    "kafka_logger",
    "librdkafka_config",
    "metrics_json",
    "quiet_setup",
    "register_secret",
    "serve_metrics",
    "setup",
    "shutdown",
    "write_metrics_file",
]
