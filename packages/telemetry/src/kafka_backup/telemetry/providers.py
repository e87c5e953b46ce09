"""``setup()``: one MeterProvider with two readers, a TracerProvider, a LoggerProvider; ``shutdown()`` for CLIs.

Instrument once, two readers: the engine records through ``Metrics`` and both readers see every measurement.

- ``PrometheusMetricReader`` fills our own ``CollectorRegistry`` (plus process, platform and GC collectors), served on
  /metrics and written to metrics files. It is always on.
- An OTLP ``PeriodicExportingMetricReader`` is added only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` is set; traces and logs likewise follow their own endpoints. With nothing
  set, nothing is attempted, so the hermetic test suite and air-gapped runs stay offline.

Never call ``MeterProvider.force_flush()``: with the Prometheus reader attached it makes the next scrape emit every
series several times. ``MeterProvider.shutdown()`` already collects and exports once more through the OTLP reader,
which is the flush a one-shot CLI needs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import Exemplar, ExemplarReservoir, MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.util.types import Attributes
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from kafka_backup.telemetry._version import PACKAGE_VERSION
from kafka_backup.telemetry.attribute_keys import share_attribute_keys
from kafka_backup.telemetry.catalog import CATALOG, METER_NAME, Kind, Metrics
from kafka_backup.telemetry.errors import TelemetryConfigError
from kafka_backup.telemetry.logs import configure_logging
from kafka_backup.telemetry.redact import default_redactor
from kafka_backup.telemetry.repeats import flush_repeats
from kafka_backup.telemetry.settings import OtlpTarget, Protocol, TelemetrySettings

__all__ = ["Telemetry", "active", "setup", "shutdown"]

_log = logging.getLogger("kafka_backup.telemetry")
_OVERFLOW_ATTRIBUTE = "otel.metric.overflow"


@dataclass
class Telemetry:
    """Everything ``setup()`` wired; the CLI keeps it for the run and calls ``shutdown()`` before exiting."""

    settings: TelemetrySettings
    registry: CollectorRegistry
    meter_provider: MeterProvider
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider | None
    metrics: Metrics
    otlp_metric_reader: MetricReader | None = None
    _shut_down: bool = field(default=False, repr=False)

    def tracer(self, name: str = METER_NAME) -> trace.Tracer:
        """A tracer of this setup's TracerProvider (spans export over OTLP when traces are configured)."""
        return self.tracer_provider.get_tracer(name, PACKAGE_VERSION)

    def shutdown(self, timeout_millis: int = 10_000) -> None:
        """Export what is pending (spans, logs, a final metric collection) and stop every provider. Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        # The counts of collapsed librdkafka repeats, while the log handlers (OTLP included) still run.
        flush_repeats()
        # Spans first: a span ending now may still record metrics and logs, which the later shutdowns export.
        self.tracer_provider.shutdown()
        if self.logger_provider is not None:
            self.logger_provider.shutdown()
        # Not force_flush() (see the module docstring): shutdown does the final OTLP collection and export.
        self.meter_provider.shutdown(timeout_millis=timeout_millis)
        global _ACTIVE  # noqa: PLW0603 - the process-wide handle set by setup(set_global=True)
        with _LOCK:
            if _ACTIVE is self:
                _ACTIVE = None


_ACTIVE: Telemetry | None = None
_LOCK = threading.Lock()


def active() -> Telemetry | None:
    """The process-wide telemetry installed by ``setup(set_global=True)``, if any."""
    return _ACTIVE


def setup(
    *,
    environ: Mapping[str, str] | None = None,
    service_name: str = "kafka-backup",
    service_version: str | None = None,
    cardinality_limits: Mapping[str, int] | None = None,
    registry: CollectorRegistry | None = None,
    set_global: bool = True,
    configure_logs: bool = True,
) -> Telemetry:
    """Wire the SDK once for this process and return the handle (also kept for module-level ``shutdown()``).

    ``environ`` defaults to ``os.environ`` (see ``env.py`` for every variable read). ``cardinality_limits`` overrides
    the per-family limit (``KAFKA_BACKUP_METRICS_CARDINALITY_LIMIT``, default 10000) by exposed family name.
    ``set_global`` installs the providers as the OpenTelemetry globals, which works once per process; tests pass
    False and use ``Telemetry.metrics`` / ``Telemetry.tracer()``. ``configure_logs`` also configures logging
    (``logs.configure_logging``) with OTLP log export when logs are configured.

    A misconfiguration (bad endpoint, unknown protocol, bad number) is logged once as an actionable error and OTLP is
    left off, so logs and /metrics keep working; with ``KAFKA_BACKUP_OTEL_STRICT=true`` it raises
    ``TelemetryConfigError`` instead (the CLI exits with code 2).
    """
    global _ACTIVE  # noqa: PLW0603 - the process-wide handle; only set_global=True touches it
    if set_global and _ACTIVE is not None:
        return _ACTIVE
    settings = TelemetrySettings.from_env(environ, service_name=service_name)
    if settings.problems and settings.strict:
        raise TelemetryConfigError(settings.problems)

    # Collector credentials travel in headers: mask them in every log line from now on.
    redactor = default_redactor()
    for target in (settings.metrics, settings.traces, settings.logs):
        for _name, value in target.headers if target is not None else ():
            redactor.add(value)
            for part in value.split():
                redactor.add(part)

    # Before the MeterProvider exists, so every series it creates gets a key built from shared parts.
    share_attribute_keys()
    resource = _resource(settings, service_version)
    registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
    prometheus_reader = _OverflowWatchingPrometheusReader(registry=registry, scope_info_enabled=False)
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)

    readers: list[MetricReader] = [prometheus_reader]
    otlp_reader: MetricReader | None = None
    if settings.metrics is not None:
        otlp_reader = PeriodicExportingMetricReader(
            _metric_exporter(settings.metrics),
            export_interval_millis=settings.export_interval_ms,
            export_timeout_millis=settings.export_timeout_ms,
        )
        readers.append(otlp_reader)
    meter_provider = MeterProvider(
        metric_readers=readers,
        resource=resource,
        views=views(settings.cardinality_limit, cardinality_limits or {}),
        # The CLI shuts down explicitly; an atexit hook would run after logging is torn down.
        shutdown_on_exit=False,
    )

    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    if settings.traces is not None:
        tracer_provider.add_span_processor(BatchSpanProcessor(_span_exporter(settings.traces)))

    logger_provider: LoggerProvider | None = None
    if settings.logs is not None:
        logger_provider = _logger_provider(settings.logs, resource)

    telemetry = Telemetry(
        settings=settings,
        registry=registry,
        meter_provider=meter_provider,
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
        metrics=Metrics(meter_provider),
        otlp_metric_reader=otlp_reader,
    )
    if configure_logs:
        configure_logging(environ=environ, logger_provider=logger_provider)
    if settings.problems:
        _log.error(
            "telemetry_misconfigured",
            extra={"problems": list(settings.problems), "effect": "OTLP export disabled; logs and /metrics still work"},
        )
    if set_global:
        with _LOCK:
            otel_metrics.set_meter_provider(meter_provider)
            trace.set_tracer_provider(tracer_provider)
            _ACTIVE = telemetry
    return telemetry


def shutdown(timeout_millis: int = 10_000) -> None:
    """Shut down the process-wide telemetry (a no-op when ``setup(set_global=True)`` was not called)."""
    telemetry = _ACTIVE
    if telemetry is not None:
        telemetry.shutdown(timeout_millis)


def views(default_limit: int, limits: Mapping[str, int]) -> list[View]:
    """One View per catalog family: its exact bucket boundaries, its cardinality limit and its exemplars.

    Per-family Views (rather than a ``*`` wildcard) because two matching Views would create two streams per
    instrument. Instruments outside the catalog keep the SDK defaults.

    Exemplars are kept where they are used: histograms keep the SDK's reservoir (a latency recorded inside a span
    carries its trace id over OTLP). Counters and gauges get ``_NO_EXEMPLARS``: the SDK otherwise gives every series
    a reservoir of its own (an object, a lock and a dict, about 265 bytes per series, 18% of the registry at 10,000
    series), and the Prometheus exposition has no exemplars at all.
    """
    result = []
    for spec in CATALOG:
        histogram = spec.kind is Kind.HISTOGRAM
        result.append(
            View(
                instrument_name=spec.instrument,
                meter_name=METER_NAME,
                aggregation=ExplicitBucketHistogramAggregation(boundaries=spec.buckets) if histogram else None,
                exemplar_reservoir_factory=None if histogram else _no_exemplars,
                aggregation_cardinality_limit=limits.get(spec.name, default_limit),
            )
        )
    return result


class _NoExemplars(ExemplarReservoir):
    """A reservoir that keeps nothing; stateless, so one instance serves every series."""

    def offer(self, value: float, time_unix_nano: int, attributes: Attributes, context: Context) -> None:
        """Drop the measurement."""

    def collect(self, point_attributes: Attributes) -> list[Exemplar]:
        """No exemplars (a new list each time: the SDK hands it on inside the data point)."""
        return []


_NO_EXEMPLARS = _NoExemplars()


def _no_exemplars(_aggregation: type[Any]) -> Callable[..., ExemplarReservoir]:
    """The View's reservoir factory: for any aggregation, a builder returning the shared ``_NO_EXEMPLARS``."""
    return lambda **_kwargs: _NO_EXEMPLARS


class _OverflowWatchingPrometheusReader(PrometheusMetricReader):
    """The Prometheus reader, warning once per family when its cardinality limit folds series into overflow.

    Checked here because every setup has this reader and it sees the same streams as the OTLP reader; the check is
    one pass over points the exporter iterates anyway, once per scrape.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._warned: set[str] = set()
        # The exporter's collector queues each collection's data and drains the queue while rendering: two renders
        # at once (a scrape while --metrics-output writes the file) would take each other's data, one output
        # repeating series and the other missing them. One render at a time, materialised under the lock.
        collector = self._collector
        render = collector.collect
        lock = threading.Lock()

        def collect() -> Iterator[Any]:
            with lock:
                families = list(render())
            yield from families

        collector.collect = collect  # type: ignore[method-assign]  # the exporter offers no hook for this

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        if metrics_data is not None:
            for resource_metrics in metrics_data.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        if metric.name not in self._warned and any(
                            (point.attributes or {}).get(_OVERFLOW_ATTRIBUTE) for point in metric.data.data_points
                        ):
                            self._warned.add(metric.name)
                            _log.warning(
                                "metric_cardinality_limit_reached",
                                extra={
                                    "metric": metric.name,
                                    "effect": 'new label combinations are folded into otel_metric_overflow="true"',
                                    "fix": "raise KAFKA_BACKUP_METRICS_CARDINALITY_LIMIT or reduce label values",
                                },
                            )
        super()._receive_metrics(metrics_data, timeout_millis, **kwargs)


def _resource(settings: TelemetrySettings, service_version: str | None) -> Resource:
    attributes: dict[str, str] = dict(settings.resource_attributes)
    attributes["service.name"] = settings.service_name
    attributes.setdefault("service.version", service_version or PACKAGE_VERSION)
    return Resource.create(attributes)


def _metric_exporter(target: OtlpTarget) -> MetricExporter:
    # Imported here: the gRPC stack costs a noticeable part of CLI start-up and is only needed when configured.
    headers = dict(target.headers)
    if target.protocol is Protocol.GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return GrpcMetricExporter(endpoint=target.endpoint, headers=headers, timeout=target.timeout_seconds)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
        OTLPMetricExporter as HttpMetricExporter,
    )

    return HttpMetricExporter(endpoint=target.endpoint, headers=headers, timeout=target.timeout_seconds)


def _span_exporter(target: OtlpTarget) -> SpanExporter:
    headers = dict(target.headers)
    if target.protocol is Protocol.GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter(endpoint=target.endpoint, headers=headers, timeout=target.timeout_seconds)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter(endpoint=target.endpoint, headers=headers, timeout=target.timeout_seconds)


def _logger_provider(target: OtlpTarget, resource: Resource) -> LoggerProvider:
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter  # noqa: PLC0415

    headers = dict(target.headers)
    exporter: LogRecordExporter
    if target.protocol is Protocol.GRPC:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (  # noqa: PLC0415
            OTLPLogExporter as GrpcLogExporter,
        )

        exporter = GrpcLogExporter(endpoint=target.endpoint, headers=headers, timeout=target.timeout_seconds)
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import (  # noqa: PLC0415
            OTLPLogExporter as HttpLogExporter,
        )

        exporter = HttpLogExporter(endpoint=target.endpoint, headers=headers, timeout=target.timeout_seconds)
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    return provider
