"""Tests of the logging pipeline: formats, levels, trace context, librdkafka routing, redaction on every output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import confluent_kafka
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk.trace import TracerProvider

from kafka_backup.telemetry.logs import (
    LogFormat,
    configure_logging,
    get_logger,
    kafka_logger,
    parse_levels,
    reset_logging,
)
from kafka_backup.telemetry.otlp_logs import severity
from kafka_backup.telemetry.providers import setup
from kafka_backup.telemetry.redact import REDACTED, Redactor
from kafka_backup.telemetry.testing import OtlpGrpcReceiver, attributes_of

SECRET = "s3cr3t-Passw0rd"  # noqa: S105 - a fake secret the tests search every output for


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A non-TTY stream that logging is configured to write to; logging is reset afterwards."""
    buffer = io.StringIO()
    yield buffer
    reset_logging()


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    """Every line of the stream, parsed as one JSON object each."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class TestParseLevels:
    def test_root_and_per_logger_directives(self) -> None:
        """'info,kafka=debug' sets the root to INFO and the kafka logger to DEBUG."""
        assert parse_levels("info,kafka=debug") == (logging.INFO, {"kafka": logging.DEBUG}, [])

    def test_unknown_level_is_a_problem(self) -> None:
        """An unknown level is reported and skipped."""
        root, levels, problems = parse_levels("loud,kafka=debug")
        assert root == logging.INFO
        assert levels == {"kafka": logging.DEBUG}
        assert len(problems) == 1


class TestConfigureLogging:
    def test_json_one_object_per_line(self, stream: io.StringIO) -> None:
        """JSON format writes one parseable object per line with event, level, logger and bound fields."""
        configure_logging(environ={"KAFKA_BACKUP_LOG_FORMAT": "json"}, stream=stream)
        log = get_logger("kafka_backup.engine.backup.run", backup_id="b1")
        log.info("segment_committed", topic="orders", partition=3)
        logging.getLogger("thirdparty").warning("plain %s line", "stdlib", extra={"topic": "t2"})
        first, second = json_lines(stream)
        assert first["event"] == "segment_committed"
        assert first["backup_id"] == "b1"
        assert first["partition"] == 3
        assert first["level"] == "info"
        assert first["logger"] == "kafka_backup.engine.backup.run"
        assert "timestamp" in first
        assert second["event"] == "plain stdlib line"
        assert second["topic"] == "t2"

    def test_text_has_no_colour_off_a_tty(self, stream: io.StringIO) -> None:
        """Text format on a non-TTY stream has no ANSI escape codes."""
        config = configure_logging(environ={}, stream=stream)
        get_logger("x").warning("careful", thing="y")
        assert config.format is LogFormat.TEXT
        assert "careful" in stream.getvalue()
        assert "\x1b[" not in stream.getvalue()

    def test_unknown_format_warns_and_uses_text(self, stream: io.StringIO) -> None:
        """An unknown format falls back to text with a warning naming the variable."""
        config = configure_logging(environ={"KAFKA_BACKUP_LOG_FORMAT": "xml"}, stream=stream)
        assert config.format is LogFormat.TEXT
        assert "KAFKA_BACKUP_LOG_FORMAT" in stream.getvalue()

    def test_per_logger_levels(self, stream: io.StringIO) -> None:
        """kafka=debug shows kafka debug lines while other loggers stay at info."""
        configure_logging(environ={}, fmt="json", level="info,kafka=debug", stream=stream)
        get_logger("kafka_backup.engine").debug("hidden")
        kafka_logger("c1").debug("shown")
        get_logger("kafka_backup.engine").info("visible")
        assert [line["event"] for line in json_lines(stream)] == ["shown", "visible"]

    def test_trace_ids_inside_spans(self, stream: io.StringIO) -> None:
        """Lines inside a span carry its trace_id and span_id; lines outside carry neither."""
        configure_logging(environ={}, fmt="json", stream=stream)
        tracer = TracerProvider(shutdown_on_exit=False).get_tracer("test")
        with tracer.start_as_current_span("backup") as span:
            get_logger("a").info("inside")
            logging.getLogger("b").info("inside_stdlib")
            context = span.get_span_context()
        get_logger("a").info("outside")
        inside, inside_stdlib, outside = json_lines(stream)
        for line in (inside, inside_stdlib):
            assert line["trace_id"] == format(context.trace_id, "032x")
            assert line["span_id"] == format(context.span_id, "016x")
        assert "trace_id" not in outside

    def test_librdkafka_lines_are_routed(self, stream: io.StringIO) -> None:
        """A real librdkafka client given kafka_logger() logs through our pipeline under the kafka logger."""
        configure_logging(environ={}, fmt="json", level="warning,kafka=debug", stream=stream)
        producer = confluent_kafka.Producer(
            {"bootstrap.servers": "127.0.0.1:1", "logger": kafka_logger("probe"), "debug": "broker"}
        )
        for _ in range(10):
            producer.poll(0.1)
            if any(line["logger"] == "kafka.probe" for line in json_lines(stream)):
                break
        lines = [line for line in json_lines(stream) if line["logger"] == "kafka.probe"]
        assert lines
        assert any("rdkafka#producer" in str(line["event"]) for line in lines)


class TestRedaction:
    def test_secret_in_no_console_output(self, stream: io.StringIO) -> None:
        """A registered secret, secret-named keys and inline pairs never reach the JSON output."""
        redactor = Redactor([SECRET])
        configure_logging(environ={}, fmt="json", stream=stream, redactor=redactor)
        log = get_logger("kafka_backup.engine")
        log.info("config_loaded", sasl_password=SECRET, **{"sasl.password": SECRET}, note=f"uses {SECRET}")
        log.info("connecting", dsn=f"sasl.password={SECRET} bootstrap=b:9092")
        logging.getLogger("thirdparty").error("auth failed for token=%s", SECRET)
        try:
            raise PermissionError(f"denied with {SECRET}")
        except PermissionError:
            log.exception("storage_auth_failed")
        output = stream.getvalue()
        assert SECRET not in output
        assert output.count(REDACTED) >= 6

    def test_secret_in_no_text_output(self, stream: io.StringIO) -> None:
        """Text format masks the same way."""
        configure_logging(environ={}, fmt="text", stream=stream, redactor=Redactor([SECRET]))
        get_logger("x").info("login", password=SECRET, message=f"pw {SECRET}")
        assert SECRET not in stream.getvalue()

    def test_secret_in_no_otlp_log(self, stream: io.StringIO) -> None:
        """OTLP log records carry the redacted event, never the secret."""
        with OtlpGrpcReceiver() as receiver:
            telemetry = setup(
                environ={"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": receiver.endpoint},
                set_global=False,
                configure_logs=False,
            )
            configure_logging(
                environ={}, stream=stream, logger_provider=telemetry.logger_provider, redactor=Redactor([SECRET])
            )
            get_logger("x").info("login", password=SECRET, detail=f"with {SECRET}")
            logging.getLogger("y").warning("token=%s", SECRET)
            telemetry.shutdown()
            assert receiver.wait_for(lambda: len(receiver.logs()) >= 2)
        for record in receiver.logs():
            assert SECRET not in record.body.string_value
            assert SECRET not in str(attributes_of(record.attributes))
        login = next(r for r in receiver.logs() if r.body.string_value == "login")
        assert attributes_of(login.attributes)["password"] == REDACTED


class TestOtlpSeverity:
    """Stdlib levels map onto the OpenTelemetry logs data model's severity ranges (DEBUG 5-8 ... FATAL 21-24)."""

    @pytest.mark.parametrize(
        ("levelno", "expected"),
        [
            (logging.DEBUG, SeverityNumber.DEBUG),
            (logging.INFO, SeverityNumber.INFO),
            (logging.INFO + 1, SeverityNumber.INFO2),
            (logging.INFO + 7, SeverityNumber.INFO4),
            (logging.WARNING, SeverityNumber.WARN),
            (logging.ERROR, SeverityNumber.ERROR),
            (logging.ERROR + 2, SeverityNumber.ERROR3),
            (logging.CRITICAL, SeverityNumber.FATAL),
            (logging.CRITICAL + 9, SeverityNumber.FATAL4),
            (5, SeverityNumber.UNSPECIFIED),
        ],
    )
    def test_mapping(self, levelno: int, expected: SeverityNumber) -> None:
        assert severity(levelno) is expected
