"""Tests of the state behind observable instruments, read back through a real SDK collection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.metrics import CallbackOptions

from kafka_backup.telemetry.observed import LagTracker, ObservedValues
from kafka_backup.telemetry.testing import MetricsCapture

P0 = {"backup_id": "b1", "topic": "orders", "partition": "0"}
P1 = {"backup_id": "b1", "topic": "orders", "partition": "1"}


@pytest.fixture
def capture() -> Iterator[MetricsCapture]:
    """A Metrics on an in-memory reader."""
    with MetricsCapture() as capture:
        yield capture


class TestObservedValues:
    def test_set_is_observed(self, capture: MetricsCapture) -> None:
        """A set value is what the next collection reports."""
        capture.metrics.backup_last_successful_commit.set(1700000000.0, P0)
        assert capture.value("kafka_backup_last_successful_commit", **P0) == 1700000000.0

    def test_forget_drops_the_series(self, capture: MetricsCapture) -> None:
        """A forgotten series is absent from the next collection while others stay."""
        commits = capture.metrics.backup_last_successful_commit
        commits.set(1.0, P0)
        commits.set(2.0, P1)
        commits.forget(P0)
        assert capture.series("kafka_backup_last_successful_commit") == {frozenset(P1.items()): 2.0}

    def test_forget_matching(self) -> None:
        """forget_matching removes every series carrying the given label values."""
        values = ObservedValues("x", ("backup_id", "topic", "partition"))
        values.set(1, P0)
        values.set(1, {**P1, "backup_id": "b2"})
        values.forget_matching(backup_id="b1")
        assert list(values.snapshot()) == [("b2", "orders", "1")]

    def test_replace_matching_is_a_full_snapshot(self) -> None:
        """replace_matching drops the subset's old series and installs the new ones, leaving others alone."""
        values = ObservedValues("x", ("client", "broker"))
        values.set(1, {"client": "c1", "broker": "a"})
        values.set(1, {"client": "c2", "broker": "a"})
        values.replace_matching({"client": "c1"}, [({"client": "c1", "broker": "b"}, 5)])
        assert values.snapshot() == {("c2", "a"): 1.0, ("c1", "b"): 5.0}

    def test_wrong_labels_are_rejected(self) -> None:
        """A write with a missing or extra label raises instead of creating an unqueried series."""
        values = ObservedValues("x", ("backup_id",))
        with pytest.raises(ValueError, match="takes labels"):
            values.set(1, {"backupid": "b"})
        with pytest.raises(ValueError, match="has no labels"):
            values.forget_matching(topic="t")


class TestLagTracker:
    def test_records_bytes_and_max(self, capture: MetricsCapture) -> None:
        """Records lag is end minus next offset, bytes scale by the average size, max is per backup."""
        lag = capture.metrics.lag
        lag.update("b1", "orders", 0, end_offset=100, next_offset=40, avg_record_bytes=10.0)
        lag.update("b1", "orders", 1, end_offset=10, next_offset=10, avg_record_bytes=10.0)
        assert capture.value("kafka_backup_lag_records", **P0) == 60
        assert capture.value("kafka_backup_lag_records", **P1) == 0
        assert capture.value("kafka_backup_lag_bytes", **P0) == 600.0
        assert capture.value("kafka_backup_lag_records_max", backup_id="b1") == 60

    def test_seconds_from_record_timestamps(self) -> None:
        """Time lag is the age of the last record read while behind, and 0 once caught up."""
        lag = LagTracker(clock=lambda: 1000.0)
        lag.update("b1", "orders", 0, 100, 40, last_record_timestamp_ms=990_000)
        lag.update("b1", "orders", 1, 10, 10, last_record_timestamp_ms=1)
        observed = {(o.attributes or {})["partition"]: o.value for o in lag.observe_seconds(CallbackOptions())}
        assert observed == {"0": 10.0, "1": 0.0}

    def test_unknown_sizes_are_not_exported(self, capture: MetricsCapture) -> None:
        """Without an average size or a timestamp, bytes and seconds series are absent rather than zero."""
        capture.metrics.lag.update("b1", "orders", 0, 100, 40)
        assert capture.value("kafka_backup_lag_records", **P0) == 60
        assert capture.value("kafka_backup_lag_bytes", **P0) is None
        assert capture.value("kafka_backup_lag_seconds", **P0) is None

    def test_forget_after_rebalance(self, capture: MetricsCapture) -> None:
        """A revoked partition disappears from every lag family."""
        lag = capture.metrics.lag
        lag.update("b1", "orders", 0, 100, 40)
        lag.update("b1", "orders", 1, 100, 90)
        lag.forget("b1", "orders", 0)
        assert capture.value("kafka_backup_lag_records", **P0) is None
        assert capture.value("kafka_backup_lag_records_max", backup_id="b1") == 10

    def test_forget_backup(self) -> None:
        """forget_backup drops every partition of that backup only."""
        lag = LagTracker()
        lag.update("b1", "orders", 0, 100, 40)
        lag.update("b2", "orders", 0, 100, 40)
        lag.forget_backup("b1")
        assert lag.records("b1", "orders", 0) is None
        assert lag.records("b2", "orders", 0) == 60
