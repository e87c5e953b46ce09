"""Test helpers shipped with the package: an in-memory ``Metrics`` and value lookups by family name."""

from kafka_backup.telemetry.testing._capture import HistogramValue, MetricsCapture

__all__ = ["HistogramValue", "MetricsCapture"]
