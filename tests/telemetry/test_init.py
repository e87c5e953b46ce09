"""Tests of the package's public surface."""

from __future__ import annotations

from kafka_backup import telemetry
from kafka_backup.telemetry import testing


class TestPublicApi:
    def test_all_is_the_deliberate_surface(self) -> None:
        """__all__ lists exactly the API the engine and CLI use; changing it is a decision, not an accident."""
        assert sorted(telemetry.__all__) == sorted(
            [
                "CATALOG", "ClientStats", "Family", "Kind", "LagTracker", "LogFormat", "LoggingConfig", "Metrics",
                "MetricsFileError", "MetricsServer", "MetricsServerError", "ObservedValues", "QuietTelemetry",
                "ReadinessCheck", "Redactor", "Telemetry", "TelemetryConfigError", "TelemetryError",
                "TelemetrySettings", "active", "configure_logging", "configure_logging_on_first_record",
                "default_redactor", "ensure_logging", "family", "get_logger",
                "kafka_logger", "librdkafka_config", "metrics_json", "quiet_setup", "register_secret",
                "serve_metrics", "setup", "shutdown", "write_metrics_file",
            ]
        )  # fmt: skip

    def test_every_exported_name_exists(self) -> None:
        """Every name in __all__ of the package and of testing resolves."""
        for module in (telemetry, testing):
            for name in module.__all__:
                assert getattr(module, name) is not None, name
