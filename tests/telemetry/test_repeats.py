"""Tests of the collapsing of repeated librdkafka lines: on its own (injected clock) and with a real client."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient

from kafka_backup.telemetry.logs import configure_logging, kafka_logger, reset_logging
from kafka_backup.telemetry.repeats import RepeatFilter, flush_repeats

REFUSED = "Connect to ipv4#127.0.0.1:9 failed: Connection refused (after {ms}ms in state CONNECT{more})"


class Clock:
    """A settable clock for the filter's interval."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Logging configured (JSON) to a buffer; reset afterwards."""
    buffer = io.StringIO()
    configure_logging(environ={}, fmt="json", level="info", stream=buffer)
    yield buffer
    reset_logging()


def lines(stream: io.StringIO, logger: str) -> list[dict[str, object]]:
    """The JSON lines of one logger."""
    parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in parsed if line["logger"] == logger]


@pytest.fixture
def collapsed(stream: io.StringIO) -> Iterator[tuple[logging.Logger, Clock]]:
    """A logger with a RepeatFilter on a settable clock (10 s interval)."""
    logger = logging.getLogger("kafka.test-repeats")
    clock = Clock()
    repeat_filter = RepeatFilter(interval_s=10.0, clock=clock)
    logger.addFilter(repeat_filter)
    yield logger, clock
    logger.removeFilter(repeat_filter)


class TestRepeatFilter:
    def test_first_line_then_count_at_flush(self, stream: io.StringIO, collapsed: tuple[logging.Logger, Clock]) -> None:
        """290 repeats within the interval print one line; the flush prints one more with the count of the rest."""
        logger, _ = collapsed
        for i in range(290):
            # librdkafka's own counter and timing vary between repeats: still the same line
            logger.error(REFUSED.format(ms=i % 3, more=f", {i} identical error(s) suppressed" if i else ""))
        assert len(lines(stream, "kafka.test-repeats")) == 1
        flush_repeats()
        first, summary = lines(stream, "kafka.test-repeats")
        assert "repeats_suppressed" not in first
        assert summary["repeats_suppressed"] == 289
        flush_repeats()
        assert len(lines(stream, "kafka.test-repeats")) == 2, "a flush with nothing pending logs nothing"

    def test_one_line_per_interval(self, stream: io.StringIO, collapsed: tuple[logging.Logger, Clock]) -> None:
        """After the interval the next repeat passes, carrying the count of those dropped since the last line."""
        logger, clock = collapsed
        for second in range(25):
            clock.now = float(second)
            logger.error(REFUSED.format(ms=0, more=""))
        shown = lines(stream, "kafka.test-repeats")
        # lines at t=0, 10 and 20; the two later ones each stand for the 9 dropped before them
        assert [line.get("repeats_suppressed") for line in shown] == [None, 9, 9]

    def test_different_lines_are_kept(self, stream: io.StringIO, collapsed: tuple[logging.Logger, Clock]) -> None:
        """Another broker, another error or another level is its own line, not a repeat."""
        logger, _ = collapsed
        logger.error(REFUSED.format(ms=0, more=""))
        logger.error(REFUSED.format(ms=0, more="").replace("127.0.0.1:9", "127.0.0.1:10"))
        logger.warning(REFUSED.format(ms=0, more=""))
        logger.warning("kafka_client_error", extra={"error": "Connection refused"})
        logger.warning("kafka_client_error", extra={"error": "Authentication failed"})
        logger.warning("kafka_client_error", extra={"error": "Authentication failed"})
        assert len(lines(stream, "kafka.test-repeats")) == 5


class TestRealClient:
    def test_refused_broker_lines_collapse(self, stream: io.StringIO) -> None:
        """A real client on a refused port for 3 s: every repeated line but the first is held back and counted."""
        logger = kafka_logger("repeats-probe")
        conf: dict[str, Any] = {"bootstrap.servers": "127.0.0.1:9", "logger": logger, "reconnect.backoff.max.ms": 100}
        admin = AdminClient(conf)
        with pytest.raises(confluent_kafka.KafkaException):
            admin.list_topics(timeout=3)
        admin.poll(0.1)
        shown = lines(stream, "kafka.repeats-probe")
        flush_repeats()
        flushed = lines(stream, "kafka.repeats-probe")[len(shown) :]
        suppressed = sum(int(str(line.get("repeats_suppressed", 0))) for line in shown + flushed)
        # at 100 ms backoff for 3 s librdkafka logs the refusal ~30 times: all but one per kind are counted
        assert suppressed >= 10
        assert len(shown) <= 3
        assert all("Connection refused" in str(line["event"]) for line in shown)
