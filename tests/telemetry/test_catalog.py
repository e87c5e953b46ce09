"""Tests of the metric catalog: exposed names, types, labels and buckets as a real Prometheus scrape shows them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import metrics as otel_metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kafka_backup.telemetry.catalog import CATALOG, Family, Kind, Metrics, family
from kafka_backup.telemetry.observed import ObservedValues

# The PRD's and the reference tool's family names, copied from the specs (operator families excluded by the brief).
PRD_NAMES = {
    "kafka_backup_lag_records",
    "kafka_backup_lag_bytes",
    "kafka_backup_lag_seconds",
    "kafka_backup_lag_records_max",
    "kafka_backup_throughput_records_per_sec",
    "kafka_backup_throughput_bytes_per_sec",
    "kafka_backup_fetch_rate",
    "kafka_backup_records_total",
    "kafka_backup_bytes_total",
    "kafka_backup_duration_seconds",
    "kafka_restore_duration_seconds",
    "kafka_offset_reset_duration_seconds",
    "kafka_backup_storage_write_latency_seconds",
    "kafka_backup_storage_read_latency_seconds",
    "kafka_backup_storage_write_bytes_total",
    "kafka_backup_storage_read_bytes_total",
    "kafka_backup_storage_errors_total",
    "kafka_backup_compression_ratio",
    "kafka_backup_compressed_bytes_total",
    "kafka_backup_uncompressed_bytes_total",
    "kafka_backup_errors_total",
    "kafka_backup_retries_total",
    "kafka_backup_last_successful_commit",
    "kafka_backup_consumer_rebalance_total",
    "kafka_restore_progress_percent",
    "kafka_restore_eta_seconds",
    "kafka_restore_throughput_records_per_sec",
    "kafka_restore_records_total",
}
REFERENCE_ONLY_NAMES = {
    "kafka_backup_segments_total",
    "kafka_restore_bytes_total",
    "kafka_offset_reset_partitions_total",
    "kafka_offset_reset_latency_seconds",
}
# Labels each spec gives a family; the catalog must carry at least their union.
SPEC_LABELS = {
    "kafka_backup_records_total": {"backup_id", "topic", "partition"},
    "kafka_backup_bytes_total": {"backup_id", "topic", "partition"},
    "kafka_backup_compressed_bytes_total": {"algorithm", "backup_id", "topic"},
    "kafka_backup_errors_total": {"backup_id", "operation", "error_type"},
    "kafka_backup_retries_total": {"backup_id", "operation", "reason"},
    "kafka_restore_progress_percent": {"restore_id", "backup_id"},
    "kafka_restore_eta_seconds": {"restore_id", "backup_id"},
    "kafka_restore_throughput_records_per_sec": {"restore_id", "backup_id"},
    "kafka_restore_records_total": {"restore_id", "topic", "partition", "backup_id"},
    "kafka_backup_throughput_records_per_sec": {"backup_id", "topic"},
    "kafka_backup_lag_records": {"backup_id", "topic", "partition"},
    "kafka_backup_storage_write_latency_seconds": {"backend", "operation"},
    "kafka_offset_reset_duration_seconds": {"consumer_group", "status"},
}


def record_every_family(metrics: Metrics) -> None:
    """Record one value in every family, with every label set to a sample value."""
    for spec in CATALOG:
        attrs = {label: f"v-{label}" for label in spec.labels}
        instrument = getattr(metrics, spec.attribute)
        if spec.kind is Kind.COUNTER:
            instrument.add(3, attrs)
        elif spec.kind is Kind.HISTOGRAM:
            instrument.record(spec.buckets[0] / 2, attrs)
        elif isinstance(instrument, ObservedValues) or spec.kind is Kind.GAUGE:
            instrument.set(7.0, attrs)
    metrics.lag.update("v-backup_id", "v-topic", "v-partition", 100, 40, last_record_timestamp_ms=1, avg_record_bytes=2)


@pytest.fixture
def scrape() -> Iterator[str]:
    """A Prometheus text scrape of a Metrics on which every family recorded one value."""
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry, scope_info_enabled=False)
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    record_every_family(Metrics(provider))
    yield generate_latest(registry).decode()
    provider.shutdown()


class TestFamily:
    def test_counter_instrument_drops_total(self) -> None:
        """A counter's OTel instrument name has no _total; the exporter adds it back."""
        assert family("kafka_backup_records_total").instrument == "kafka_backup_records"

    def test_gauge_instrument_is_the_name(self) -> None:
        """Gauges and histograms keep the exposed name as the instrument name."""
        assert family("kafka_backup_lag_seconds").instrument == "kafka_backup_lag_seconds"

    def test_attribute_drops_kafka_prefix(self) -> None:
        """The Metrics attribute is the family name without kafka_."""
        assert family("kafka_restore_progress_percent").attribute == "restore_progress_percent"

    def test_unknown_family_raises(self) -> None:
        """Looking up a name that is not in the catalog fails loudly."""
        with pytest.raises(KeyError):
            family("kafka_backup_nonexistent")


class TestCatalog:
    def test_every_prd_family_is_declared(self) -> None:
        """Every PRD family (and every reference-only one) is in the catalog under its spec name."""
        names = {f.name for f in CATALOG}
        assert names >= PRD_NAMES | REFERENCE_ONLY_NAMES

    def test_labels_cover_the_union_of_the_specs(self) -> None:
        """Where the specs disagree on labels, the catalog carries their union."""
        for name, labels in SPEC_LABELS.items():
            assert labels <= set(family(name).labels), name

    def test_names_are_unique(self) -> None:
        """No two families share a name."""
        assert len({f.name for f in CATALOG}) == len(CATALOG)

    def test_histograms_have_float_buckets(self) -> None:
        """Histogram buckets are sorted floats; other kinds declare none."""
        for spec in CATALOG:
            if spec.kind is Kind.HISTOGRAM:
                assert spec.buckets == tuple(sorted(spec.buckets)), spec.name
                assert all(type(b) is float for b in spec.buckets), spec.name
            else:
                assert spec.buckets == (), spec.name

    def test_prd_buckets(self) -> None:
        """The PRD's bucket boundaries are used verbatim."""
        assert family("kafka_backup_duration_seconds").buckets == (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
        assert family("kafka_offset_reset_duration_seconds").buckets == (0.5, 1, 2.5, 5, 10, 30, 60, 120)
        assert family("kafka_backup_storage_read_latency_seconds").buckets == (
            0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
        )  # fmt: skip

    def test_counters_end_in_total(self) -> None:
        """Counter family names end in _total and nothing else does."""
        for spec in CATALOG:
            is_counter = spec.kind in (Kind.COUNTER, Kind.OBSERVABLE_COUNTER)
            assert spec.name.endswith("_total") == is_counter, spec.name


class TestMetrics:
    def test_one_attribute_per_family(self) -> None:
        """Metrics has exactly one instrument attribute per catalog family."""
        provider = MeterProvider(shutdown_on_exit=False)
        metrics = Metrics(provider)
        declared = {f.attribute for f in CATALOG}
        instruments = {name for name in vars(metrics) if name not in {"meter", "lag"}}
        assert instruments == declared
        provider.shutdown()

    def test_default_provider_is_the_global_one(self) -> None:
        """Without a provider, Metrics uses the global API provider (a no-op until the CLI sets one)."""
        metrics = Metrics()
        metrics.backup_records_total.add(1, {"backup_id": "b", "topic": "t", "partition": "0"})
        assert type(metrics.meter) is type(otel_metrics.get_meter_provider().get_meter("probe"))

    def test_scrape_exposes_exactly_the_catalog_names(self, scrape: str) -> None:
        """A real PrometheusMetricReader scrape shows every family under its catalog name and type, and nothing else."""
        parsed = [f for f in text_string_to_metric_families(scrape) if f.name not in {"target", "target_info"}]
        exposed = {f.name: f.type for f in parsed}
        # The parser strips _total from counter family names.
        expected = {f.name.removesuffix("_total"): f.kind.prometheus_type for f in CATALOG}
        assert exposed == expected
        counter_samples = {s.name for f in parsed if f.type == "counter" for s in f.samples}
        assert counter_samples == {f.name for f in CATALOG if f.kind.prometheus_type == "counter"}

    def test_scrape_labels_match_catalog(self, scrape: str) -> None:
        """Every scraped sample carries exactly the family's declared labels (plus le on buckets)."""
        specs: dict[str, Family] = {f.name.removesuffix("_total"): f for f in CATALOG}
        for parsed in text_string_to_metric_families(scrape):
            if parsed.name in {"target", "target_info"}:
                continue
            for sample in parsed.samples:
                labels = set(sample.labels) - {"le"}
                assert labels == set(specs[parsed.name].labels), sample

    def test_scrape_histogram_buckets(self, scrape: str) -> None:
        """Histogram le values in a scrape are exactly the catalog buckets plus +Inf."""
        for parsed in text_string_to_metric_families(scrape):
            if parsed.type != "histogram":
                continue
            les = [s.labels["le"] for s in parsed.samples if s.name.endswith("_bucket")]
            spec = family(parsed.name)
            assert les == [str(b) for b in spec.buckets] + ["+Inf"], parsed.name
