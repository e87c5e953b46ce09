"""The Grafana dashboard's source: ``python dashboards/generate.py`` writes ``dashboards/grafana/kafka-backup.json``.

Edit this file, not the JSON, then regenerate (``make dashboards``). ``--check`` exits 1 when the committed JSON
differs from what this source generates; ``tests/observability/test_dashboards.py`` runs the same comparison, so the
two never drift. Every PromQL expression here may reference only metric families of the telemetry catalog (checked by
``tests/observability/test_promql_catalog.py``).

The dashboard takes its Prometheus data source from a ``datasource`` variable, so it imports as is (Dashboards >
New > Import), whether Prometheus scrapes kafka-backup directly or through the OpenTelemetry Collector.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "grafana" / "kafka-backup.json"

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
BACKUP = 'backup_id=~"$backup_id"'
RESTORE = 'restore_id=~"$restore_id"'
GROUP = 'consumer_group=~"$consumer_group"'
RATE = "$__rate_interval"

Json = dict[str, Any]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    height: int = 8
    description: str = ""
    options: Json = field(default_factory=dict)
    defaults: Json = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


def q(expr: str, legend: str = "", instant: bool = False) -> Query:
    """A query; ``expr`` is joined from whitespace-separated lines so long PromQL stays readable here."""
    return Query(" ".join(expr.split()), legend, instant)


def quantiles(metric: str, by: str, legend: str, *levels: float) -> tuple[Query, ...]:
    return tuple(
        q(
            f"histogram_quantile({level}, sum by (le, {by}) (rate({metric}_bucket[{RATE}])))",
            f"p{round(level * 100)} {legend}",
        )
        for level in levels
    )


def run_quantiles(metric: str, by: str, legend: str, *levels: float) -> tuple[Query, ...]:
    """Quantiles of a histogram observed once per run (or per partition of one run): a one-shot process's series is
    born holding its observations, so ``rate()`` over it is zero and the quantile NaN. The cumulative buckets' highest
    value in the dashboard's range, summed over processes, is the distribution of the runs in that range."""
    return tuple(
        q(
            f"histogram_quantile({level}, sum by (le, {by}) (max_over_time({metric}_bucket[$__range])))",
            f"p{round(level * 100)} {legend}",
        )
        for level in levels
    )


def stat(title: str, query: Query, unit: str, description: str, **defaults: Any) -> Panel:
    return Panel(
        title, (query,), unit, "stat", 6, 4, description, {"reduceOptions": {"calcs": ["lastNotNull"]}}, defaults
    )


ROWS: tuple[Row, ...] = (
    Row(
        "Backup overview",
        (
            stat(
                "Time since last successful backup",
                q(
                    f"time() - max by (backup_id) "
                    f"(max_over_time(kafka_backup_last_success_timestamp_seconds{{{BACKUP}}}[7d]))",
                    "{{backup_id}}",
                    instant=True,
                ),
                "s",
                "From kafka_backup_last_success_timestamp_seconds, looking back 7 days so one-shot runs count.",
                thresholds={
                    "mode": "absolute",
                    "steps": [{"color": "green", "value": None}, {"color": "red", "value": 93600}],
                },
            ),
            stat(
                "Records backed up (time range)",
                q(f"sum(increase(kafka_backup_records_total{{{BACKUP}}}[$__range]))", instant=True),
                "short",
                "Records stored in committed segments during the dashboard's time range.",
            ),
            stat(
                "Compression ratio",
                q(
                    f"max by (backup_id, algorithm) (kafka_backup_compression_ratio{{{BACKUP}}})",
                    "{{backup_id}} {{algorithm}}",
                    instant=True,
                ),
                "suffix:x",
                "Uncompressed over compressed bytes of each backup so far (LowCompressionRatio fires below 2).",
            ),
            stat(
                "Active backups",
                q(f"count(sum by (backup_id) (kafka_backup_throughput_records_per_sec{{{BACKUP}}}) > 0)", instant=True),
                "short",
                "Backups currently consuming records.",
            ),
            Panel(
                "Throughput (records/s)",
                (
                    q(
                        f"sum by (backup_id, topic) (rate(kafka_backup_records_total{{{BACKUP}}}[{RATE}]))",
                        "{{backup_id}} {{topic}}",
                    ),
                    q(
                        f"sum by (backup_id) (kafka_backup_throughput_records_per_sec{{{BACKUP}}})",
                        "{{backup_id}} (engine gauge)",
                    ),
                ),
                "ops",
                description="Committed records per second (counter rate) and the engine's own throughput gauge.",
            ),
            Panel(
                "Throughput (bytes/s)",
                (
                    q(
                        f"sum by (backup_id) (rate(kafka_backup_bytes_total{{{BACKUP}}}[{RATE}]))",
                        "{{backup_id}} records",
                    ),
                    q(
                        f"sum by (backup_id, backend) "
                        f"(rate(kafka_backup_storage_write_bytes_total{{{BACKUP}}}[{RATE}]))",
                        "{{backup_id}} written to {{backend}}",
                    ),
                ),
                "Bps",
                description="Record payload bytes backed up, and bytes written to storage after compression.",
            ),
            Panel(
                "Lag per partition (records)",
                (
                    q(
                        f"max by (backup_id, topic, partition) (kafka_backup_lag_records{{{BACKUP}}})",
                        "{{backup_id}} {{topic}}-{{partition}}",
                    ),
                ),
                "short",
                description="Records behind the high watermark (BackupLagging fires above 100k for 10 minutes).",
            ),
            Panel(
                "Max lag and time lag",
                (
                    q(f"max by (backup_id) (kafka_backup_lag_records_max{{{BACKUP}}})", "{{backup_id}} max records"),
                    q(f"max by (backup_id) (kafka_backup_lag_seconds{{{BACKUP}}})", "{{backup_id}} seconds"),
                ),
                "short",
                description="Largest records lag over the backup's partitions, and the oldest unconsumed age.",
                options={"legend": {"displayMode": "table", "placement": "right"}},
            ),
            Panel(
                "Compression ratio over time",
                (q(f"max by (backup_id) (kafka_backup_compression_ratio{{{BACKUP}}})", "{{backup_id}}"),),
                "suffix:x",
                description="Uncompressed over compressed bytes of the segments each run has written so far (a "
                "ratio of byte rates would be 0/0 for a one-shot run scraped only after its last write).",
            ),
            Panel(
                "Backup duration",
                (
                    *run_quantiles("kafka_backup_duration_seconds", "backup_id", "{{backup_id}}", 0.5, 0.95),
                    q(
                        f"sum by (backup_id, status) "
                        f"(increase(kafka_backup_duration_seconds_count{{{BACKUP}}}[{RATE}]))",
                        "runs {{backup_id}} {{status}}",
                    ),
                ),
                "s",
                description="Run duration quantiles, and runs ending by status.",
            ),
        ),
    ),
    Row(
        "Errors and retries",
        (
            Panel(
                "Errors by type",
                (
                    q(
                        f"sum by (backup_id, operation, error_type) "
                        f"(rate(kafka_backup_errors_total{{{BACKUP}}}[{RATE}]))",
                        "{{operation}} {{error_type}} {{backup_id}}",
                    ),
                ),
                "reqps",
                width=8,
                description="Errors by stable error code (BackupFailed fires on any backup error within the hour).",
            ),
            Panel(
                "Retries",
                (
                    q(
                        f"sum by (operation, reason) (rate(kafka_backup_retries_total{{{BACKUP}}}[{RATE}]))",
                        "{{operation}} {{reason}}",
                    ),
                ),
                "reqps",
                width=8,
                description="Retry attempts by operation and the error code retried.",
            ),
            Panel(
                "Storage errors and rebalances",
                (
                    q(
                        f"sum by (backend, error_type) (rate(kafka_backup_storage_errors_total[{RATE}]))",
                        "{{backend}} {{error_type}}",
                    ),
                    q(
                        f"sum by (backup_id) (increase(kafka_backup_consumer_rebalance_total{{{BACKUP}}}[{RATE}]))",
                        "rebalances {{backup_id}}",
                    ),
                ),
                "short",
                width=8,
                description="Failed storage operations per second by type; consumer group rebalances per interval.",
            ),
        ),
    ),
    Row(
        "Storage",
        (
            Panel(
                "Write latency by backend and operation",
                quantiles(
                    "kafka_backup_storage_write_latency_seconds",
                    "backend, operation",
                    "{{backend}} {{operation}}",
                    0.5,
                    0.99,
                ),
                "s",
                description="p50 and p99 of segment, manifest and checkpoint writes (alert: p95 > 5s).",
            ),
            Panel(
                "Read latency by backend and operation",
                quantiles(
                    "kafka_backup_storage_read_latency_seconds",
                    "backend, operation",
                    "{{backend}} {{operation}}",
                    0.5,
                    0.99,
                ),
                "s",
                description="p50 and p99 of storage reads (restore, validate, manifest loads).",
            ),
            Panel(
                "Storage bytes",
                (
                    q(f"sum by (backend) (rate(kafka_backup_storage_write_bytes_total[{RATE}]))", "write {{backend}}"),
                    q(f"sum by (backend) (rate(kafka_backup_storage_read_bytes_total[{RATE}]))", "read {{backend}}"),
                ),
                "Bps",
                width=24,
                height=6,
                description="Bytes written to and read from each storage backend.",
            ),
        ),
    ),
    Row(
        "Restore",
        (
            Panel(
                "Restore progress",
                (
                    q(
                        f"max by (restore_id, backup_id) (kafka_restore_progress_percent{{{RESTORE}}})",
                        "{{restore_id}} ({{backup_id}})",
                        instant=True,
                    ),
                ),
                "percent",
                "bargauge",
                width=8,
                description="Records restored over records selected (RestoreStalled fires when it stops moving).",
                defaults={"min": 0, "max": 100},
            ),
            Panel(
                "Restore ETA",
                (q(f"max by (restore_id) (kafka_restore_eta_seconds{{{RESTORE}}})", "{{restore_id}}", instant=True),),
                "s",
                "stat",
                width=4,
                description="Remaining records over current throughput.",
                options={"reduceOptions": {"calcs": ["lastNotNull"]}},
            ),
            Panel(
                "Restore throughput",
                (
                    q(
                        f"sum by (restore_id) (rate(kafka_restore_records_total{{{RESTORE}}}[{RATE}]))",
                        "{{restore_id}}",
                    ),
                    q(
                        f"sum by (restore_id) (kafka_restore_throughput_records_per_sec{{{RESTORE}}})",
                        "{{restore_id}} (engine gauge)",
                    ),
                    q(
                        f"sum by (restore_id) (rate(kafka_restore_bytes_total{{{RESTORE}}}[{RATE}]))",
                        "{{restore_id}} bytes/s",
                    ),
                ),
                "ops",
                description="Records acknowledged by the target cluster per second.",
            ),
            Panel(
                "Restore duration",
                run_quantiles("kafka_restore_duration_seconds", "backup_id", "{{backup_id}}", 0.5, 0.95),
                "s",
                width=24,
                height=6,
                description="Restore run duration quantiles by source backup.",
            ),
        ),
    ),
    Row(
        "Offset reset",
        (
            Panel(
                "Partitions reset",
                (
                    q(
                        f"sum by (consumer_group, status) "
                        f"(increase(kafka_offset_reset_partitions_total{{{GROUP}}}[{RATE}]))",
                        "{{consumer_group}} {{status}}",
                    ),
                ),
                "short",
                width=8,
                description="Partitions whose committed offsets were translated and reset, by outcome.",
            ),
            Panel(
                "Offset reset duration",
                run_quantiles("kafka_offset_reset_duration_seconds", "consumer_group", "{{consumer_group}}", 0.5, 0.95),
                "s",
                width=8,
                description="Whole offset reset per consumer group.",
            ),
            Panel(
                "Per-partition reset latency",
                run_quantiles(
                    "kafka_offset_reset_latency_seconds", "consumer_group", "{{consumer_group}}", 0.5, 0.9, 0.99
                ),
                "s",
                width=8,
                description="Latency of one partition's offset reset (p50, p90, p99 as in the reference).",
            ),
        ),
    ),
    Row(
        "Restore drills",
        (
            Panel(
                "Drill confidence score",
                (q("max by (drill) (kafka_restore_drill_score)", "{{drill}}"),),
                "short",
                width=8,
                description="0-100 score of each drill's latest run (RestoreDrillLowConfidence below 70).",
                defaults={"min": 0, "max": 100},
            ),
            Panel(
                "Measured RTO and backup age",
                (
                    q("max by (drill) (kafka_restore_drill_rto_seconds)", "RTO {{drill}}"),
                    q("max by (drill) (kafka_restore_drill_backup_age_seconds)", "backup age {{drill}}"),
                ),
                "s",
                width=8,
            ),
            Panel(
                "Drill results",
                (q("sum by (result) (increase(kafka_restore_drill_runs_total[1d]))", "{{result}}"),),
                "short",
                width=8,
                description="Completed drills per day by result.",
            ),
        ),
    ),
    Row(
        "Kafka client (librdkafka)",
        (
            Panel(
                "Broker round-trip time p99",
                (
                    q(
                        'max by (client, broker) (kafka_backup_client_broker_rtt_seconds{stat="p99"})',
                        "{{client}} {{broker}}",
                    ),
                ),
                "s",
                width=8,
                description="Includes the consumer's fetch long-poll wait.",
            ),
            Panel(
                "Connections",
                (
                    q(
                        f"sum by (broker) (increase(kafka_backup_client_broker_disconnects_total[{RATE}]))",
                        "disconnects {{broker}}",
                    ),
                    q(
                        f"sum by (broker) (increase(kafka_backup_client_broker_request_timeouts_total[{RATE}]))",
                        "timeouts {{broker}}",
                    ),
                ),
                "short",
                width=8,
            ),
            Panel(
                "Client lag and assignment",
                (
                    q("max by (topic) (kafka_backup_client_consumer_lag_records)", "lag {{topic}}"),
                    q("sum by (client) (kafka_backup_client_assigned_partitions)", "assigned {{client}}"),
                ),
                "short",
                width=8,
            ),
        ),
    ),
)


def variable(name: str, label: str, query: str) -> Json:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-query"},
        "definition": query,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


TEMPLATING: list[Json] = [
    {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
    },
    variable("backup_id", "Backup", "label_values(kafka_backup_records_total, backup_id)"),
    variable("restore_id", "Restore", "label_values(kafka_restore_records_total, restore_id)"),
    variable(
        "consumer_group", "Consumer group", "label_values(kafka_offset_reset_duration_seconds_count, consumer_group)"
    ),
]


def _layout() -> Iterator[Json]:
    ids = iter(range(1, 1000))
    y = 0
    for row in ROWS:
        yield {
            "type": "row",
            "title": row.title,
            "collapsed": False,
            "id": next(ids),
            "panels": [],
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
        }
        y += 1
        x, row_height = 0, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            yield _panel(panel, next(ids), x, y)
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> Json:
    targets = [
        {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": query.expr,
            "legendFormat": query.legend,
            "instant": query.instant,
            "range": not query.instant,
        }
        for i, query in enumerate(panel.queries)
    ]
    options: Json = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    if panel.kind != "timeseries":
        options = {}
    options.update(panel.options)
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit, **panel.defaults}, "overrides": []},
        "options": options,
        "targets": targets,
    }


def dashboard() -> Json:
    """The kafka-backup dashboard as Grafana JSON (schema 39: Grafana 10 and 11)."""
    return {
        "uid": "kafka-backup",
        "title": "Kafka Backup",
        "description": "Backup, restore and offset-reset health of kafka-backup (metrics: docs/metrics.md).",
        "tags": ["kafka", "backup", "kafka-backup"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": TEMPLATING},
        "panels": list(_layout()),
    }


def render(output: Path = OUTPUT) -> dict[Path, str]:
    """Every generated file and its exact content."""
    return {output: json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"}


def main(argv: list[str], output: Path = OUTPUT) -> int:
    stale = [path for path, text in render(output).items() if not path.exists() or path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path} is out of date: run `python dashboards/generate.py`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in render(output).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
