"""A real Prometheus scrapes ``kafka-backup backup --expose-metrics`` during a real backup, and evaluates our rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from observability.backup_run import manifest_records, produce_topic, run_backup
from rig.kafka import KafkaEndpoint, free_port
from rig.prometheus import Prometheus

RECORDS = 3000
LINGER_S = 4


def value(prometheus: Prometheus, expr: str) -> float:
    """The single value of ``expr``; fails when it has no sample or several."""
    result = prometheus.query(expr)
    assert len(result) == 1, f"{expr} -> {result}"
    return float(result[0]["value"][1])


@dataclass(frozen=True)
class Scraped:
    backup_id: str
    root: Path
    instance: str
    started: float
    exited: float


@pytest.fixture(scope="module")
def scraped(kafka: KafkaEndpoint, prometheus: Prometheus, tmp_path_factory: pytest.TempPathFactory) -> Scraped:
    """One backup, scraped every second while it runs and lingers."""
    topic = f"obs-scrape-{free_port()}"
    produce_topic(kafka, topic, RECORDS)
    instance = f"127.0.0.1:{free_port()}"
    prometheus.scrape("kafka-backup", [instance])
    workdir = tmp_path_factory.mktemp("scrape")
    run = run_backup(kafka, workdir, topic, "--expose-metrics", instance, "--metrics-linger", str(LINGER_S))
    return Scraped(run.backup_id, run.root, instance, run.started, run.exited)


@pytest.mark.slow
class TestScrapedBackup:
    """The scraped backup, questioned through Prometheus's HTTP API."""

    def test_records_total_matches_manifests(self, prometheus: Prometheus, scraped: Scraped) -> None:
        """kafka_backup_records_total summed over partitions equals the records the manifests commit."""
        expected = manifest_records(scraped.root, scraped.backup_id)
        assert expected == RECORDS
        expr = f'sum(last_over_time(kafka_backup_records_total{{backup_id="{scraped.backup_id}"}}[5m]))'
        assert value(prometheus, expr) == expected

    def test_target_was_up(self, prometheus: Prometheus, scraped: Scraped) -> None:
        """Prometheus scraped the CLI's endpoint successfully, more than once."""
        selector = f'up{{job="kafka-backup",instance="{scraped.instance}"}}'
        assert value(prometheus, f"max_over_time({selector}[5m])") == 1
        assert value(prometheus, f"sum_over_time({selector}[5m])") >= 2

    def test_recording_rules_produce_series(self, prometheus: Prometheus, scraped: Scraped) -> None:
        """The recording rules evaluated on the scraped series and wrote their own."""
        match = f'{{backup_id="{scraped.backup_id}"}}'
        last_success = value(prometheus, f"kafka_backup:last_success_timestamp_seconds:max{match}")
        assert scraped.started <= last_success <= scraped.exited
        assert value(prometheus, f"max_over_time(kafka_backup:throughput:5m_avg{match}[5m])") > 0
        assert value(prometheus, f"max_over_time(kafka_backup:records:rate5m{match}[5m])") >= 0
        latency = prometheus.query('last_over_time(kafka_backup:storage:p99_write_latency{backend="filesystem"}[5m])')
        assert {s["metric"]["operation"] for s in latency} >= {"segment", "manifest"}

    def test_healthy_backup_fires_no_alert(self, prometheus: Prometheus, scraped: Scraped) -> None:
        """None of the alert rules is pending or firing for a clean backup."""
        assert prometheus.query("last_over_time(ALERTS[5m])") == []
