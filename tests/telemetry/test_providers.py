"""Tests of setup()/shutdown(): real readers, real exporters, real in-process OTLP receivers."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tracemalloc
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import generate_latest

from kafka_backup.telemetry.catalog import CATALOG, Kind, Metrics, family
from kafka_backup.telemetry.errors import TelemetryConfigError
from kafka_backup.telemetry.logs import get_logger, reset_logging
from kafka_backup.telemetry.observed import ObservedValues
from kafka_backup.telemetry.providers import Telemetry, setup, views
from kafka_backup.telemetry.redact import REDACTED, default_redactor
from kafka_backup.telemetry.testing import OtlpGrpcReceiver, OtlpHttpReceiver, OtlpReceiver, attributes_of

ATTRS = {"backup_id": "b1", "topic": "orders", "partition": "0"}
# PRD-mandated names that promtool's lint flags (see the decisions in docs/metrics.md); nothing else may be flagged.
ACCEPTED_LINT = {
    "kafka_backup_throughput_records_per_sec metric names should not contain abbreviated units",
    "kafka_backup_throughput_bytes_per_sec metric names should not contain abbreviated units",
    "kafka_restore_throughput_records_per_sec metric names should not contain abbreviated units",
}


@pytest.fixture
def quiet() -> Iterator[Telemetry]:
    """A setup with no OTLP configured and logging left alone."""
    telemetry = setup(environ={}, set_global=False, configure_logs=False)
    yield telemetry
    telemetry.shutdown()


@pytest.fixture(params=["grpc", "http/protobuf"])
def receiver(request: pytest.FixtureRequest) -> Iterator[OtlpReceiver]:
    """An in-process OTLP receiver of each protocol."""
    server: OtlpGrpcReceiver | OtlpHttpReceiver = OtlpGrpcReceiver() if request.param == "grpc" else OtlpHttpReceiver()
    with server:
        yield server


def otlp_env(receiver: OtlpReceiver) -> dict[str, str]:
    """Environment pointing every signal at the receiver with the receiver's protocol."""
    protocol = "grpc" if isinstance(receiver, OtlpGrpcReceiver) else "http/protobuf"
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme",
        "OTEL_SERVICE_NAME": "kafka-backup-test",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        # Long, so the only metric export is the one shutdown() performs.
        "OTEL_METRIC_EXPORT_INTERVAL": "600000",
    }


class TestSetup:
    def test_no_endpoint_attempts_nothing(self, quiet: Telemetry) -> None:
        """Without an OTLP endpoint there is no OTLP reader, span exporter or log provider."""
        assert quiet.otlp_metric_reader is None
        assert quiet.logger_provider is None
        assert quiet.tracer_provider._active_span_processor._span_processors == ()

    def test_scrape_has_runtime_collectors_and_no_scope_labels(self, quiet: Telemetry) -> None:
        """The registry holds process/platform/GC collectors, and series carry no otel_scope_* labels."""
        quiet.metrics.backup_records_total.add(5, ATTRS)
        text = generate_latest(quiet.registry).decode()
        assert "process_cpu_seconds_total" in text
        assert "python_info" in text
        assert "python_gc_objects_collected_total" in text
        assert 'kafka_backup_records_total{backup_id="b1",partition="0",topic="orders"} 5.0' in text
        assert "otel_scope" not in text

    def test_strict_mode_raises(self) -> None:
        """With KAFKA_BACKUP_OTEL_STRICT=true a misconfiguration raises a typed error with a stable code."""
        with pytest.raises(TelemetryConfigError) as caught:
            setup(
                environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "nonsense", "KAFKA_BACKUP_OTEL_STRICT": "true"},
                set_global=False,
                configure_logs=False,
            )
        assert caught.value.code == "TELEMETRY_CONFIG_INVALID"
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" in str(caught.value)

    def test_misconfiguration_degrades_with_one_error(self, caplog: pytest.LogCaptureFixture) -> None:
        """Without strict mode a bad protocol logs one actionable error and leaves /metrics working."""
        caplog.set_level(logging.ERROR, logger="kafka_backup.telemetry")
        telemetry = setup(
            environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"},
            set_global=False,
            configure_logs=False,
        )
        try:
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert len(errors) == 1
            assert "thrift" in str(errors[0].problems)  # type: ignore[attr-defined]
            assert telemetry.otlp_metric_reader is None
            telemetry.metrics.backup_records_total.add(1, ATTRS)
            assert "kafka_backup_records_total" in generate_latest(telemetry.registry).decode()
        finally:
            telemetry.shutdown()

    def test_views_give_exact_buckets(self, quiet: Telemetry) -> None:
        """Histogram buckets in a scrape are the catalog's, through setup()'s Views."""
        quiet.metrics.backup_storage_write_latency_seconds.record(0.07, {"backend": "s3", "operation": "segment"})
        text = generate_latest(quiet.registry).decode()
        for bound in family("kafka_backup_storage_write_latency_seconds").buckets:
            assert f'le="{bound}"' in text

    def test_cardinality_overflow(self, caplog: pytest.LogCaptureFixture) -> None:
        """Beyond the per-family limit, series fold into otel_metric_overflow and one warning is logged."""
        caplog.set_level(logging.WARNING, logger="kafka_backup.telemetry")
        telemetry = setup(
            environ={"KAFKA_BACKUP_METRICS_CARDINALITY_LIMIT": "3"}, set_global=False, configure_logs=False
        )
        try:
            for partition in range(10):
                telemetry.metrics.backup_records_total.add(1, {**ATTRS, "partition": str(partition)})
            text = generate_latest(telemetry.registry).decode()
            generate_latest(telemetry.registry)
            assert 'otel_metric_overflow="true"' in text
            warnings = [r for r in caplog.records if r.getMessage() == "metric_cardinality_limit_reached"]
            assert len(warnings) == 1
        finally:
            telemetry.shutdown()

    def test_per_family_cardinality_override(self) -> None:
        """cardinality_limits overrides the limit of one family only."""
        telemetry = setup(
            environ={},
            set_global=False,
            configure_logs=False,
            cardinality_limits={"kafka_backup_records_total": 2},
        )
        try:
            for partition in range(5):
                telemetry.metrics.backup_records_total.add(1, {**ATTRS, "partition": str(partition)})
                telemetry.metrics.backup_bytes_total.add(1, {**ATTRS, "partition": str(partition)})
            text = generate_latest(telemetry.registry).decode()
            overflowing = {line.split("{")[0] for line in text.splitlines() if "otel_metric_overflow" in line}
            assert overflowing == {"kafka_backup_records_total"}
        finally:
            telemetry.shutdown()

    @pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is installed by scripts/setup.sh")
    def test_promtool_accepts_scrape(self, quiet: Telemetry) -> None:
        """promtool check metrics finds nothing wrong in a scrape with every family, beyond the accepted lint."""
        for spec in CATALOG:
            attrs = dict.fromkeys(spec.labels, "x")
            instrument = getattr(quiet.metrics, spec.attribute)
            if spec.kind is Kind.COUNTER:
                instrument.add(1, attrs)
            elif spec.kind is Kind.HISTOGRAM:
                instrument.record(1.0, attrs)
            elif spec.kind is Kind.GAUGE or isinstance(instrument, ObservedValues):
                instrument.set(1.0, attrs)
        quiet.metrics.lag.update("x", "x", 0, 10, 5, last_record_timestamp_ms=1, avg_record_bytes=1.0)
        scrape = generate_latest(quiet.registry)
        result = subprocess.run(["promtool", "check", "metrics"], input=scrape, capture_output=True, check=False)
        problems = {line for line in result.stderr.decode().splitlines() if line.strip()}
        assert problems <= ACCEPTED_LINT, problems
        assert result.returncode in (0, 3)  # 3: lint findings only (the accepted ones), never a parse error


class TestOtlpExport:
    def test_metrics_arrive(self, receiver: OtlpReceiver) -> None:
        """Recorded metrics reach the receiver on shutdown, with resource attributes and headers from the env."""
        telemetry = setup(environ=otlp_env(receiver), set_global=False, configure_logs=False)
        telemetry.metrics.backup_records_total.add(42, ATTRS)
        telemetry.metrics.lag.update("b1", "orders", 0, 100, 60)
        telemetry.shutdown()
        assert receiver.wait_for(lambda: "kafka_backup_records" in receiver.metric_names())
        assert "kafka_backup_lag_records" in receiver.metric_names()
        resource = receiver.resource_attributes()
        assert resource["service.name"] == "kafka-backup-test"
        assert resource["deployment.environment"] == "test"
        assert any(h.get("x-tenant") == "acme" for h in receiver.headers)
        points = [p for m in receiver.metrics() if m.name == "kafka_backup_records" for p in m.sum.data_points]
        assert [(p.as_int, attributes_of(p.attributes)) for p in points] == [(42, ATTRS)]

    def test_spans_and_exemplars_arrive(self, receiver: OtlpReceiver) -> None:
        """A span is exported, and a histogram recorded inside it carries its trace id as an exemplar."""
        telemetry = setup(environ=otlp_env(receiver), set_global=False, configure_logs=False)
        with telemetry.tracer().start_as_current_span("backup.segment") as span:
            telemetry.metrics.backup_storage_write_latency_seconds.record(
                0.2, {"backend": "s3", "operation": "segment"}
            )
            trace_id = span.get_span_context().trace_id
        telemetry.shutdown()
        assert receiver.wait_for(lambda: bool(receiver.spans()) and bool(receiver.metrics()))
        assert [s.name for s in receiver.spans()] == ["backup.segment"]
        histogram = next(m for m in receiver.metrics() if m.name == "kafka_backup_storage_write_latency_seconds")
        exemplars = [e for p in histogram.histogram.data_points for e in p.exemplars]
        assert [int.from_bytes(e.trace_id, "big") for e in exemplars] == [trace_id]
        assert list(histogram.histogram.data_points[0].explicit_bounds) == list(
            family("kafka_backup_storage_write_latency_seconds").buckets
        )

    def test_logs_arrive_with_trace_context(self, receiver: OtlpReceiver) -> None:
        """A log line inside a span is exported as an OTLP log record carrying the span's trace id and fields."""
        telemetry = setup(environ=otlp_env(receiver), set_global=False, configure_logs=True)
        try:
            with telemetry.tracer().start_as_current_span("restore") as span:
                get_logger("kafka_backup.engine.test").info("segment_restored", topic="orders", records=10)
                trace_id = span.get_span_context().trace_id
            telemetry.shutdown()
        finally:
            reset_logging()
        assert receiver.wait_for(lambda: any(r.body.string_value == "segment_restored" for r in receiver.logs()))
        record = next(r for r in receiver.logs() if r.body.string_value == "segment_restored")
        assert int.from_bytes(record.trace_id, "big") == trace_id
        assert attributes_of(record.attributes)["topic"] == "orders"
        assert attributes_of(record.attributes)["records"] == 10


class TestHeaderRedaction:
    def test_otlp_header_values_are_masked_in_logs(self) -> None:
        """setup() registers OTLP header values (collector credentials) with the log redactor."""
        with OtlpGrpcReceiver() as receiver:
            telemetry = setup(
                environ={
                    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": receiver.endpoint,
                    "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20tok-9f8e7d6c",
                },
                set_global=False,
                configure_logs=False,
            )
            telemetry.shutdown()
        assert default_redactor().redact_text("sent tok-9f8e7d6c") == f"sent {REDACTED}"


class TestExemplars:
    def test_histogram_exemplars_carry_the_trace_id(self, receiver: OtlpReceiver) -> None:
        """A latency recorded inside a span arrives over OTLP with an exemplar naming that span's trace."""
        telemetry = setup(environ=otlp_env(receiver), set_global=False, configure_logs=False)
        with telemetry.tracer().start_as_current_span("segment.flush") as span:
            telemetry.metrics.backup_storage_write_latency_seconds.record(
                0.042, {"backend": "filesystem", "operation": "segment"}
            )
            trace_id = span.get_span_context().trace_id
        telemetry.shutdown()
        name = family("kafka_backup_storage_write_latency_seconds").instrument
        assert receiver.wait_for(lambda: name in receiver.metric_names())
        exemplars = [
            exemplar
            for metric in receiver.metrics()
            if metric.name == name
            for point in metric.histogram.data_points
            for exemplar in point.exemplars
        ]
        assert exemplars, "no exemplar on the OTLP histogram"
        assert int.from_bytes(exemplars[0].trace_id, "big") == trace_id
        assert exemplars[0].as_double == 0.042

    def test_only_histograms_keep_exemplars(self) -> None:
        """Inside a sampled span a histogram keeps its trace-id exemplar; counters and gauges record none."""
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader], views=views(100, {}), shutdown_on_exit=False)
        metrics = Metrics(provider)
        with TracerProvider().get_tracer("test").start_as_current_span("segment.flush") as span:
            metrics.backup_storage_write_latency_seconds.record(0.042, {"backend": "s3", "operation": "segment"})
            metrics.backup_records_total.add(5, ATTRS)
            metrics.backup_fetch_rate.set(2.0, {"backup_id": "b1"})
            trace_id = span.get_span_context().trace_id
        data = reader.get_metrics_data()
        provider.shutdown()
        assert data is not None
        exemplars = {
            metric.name: [e.trace_id for point in metric.data.data_points for e in point.exemplars]
            for metric in data.resource_metrics[0].scope_metrics[0].metrics
        }
        assert exemplars == {
            "kafka_backup_storage_write_latency_seconds": [trace_id],
            "kafka_backup_records": [],
            "kafka_backup_fetch_rate": [],
        }


class TestMemory:
    def test_registry_bytes_per_series(self) -> None:
        """A partition's series (three counters, the commit gauge, three lag gauges) cost under 850 bytes each.

        The SDK's defaults cost about 1,460: a reservoir per counter and gauge series, and a key rebuilt from fresh
        tuples for each series. ``bench.scrape`` measures the same thing at 10,000 series.
        """
        tracemalloc.start()
        try:
            telemetry = setup(environ={}, set_global=False, configure_logs=False)
            generate_latest(telemetry.registry)
            before = tracemalloc.get_traced_memory()[0]
            for i in range(300):
                topic, partition = f"topic-{i // 100}", i % 100
                labels = {"backup_id": "b1", "topic": topic, "partition": str(partition)}
                telemetry.metrics.backup_records_total.add(10, labels)
                telemetry.metrics.backup_bytes_total.add(1000, labels)
                telemetry.metrics.backup_segments_total.add(1, labels)
                telemetry.metrics.backup_last_successful_commit.set(1.0, labels)
                telemetry.metrics.lag.update(
                    "b1", topic, partition, 10, 9, last_record_timestamp_ms=1, avg_record_bytes=1
                )
            generate_latest(telemetry.registry)
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        telemetry.shutdown()
        assert held / (300 * 7) < 850
