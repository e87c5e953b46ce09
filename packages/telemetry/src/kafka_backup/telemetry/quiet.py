"""Telemetry for a run nobody observes: no metrics endpoint or file, and no OTLP endpoint.

Such a run has no reader for a metric or a span, so it records through the OpenTelemetry API's no-op providers and
never imports the SDK, the exporters or the Prometheus client (about a third of a one-shot command's start-up).
Logs are configured as always. Trace ids are absent from its log lines: with nothing exported they would name
traces that exist nowhere.

A run that has a sink, an OTLP endpoint, or a telemetry setting it cannot use (whose warning ``setup()`` logs)
goes through :func:`kafka_backup.telemetry.providers.setup` instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider

from kafka_backup.telemetry.catalog import METER_NAME, Metrics
from kafka_backup.telemetry.logs import configure_logging
from kafka_backup.telemetry.repeats import flush_repeats
from kafka_backup.telemetry.settings import TelemetrySettings

__all__ = ["QuietTelemetry", "quiet_setup"]


@dataclass
class QuietTelemetry:
    """What ``setup()`` returns, minus every provider: ``metrics`` records into the no-op meter."""

    settings: TelemetrySettings
    metrics: Metrics = field(default_factory=lambda: Metrics(NoOpMeterProvider()))
    registry: None = None

    def tracer(self, name: str = METER_NAME) -> trace.Tracer:
        return trace.NoOpTracer()

    def shutdown(self, timeout_millis: int = 10_000) -> None:
        """Log the counts of collapsed librdkafka repeats, as ``Telemetry.shutdown`` does."""
        flush_repeats()


def quiet_setup(environ: Mapping[str, str] | None = None) -> QuietTelemetry | None:
    """Logging only, when the environment configures no OTLP signal and no setting is wrong; else None."""
    env = os.environ if environ is None else environ
    settings = TelemetrySettings.from_env(env)
    if settings.otlp_enabled or settings.problems:
        return None
    configure_logging(environ=env)
    return QuietTelemetry(settings)
