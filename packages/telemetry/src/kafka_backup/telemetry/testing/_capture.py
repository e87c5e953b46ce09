"""An in-memory MeterProvider for tests, and lookups of recorded values by exposed family name and labels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    NumberDataPoint,
)

from kafka_backup.telemetry.catalog import CATALOG, Metrics

__all__ = ["HistogramValue", "MetricsCapture"]

_INSTRUMENT_BY_FAMILY = {f.name: f.instrument for f in CATALOG}


@dataclass(frozen=True)
class HistogramValue:
    """One histogram series: observation count, sum, bucket upper bounds and per-bucket (non-cumulative) counts."""

    count: int
    sum: float
    bounds: tuple[float, ...]
    bucket_counts: tuple[int, ...]


@dataclass
class MetricsCapture:
    """A ``Metrics`` on its own MeterProvider whose only reader is an ``InMemoryMetricReader``.

    ``value("kafka_backup_records_total", backup_id="b", topic="t", partition="0")`` collects and returns the value
    of the series with exactly those labels (None when absent); family names are the exposed names from the catalog.
    Call ``shutdown()`` (or use it as a context manager) so the provider's atexit hook has nothing left to do.
    """

    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)
    provider: MeterProvider = field(init=False)
    metrics: Metrics = field(init=False)

    def __post_init__(self) -> None:
        self.provider = MeterProvider(metric_readers=[self.reader], shutdown_on_exit=False)
        self.metrics = Metrics(self.provider)

    def __enter__(self) -> MetricsCapture:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """Shut the provider down."""
        self.provider.shutdown()

    def collect(self) -> dict[str, Metric]:
        """Collect once; every metric by instrument name."""
        data = self.reader.get_metrics_data()
        found: dict[str, Metric] = {}
        if data is None:
            return found
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    found[metric.name] = metric
        return found

    def series(self, family: str) -> dict[frozenset[tuple[str, str]], float | HistogramValue]:
        """Every series of a family, keyed by its label set."""
        metric = self.collect().get(_INSTRUMENT_BY_FAMILY.get(family, family))
        if metric is None:
            return {}
        return {_labels(point.attributes): _point_value(point) for point in metric.data.data_points}

    def value(self, family: str, **labels: str) -> float | None:
        """The value of a counter or gauge series, or None when absent."""
        found = self.series(family).get(frozenset(labels.items()))
        if isinstance(found, HistogramValue):
            raise TypeError(f"{family} is a histogram: use histogram()")
        return found

    def histogram(self, family: str, **labels: str) -> HistogramValue | None:
        """A histogram series, or None when absent."""
        found = self.series(family).get(frozenset(labels.items()))
        if found is not None and not isinstance(found, HistogramValue):
            raise TypeError(f"{family} is not a histogram: use value()")
        return found


def _labels(attributes: Mapping[str, object] | None) -> frozenset[tuple[str, str]]:
    return frozenset((key, str(value)) for key, value in (attributes or {}).items())


def _point_value(point: object) -> float | HistogramValue:
    if isinstance(point, HistogramDataPoint):
        return HistogramValue(point.count, point.sum, tuple(point.explicit_bounds), tuple(point.bucket_counts))
    if isinstance(point, NumberDataPoint):
        return float(point.value)
    raise TypeError(f"unsupported data point {type(point).__name__}")
