"""Counters a run starts with at zero: the error tree's closed sets, a store's series, a validation's series."""

from __future__ import annotations

import gc
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kafka_backup.engine import errors
from kafka_backup.engine.catalog.validate import DEFECT_KINDS, validate_backup
from kafka_backup.engine.errors import BackupError, StorageError
from kafka_backup.engine.store import open_store
from kafka_backup.telemetry.providers import Telemetry, setup


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    telemetry = setup(environ={}, set_global=False, configure_logs=False)
    yield telemetry
    telemetry.shutdown()


def samples(telemetry: Telemetry, name: str) -> list[tuple[dict[str, str], float]]:
    text = generate_latest(telemetry.registry).decode()
    return [
        (dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def module_errors() -> list[type[BackupError]]:
    """Every error class errors.py defines, found by reading the module rather than walking subclasses."""
    return [cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, BackupError)]


class TestErrorTree:
    def test_codes_cover_every_class(self) -> None:
        """BackupError.codes() holds the code of every class in errors.py, each once, sorted."""
        codes = BackupError.codes()
        assert {cls.code for cls in module_errors()} <= set(codes)
        assert list(codes) == sorted(set(codes))

    def test_codes_follow_new_subclasses(self) -> None:
        """A subclass defined later (a test's, a plug-in's) is in the set from then on."""

        class LateError(StorageError):
            code = "LATE_TEST_ERROR"
            error_type = "late"

        assert "LATE_TEST_ERROR" in BackupError.codes()
        assert "late" in StorageError.error_types()
        del LateError
        gc.collect()  # a class lives in __subclasses__() until collected: leave no stray code for other tests
        assert "LATE_TEST_ERROR" not in BackupError.codes()

    def test_every_engine_error_class_is_declared_in_errors_py(self) -> None:
        """A run zeroes the series of ``BackupError.codes()``, which sees only imported classes: a class declared
        in a module the run does not import (drill.py's once) had no zero series in a backup's scrape."""
        import kafka_backup.engine  # noqa: PLC0415

        for module in pkgutil.walk_packages(kafka_backup.engine.__path__, "kafka_backup.engine."):
            importlib.import_module(module.name)
        elsewhere = [
            f"{cls.__module__}.{cls.__name__}"
            for cls in BackupError.family()
            if cls.__module__.startswith("kafka_backup.") and cls.__module__ != errors.__name__
        ]
        assert elsewhere == []

    def test_storage_error_types_and_the_retried_ones(self) -> None:
        """The storage categories are the storage classes' error types; the retried ones those marked retryable."""
        storage = [cls for cls in module_errors() if issubclass(cls, StorageError)]
        assert set(StorageError.error_types()) >= {cls.error_type for cls in storage}
        assert {"timeout", "auth", "not_found", "quota", "unknown"} <= set(StorageError.error_types())
        retried = set(StorageError.error_types(retryable=True))
        assert retried >= {cls.error_type for cls in storage if cls.retryable}
        assert "auth" not in retried


class TestStoreSeries:
    def test_a_measured_store_starts_with_zero_series(self, telemetry: Telemetry, tmp_path: Path) -> None:
        """open_store with metrics: a storage-error series per type and a retry series per call and retried type."""
        open_store(f"file://{tmp_path}", metrics=telemetry.metrics, backup_id="b")
        storage = samples(telemetry, "kafka_backup_storage_errors_total")
        assert sorted(labels["error_type"] for labels, _ in storage) == list(StorageError.error_types())
        assert {labels["backend"] for labels, _ in storage} == {"filesystem"}
        retries = samples(telemetry, "kafka_backup_retries_total")
        reasons = StorageError.error_types(retryable=True)
        operations = {f"storage_{action}" for action in ("put", "get", "stat", "list", "delete")}
        assert {(labels["operation"], labels["reason"]) for labels, _ in retries} == {
            (operation, reason) for operation in operations for reason in reasons
        }
        assert {labels["backup_id"] for labels, _ in retries} == {"b"}
        assert all(value == 0 for _, value in storage + retries)

    def test_an_unmeasured_store_creates_nothing(self, telemetry: Telemetry, tmp_path: Path) -> None:
        """Without metrics no series appear (the CLI's read-only commands open stores this way)."""
        open_store(f"file://{tmp_path}")
        assert samples(telemetry, "kafka_backup_storage_errors_total") == []


class TestValidationSeries:
    def test_every_defect_kind_starts_at_zero(self, telemetry: Telemetry, tmp_path: Path) -> None:
        """validate of a missing backup: MISSING counts 1, every other defect kind's series is there at 0."""
        store = open_store(f"file://{tmp_path}", metrics=telemetry.metrics, backup_id="gone")
        report = validate_backup(store, "gone", metrics=telemetry.metrics)
        assert [finding.kind for finding in report.defects] == ["missing"]
        counted = {
            labels["error_type"]: value
            for labels, value in samples(telemetry, "kafka_backup_errors_total")
            if labels["operation"] == "validate" and labels["backup_id"] == "gone"
        }
        assert counted == {kind.upper(): (1.0 if kind == "missing" else 0.0) for kind in DEFECT_KINDS}
