"""Tests of environment parsing and validation."""

from __future__ import annotations

from kafka_backup.telemetry.settings import Protocol, Signal, TelemetrySettings


class TestTelemetrySettings:
    def test_nothing_set_means_no_otlp(self) -> None:
        """With no endpoint variable, no signal is exported and nothing is reported as wrong."""
        settings = TelemetrySettings.from_env({})
        assert not settings.otlp_enabled
        assert settings.problems == ()
        assert settings.service_name == "kafka-backup"
        assert settings.cardinality_limit == 10_000

    def test_generic_endpoint_enables_every_signal_over_grpc(self) -> None:
        """OTEL_EXPORTER_OTLP_ENDPOINT alone exports all three signals over gRPC to that URL."""
        settings = TelemetrySettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"})
        for target in (settings.metrics, settings.traces, settings.logs):
            assert target is not None
            assert target.protocol is Protocol.GRPC
            assert target.endpoint == "http://collector:4317"

    def test_http_appends_signal_paths(self) -> None:
        """Over http/protobuf the base endpoint gets /v1/<signal>; a per-signal endpoint is used as given."""
        settings = TelemetrySettings.from_env(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://logs:9999/custom",
            }
        )
        assert settings.metrics is not None
        assert settings.metrics.endpoint == "http://collector:4318/v1/metrics"
        assert settings.traces is not None
        assert settings.traces.endpoint == "http://collector:4318/v1/traces"
        assert settings.logs is not None
        assert settings.logs.endpoint == "http://logs:9999/custom"

    def test_metrics_only_endpoint(self) -> None:
        """A metrics-only endpoint exports metrics and nothing else."""
        settings = TelemetrySettings.from_env({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://c:4317"})
        assert settings.metrics is not None
        assert settings.metrics.signal is Signal.METRICS
        assert settings.traces is None
        assert settings.logs is None

    def test_unknown_protocol_is_a_problem(self) -> None:
        """http/json (or anything else) is reported with the accepted values, and OTLP is switched off."""
        settings = TelemetrySettings.from_env(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
        )
        assert not settings.otlp_enabled
        assert any("OTEL_EXPORTER_OTLP_PROTOCOL='http/json'" in p and "grpc" in p for p in settings.problems)

    def test_bad_endpoint_is_a_problem(self) -> None:
        """An endpoint that is not an http(s) URL is reported with an example of a good one."""
        settings = TelemetrySettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"})
        assert not settings.otlp_enabled
        assert any("http://otel-collector:4317" in p for p in settings.problems)

    def test_timeout_is_milliseconds(self) -> None:
        """OTEL_EXPORTER_OTLP_TIMEOUT is read as milliseconds, per the specification."""
        settings = TelemetrySettings.from_env(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}
        )
        assert settings.metrics is not None
        assert settings.metrics.timeout_seconds == 2.5

    def test_headers_are_parsed_and_hidden_from_repr(self) -> None:
        """Headers are URL-decoded pairs and never appear in a repr (they carry credentials)."""
        settings = TelemetrySettings.from_env(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
                "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20s3cr3t",
            }
        )
        assert settings.metrics is not None
        assert settings.metrics.headers == (("authorization", "Bearer s3cr3t"),)
        assert "s3cr3t" not in repr(settings)

    def test_service_name_and_resource_attributes(self) -> None:
        """OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES; other attributes are kept."""
        settings = TelemetrySettings.from_env(
            {"OTEL_SERVICE_NAME": "backup-eu", "OTEL_RESOURCE_ATTRIBUTES": "service.name=x,deployment.environment=prod"}
        )
        assert settings.service_name == "backup-eu"
        assert ("deployment.environment", "prod") in settings.resource_attributes

    def test_strict_and_push_flags(self) -> None:
        """Boolean settings accept true/false and report anything else."""
        assert TelemetrySettings.from_env({"KAFKA_BACKUP_OTEL_STRICT": "true"}).strict
        assert TelemetrySettings.from_env({"KAFKA_BACKUP_KAFKA_METRICS_PUSH": "1"}).kafka_metrics_push
        assert TelemetrySettings.from_env({"KAFKA_BACKUP_OTEL_STRICT": "maybe"}).problems

    def test_bad_numbers_are_problems(self) -> None:
        """Non-positive or non-numeric limits and intervals are reported and the defaults kept."""
        settings = TelemetrySettings.from_env(
            {"KAFKA_BACKUP_METRICS_CARDINALITY_LIMIT": "-1", "OTEL_METRIC_EXPORT_INTERVAL": "soon"}
        )
        assert settings.cardinality_limit == 10_000
        assert settings.export_interval_ms == 60_000
        assert len(settings.problems) == 2
