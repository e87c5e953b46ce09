"""Test helpers shipped with the package: an in-memory ``Metrics`` and in-process OTLP receivers (gRPC and HTTP)."""

from kafka_backup.telemetry.testing._capture import HistogramValue, MetricsCapture
from kafka_backup.telemetry.testing._otlp import OtlpGrpcReceiver, OtlpHttpReceiver, OtlpReceiver, attributes_of

__all__ = ["HistogramValue", "MetricsCapture", "OtlpGrpcReceiver", "OtlpHttpReceiver", "OtlpReceiver", "attributes_of"]
