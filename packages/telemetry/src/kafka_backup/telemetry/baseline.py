"""The zero series a run starts with: error, storage-error and retry counters exist before anything goes wrong.

Prometheus computes ``rate()`` and ``increase()`` from two samples of one series, so a counter series that first
appears at 1 shows no increase at all, and a family with no series leaves absence alerts and dashboards with nothing
("No data" for a healthy job). So each run creates, at zero, the series of ``kafka_backup_errors_total``,
``kafka_backup_storage_errors_total`` and ``kafka_backup_retries_total`` whose label values it knows up front.

The label values are the caller's, so this module stays free of engine knowledge; the engine passes closed sets
from its error tree (stable error codes, storage error types), never anything that grows with the data. A run pays
for this once, at its start: nothing here is on a per-batch path.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka_backup.telemetry.catalog import Metrics

__all__ = ["zero_errors", "zero_storage"]


def zero_errors(metrics: Metrics, *, backup_id: str, operation: str, error_types: Iterable[str]) -> None:
    """``kafka_backup_errors_total{backup_id, operation, error_type}`` at zero for each of ``error_types``."""
    for error_type in sorted(set(error_types)):
        metrics.backup_errors_total.add(0, {"backup_id": backup_id, "operation": operation, "error_type": error_type})


def zero_storage(
    metrics: Metrics,
    *,
    backend: str,
    backup_id: str,
    error_types: Iterable[str],
    retry_operations: Iterable[str],
    retry_reasons: Iterable[str],
) -> None:
    """The series of one store at zero: its errors by type, and its retries by operation and reason.

    ``kafka_backup_storage_errors_total{backend, error_type}`` for each of ``error_types``;
    ``kafka_backup_retries_total{backup_id, operation, reason}`` for each pair of ``retry_operations`` x
    ``retry_reasons`` (both small: the store's calls, and the error types that are retried).
    """
    for error_type in sorted(set(error_types)):
        metrics.backup_storage_errors_total.add(0, {"backend": backend, "error_type": error_type})
    reasons = sorted(set(retry_reasons))
    for operation in sorted(set(retry_operations)):
        for reason in reasons:
            metrics.backup_retries_total.add(0, {"backup_id": backup_id, "operation": operation, "reason": reason})
