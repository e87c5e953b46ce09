"""Telemetry for kafka-backup: one OpenTelemetry MeterProvider, a Prometheus pull reader and an OTLP push reader."""

__all__: list[str] = []
