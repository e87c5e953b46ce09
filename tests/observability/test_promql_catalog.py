"""Rules and dashboards query only metric families (and labels) that the telemetry catalog declares."""

from __future__ import annotations

import pytest

from kafka_backup.telemetry.catalog import CATALOG, Kind
from observability.promql import family_name, label_values_query, legend_labels, usage
from observability.rules import Rule, Target, dashboards, rules, targets

FAMILIES = {f.name: f for f in CATALOG}
HISTOGRAMS = {f.name for f in CATALOG if f.kind is Kind.HISTOGRAM}
SCRAPE_LABELS = {"job", "instance"}
RECORDED = {r.name: r for r in rules() if not r.alert}


def labels_of(metric: str) -> set[str]:
    """The labels a series may carry: its family's (plus le on buckets), or a recorded series' grouping labels."""
    if metric in RECORDED:
        found = usage(RECORDED[metric].expr)
        return found.grouping - {"le"} or set().union(*(labels_of(m) for m in found.metrics))
    family = FAMILIES[family_name(metric, HISTOGRAMS)]
    extra = {"le"} if metric.endswith("_bucket") else set()
    return set(family.labels) | extra | SCRAPE_LABELS


def problems(expr: str, legend: str = "") -> list[str]:
    """Why ``expr`` does not fit the catalog (empty when it does)."""
    found = usage(expr)
    out = []
    if not found.metrics:
        out.append("references no metric")
    known = {m for m in found.metrics if m in RECORDED or family_name(m, HISTOGRAMS) in FAMILIES}
    out += [f"unknown metric {m}" for m in sorted(set(found.metrics) - known)]
    available: set[str] = {"le"}
    for metric in known:
        available |= labels_of(metric)
        out += [f"{metric} has no label {label}" for label in sorted(found.metrics[metric] - labels_of(metric))]
    out += [f"grouping by unknown label {label}" for label in sorted(found.grouping - available)]
    legend_pool = (found.grouping - {"le"}) if found.grouping else available
    out += [f"legend uses {label}, absent from the result" for label in sorted(legend_labels(legend) - legend_pool)]
    return out


class TestProblems:
    """The checker itself finds what is wrong, so a passing run means something."""

    def test_accepts_catalog_expression(self) -> None:
        """A correct expression over histogram buckets has no problem."""
        expr = 'histogram_quantile(0.99, sum by (le, backend) (rate(kafka_backup_storage_write_latency_seconds_bucket{operation="segment"}[5m])))'  # noqa: E501
        assert problems(expr, "{{backend}}") == []

    def test_unknown_metric(self) -> None:
        """A metric the catalog lacks is reported, also one named like a real one."""
        assert problems("rate(kafka_backup_records_per_second[5m]) > 0") == [
            "unknown metric kafka_backup_records_per_second"
        ]
        assert "unknown metric kafka_backup_lag_records_bucket" in problems("kafka_backup_lag_records_bucket")

    def test_unknown_labels(self) -> None:
        """Matchers, groupings and legends over labels the family lacks are reported."""
        assert problems('kafka_backup_compression_ratio{topic="x"}') == [
            "kafka_backup_compression_ratio has no label topic"
        ]
        assert problems("sum by (region) (kafka_backup_lag_records)") == ["grouping by unknown label region"]
        assert problems("sum by (topic) (kafka_backup_lag_records)", "{{partition}}") == [
            "legend uses partition, absent from the result"
        ]

    def test_usage_ignores_functions_keywords_strings_and_durations(self) -> None:
        """Only series names count as metrics."""
        found = usage(
            'time() - max_over_time(kafka_backup_errors_total{error_type!="x", backup_id=~"$backup_id"}[1h])'
            " unless kafka_backup_errors_total offset 1h and on (backup_id) kafka_backup:records:rate5m > 1e3"
        )
        assert set(found.metrics) == {"kafka_backup_errors_total", "kafka_backup:records:rate5m"}
        assert found.metrics["kafka_backup_errors_total"] == {"error_type", "backup_id"}
        assert found.grouping == {"backup_id"}


@pytest.mark.parametrize("rule", rules(), ids=lambda r: f"{r.file}:{r.name}")
def test_rule_uses_catalog_metrics(rule: Rule) -> None:
    """Each alert and recording rule reads catalog families with their labels."""
    assert problems(rule.expr) == []


@pytest.mark.parametrize("target", targets(), ids=lambda t: f"{t.panel}:{t.expr[:40]}")
def test_dashboard_target_uses_catalog_metrics(target: Target) -> None:
    """Each Grafana query reads catalog families, and its legend names labels the result has."""
    assert problems(target.expr, target.legend) == []


def test_dashboard_variables_use_catalog_labels() -> None:
    """Each label_values() variable names a catalog family and one of its labels."""
    queries = [v for board in dashboards() for v in board["templating"]["list"] if v["type"] == "query"]
    assert queries
    for variable in queries:
        metric, label = label_values_query(variable["query"]["query"])
        assert label in labels_of(metric), variable["name"]
