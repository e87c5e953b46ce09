"""The collector built from collector/builder-config.yaml receives a real backup's metrics, spans and logs over OTLP."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kafka_backup.telemetry.catalog import CATALOG
from observability.backup_run import BackupResult, manifest_records, produce_topic, run_backup
from observability.otlp_file import attributes, cumulative_total, eventually, log_records, spans
from rig.kafka import KafkaEndpoint, free_port
from rig.otelcol import Collector

RECORDS = 2000
SIGNALS = {"Metrics": "metrics", "Traces": "traces", "Logs": "logs"}


@dataclass(frozen=True)
class Pushed:
    run: BackupResult
    export: Path
    log_lines: list[dict[str, Any]]
    """The collector's log lines written during and after this run."""


def endpoint(collector: Collector, protocol: str) -> str:
    protocols = collector.config["receivers"]["otlp"]["protocols"]
    return f"http://{protocols['grpc' if protocol == 'grpc' else 'http']['endpoint']}"


@pytest.fixture(scope="module", params=["grpc", "http/protobuf"])
def pushed(
    request: pytest.FixtureRequest,
    kafka: KafkaEndpoint,
    collector: Collector,
    tmp_path_factory: pytest.TempPathFactory,
) -> Pushed:
    """One backup per OTLP protocol, exporting to the collector (metrics only at shutdown: interval 10 minutes)."""
    protocol: str = request.param
    topic = f"obs-otlp-{free_port()}"
    produce_topic(kafka, topic, RECORDS)
    log_offset = collector.log_path.stat().st_size
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint(collector, protocol),
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_METRIC_EXPORT_INTERVAL": "600000",
        "KAFKA_BACKUP_OTEL_STRICT": "true",
    }
    run = run_backup(kafka, tmp_path_factory.mktemp("otlp"), topic, env=env)
    with collector.log_path.open() as log:
        log.seek(log_offset)
        lines = [json.loads(line) for line in log if line.startswith("{")]
    return Pushed(run, Path(collector.config["exporters"]["file"]["path"]), lines)


def _time(value: Any) -> float:
    """A collector log timestamp (epoch seconds or ISO 8601) as epoch seconds."""
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


@pytest.mark.slow
class TestCollectorReceivesBackup:
    """What the collector received from one backup run, per protocol."""

    def test_records_total_matches_manifests(self, pushed: Pushed) -> None:
        """The exported kafka_backup_records counter sums to the records in the backup's manifests."""
        expected = manifest_records(pushed.run.root, pushed.run.backup_id)
        assert expected == RECORDS
        total = eventually(
            lambda: cumulative_total(pushed.export, "kafka_backup_records", backup_id=pushed.run.backup_id),
            lambda value: value >= expected,
        )
        assert total == expected

    def test_backup_span(self, pushed: Pushed) -> None:
        """A span named backup carries the backup_id."""
        found = eventually(
            lambda: [
                s
                for s in spans(pushed.export)
                if s["name"] == "backup" and attributes(s).get("backup_id") == pushed.run.backup_id
            ],
            bool,
        )
        assert len(found) == 1

    def test_logs(self, pushed: Pushed) -> None:
        """The run's log events arrive as OTLP log records with the bound backup_id and the span's trace id."""
        found = eventually(
            lambda: [r for r in log_records(pushed.export) if attributes(r).get("backup_id") == pushed.run.backup_id],
            bool,
        )
        assert found
        backup_span = next(
            s
            for s in spans(pushed.export)
            if attributes(s).get("backup_id") == pushed.run.backup_id and s["name"] == "backup"
        )
        assert any(r.get("traceId") == backup_span["traceId"] for r in found)

    def test_arrived_before_the_cli_exited(self, pushed: Pushed) -> None:
        """Metrics, traces and logs reached the collector's pipeline before the one-shot process exited."""
        consumed = [line for line in pushed.log_lines if line.get("msg") in SIGNALS]
        assert {SIGNALS[line["msg"]] for line in consumed} == set(SIGNALS.values()), pushed.log_lines
        late = [line for line in consumed if _time(line["ts"]) > pushed.run.exited]
        assert late == []


@pytest.mark.slow
def test_collector_prometheus_exporter_uses_catalog_names(pushed: Pushed, collector: Collector) -> None:
    """Re-exposed by the collector's prometheus exporter, every kafka_* family has its catalog name."""
    url = f"http://{collector.config['exporters']['prometheus']['endpoint']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text) if f.name.startswith("kafka_")}
    catalog = {f.name.removesuffix("_total") for f in CATALOG}
    assert families
    assert set(families) <= catalog, set(families) - catalog
    records = sum(
        s.value
        for s in families["kafka_backup_records"].samples
        if s.name == "kafka_backup_records_total" and s.labels.get("backup_id") == pushed.run.backup_id
    )
    assert records == RECORDS
