"""The zero series a run starts with, read back from a real scrape."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kafka_backup.telemetry.baseline import zero_errors, zero_storage
from kafka_backup.telemetry.providers import Telemetry, setup


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    telemetry = setup(environ={}, set_global=False, configure_logs=False)
    yield telemetry
    telemetry.shutdown()


def series(telemetry: Telemetry, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of ``name`` in a scrape, by its sorted labels."""
    text = generate_latest(telemetry.registry).decode()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


class TestZeroErrors:
    def test_one_zero_series_per_error_type(self, telemetry: Telemetry) -> None:
        """Each error type gets its series at 0; duplicates collapse; nothing else is created."""
        zero_errors(telemetry.metrics, backup_id="b", operation="backup", error_types=["X_FAILED", "Y", "X_FAILED"])
        assert series(telemetry, "kafka_backup_errors_total") == {
            (("backup_id", "b"), ("error_type", "X_FAILED"), ("operation", "backup")): 0.0,
            (("backup_id", "b"), ("error_type", "Y"), ("operation", "backup")): 0.0,
        }

    def test_a_later_error_counts_on_the_same_series(self, telemetry: Telemetry) -> None:
        """The first real error moves the zero series to 1: increase() sees it."""
        zero_errors(telemetry.metrics, backup_id="b", operation="restore", error_types=["X_FAILED"])
        labels = {"backup_id": "b", "operation": "restore", "error_type": "X_FAILED"}
        telemetry.metrics.backup_errors_total.add(1, labels)
        assert series(telemetry, "kafka_backup_errors_total") == {tuple(sorted(labels.items())): 1.0}


class TestZeroStorage:
    def test_errors_by_type_and_retries_by_operation_and_reason(self, telemetry: Telemetry) -> None:
        """Storage errors per type, retries per (operation, reason) pair, all at 0 and no more."""
        zero_storage(
            telemetry.metrics,
            backend="s3",
            backup_id="b",
            error_types=["timeout", "auth"],
            retry_operations=["storage_put", "storage_get"],
            retry_reasons=["timeout"],
        )
        assert series(telemetry, "kafka_backup_storage_errors_total") == {
            (("backend", "s3"), ("error_type", "auth")): 0.0,
            (("backend", "s3"), ("error_type", "timeout")): 0.0,
        }
        assert series(telemetry, "kafka_backup_retries_total") == {
            (("backup_id", "b"), ("operation", "storage_get"), ("reason", "timeout")): 0.0,
            (("backup_id", "b"), ("operation", "storage_put"), ("reason", "timeout")): 0.0,
        }

    def test_no_retry_operations_no_retry_series(self, telemetry: Telemetry) -> None:
        """Without retry operations only the error series exist."""
        zero_storage(
            telemetry.metrics,
            backend="gcs",
            backup_id="b",
            error_types=["quota"],
            retry_operations=[],
            retry_reasons=["quota"],
        )
        assert series(telemetry, "kafka_backup_retries_total") == {}
        assert series(telemetry, "kafka_backup_storage_errors_total") == {
            (("backend", "gcs"), ("error_type", "quota")): 0.0
        }
