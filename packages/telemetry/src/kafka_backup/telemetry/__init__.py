"""Telemetry for kafka-backup: one OpenTelemetry MeterProvider, a Prometheus pull reader and an OTLP push reader.

The engine records through ``Metrics`` (the OTel API only); the CLI wires the SDK once with ``setup()``.
"""

from kafka_backup.telemetry.catalog import CATALOG, Family, Kind, Metrics, family
from kafka_backup.telemetry.observed import LagTracker, ObservedValues

__all__ = [
    "CATALOG",
    "Family",
    "Kind",
    "LagTracker",
    "Metrics",
    "ObservedValues",
    "family",
]
