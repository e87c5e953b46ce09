"""Every Grafana panel query and every recording rule returns data from a real Prometheus after real runs.

A backup (with a consumer group's offsets captured), a restore into a renamed topic with the group's offsets
translated, and a drill run as CLI processes, each serving ``/metrics`` while a real Prometheus scrapes it every
second. Each panel's query is then asked as Grafana asks it, a range query over the runs' time span with the
dashboard variables at "All"; a query without a single sample in that span is a panel that shows "No data" for a
healthy job, and fails the test.

The backup refreshes librdkafka's statistics every 100 ms and writes small segments of enough records to last
several scrapes, so the rate-based panels (storage write latency) and the client-level ones (consumer lag, assigned
partitions) are scraped while it works, as a long-running service would be.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
from confluent_kafka import Consumer

from observability.backup_run import produce_topic, run_backup
from observability.rules import rules, targets
from rig.kafka import KafkaEndpoint, free_port, free_ports
from rig.prometheus import Prometheus

RECORDS = 100_000
LINGER_S = 4
GROUP = "dash-billing"
RATE_INTERVAL = "30s"
"""What Grafana's ``$__rate_interval`` becomes at a 1 s scrape interval over a short range (at least 4 scrapes)."""


@dataclass(frozen=True)
class Runs:
    started: float
    ended: float


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kafka_backup.cli", *args], capture_output=True, text=True, timeout=300, check=False
    )


def commit_group_offsets(kafka: KafkaEndpoint, topic: str) -> None:
    """A consumer group that read part of the topic, so the backup captures offsets and the restore translates them."""
    consumer = Consumer({**kafka.client_config(), "group.id": GROUP, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        read = 0
        deadline = time.monotonic() + 60
        while read < RECORDS // 2 and time.monotonic() < deadline:
            read += sum(m.error() is None for m in consumer.consume(500, timeout=1))
        assert read >= RECORDS // 2, f"read only {read} records"
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def runs(kafka: KafkaEndpoint, prometheus: Prometheus, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    topic = f"dash-{free_port()}"
    produce_topic(kafka, topic, RECORDS)
    commit_group_offsets(kafka, topic)
    backup_at, restore_at, drill_at = (f"127.0.0.1:{port}" for port in free_ports(3))
    prometheus.scrape("dash-backup", [backup_at])
    prometheus.scrape("dash-restore", [restore_at])
    prometheus.scrape("dash-drill", [drill_at])
    workdir = tmp_path_factory.mktemp("dashboards")
    started = time.time()
    linger = ("--metrics-linger", str(LINGER_S))
    backup = run_backup(
        kafka,
        workdir,
        topic,
        "--expose-metrics",
        backup_at,
        *linger,
        config={"metrics": {"update_interval_ms": 100}, "segment": {"max_records": 2000}},
    )
    storage = f"file://{backup.root}"
    common = ("--backup-id", backup.backup_id, "--storage-url", storage, "--bootstrap-servers", kafka.bootstrap)
    restore = cli(
        "restore", *common, "--topic-map", f"{topic}={topic}.restored", "--reset-consumer-groups", "--no-progress",
        "--expose-metrics", restore_at, *linger,
    )  # fmt: skip
    assert restore.returncode == 0, restore.stderr[-3000:]
    drill = cli("drill", *common, "--name", "dash", "--expose-metrics", drill_at, *linger)
    assert drill.returncode == 0, drill.stderr[-3000:]
    return Runs(started, time.time())


def as_grafana_asks(expr: str, runs: Runs) -> str:
    """The query with the dashboard's variables as Grafana fills them: every value selected, the runs' time range."""
    span = math.ceil(runs.ended - runs.started) + 60
    for variable in ("$backup_id", "$restore_id", "$consumer_group"):
        expr = expr.replace(variable, ".*")
    return expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__range", f"{span}s")


def has_data(prometheus: Prometheus, expr: str, runs: Runs) -> bool:
    """Whether a range query over the runs (1 s steps) returns at least one number that is not NaN."""
    data = prometheus.api("query_range", query=expr, start=f"{runs.started:.3f}", end=f"{runs.ended + 5:.3f}", step="1")
    return any(value != "NaN" for series in data["result"] for _, value in series["values"])


@pytest.mark.slow
class TestDashboardsOnData:
    def test_every_panel_query_returns_data(self, prometheus: Prometheus, runs: Runs) -> None:
        """Each query of each panel has samples after a backup + restore + drill (none would show "No data")."""
        time.sleep(2)  # the last scrapes and rule evaluations of the lingering drill land
        queries = list(targets())
        assert len({t.panel for t in queries}) >= 20, "the dashboard's panels were not found"
        empty = [
            f"{t.panel}: {t.expr}" for t in queries if not has_data(prometheus, as_grafana_asks(t.expr, runs), runs)
        ]
        assert not empty, "panels with no data:\n" + "\n".join(empty)

    def test_every_recording_rule_returns_data(self, prometheus: Prometheus, runs: Runs) -> None:
        """Each recording rule's series exists after the runs (Prometheus evaluated it on real samples)."""
        recorded = [r for r in rules() if not r.alert]
        assert recorded
        empty = [r.name for r in recorded if not has_data(prometheus, r.name, runs)]
        assert not empty, f"recording rules that recorded nothing: {empty}"
