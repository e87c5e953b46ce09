"""End to end with real processes: backup → restore → offset-reset → validate, each with ``--expose-metrics``.

Each command's endpoint is scraped while it runs and lingers; the values are checked against ground truth (the
manifests, the files on storage, the restored topic), every catalog family shows up in some command's scrape, and
``promtool check metrics`` accepts every scrape.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from engine.backup_helpers import backup_config
from kafka_backup.engine.catalog.validate import DEFECT_KINDS
from kafka_backup.engine.errors import BackupError, StorageError
from kafka_backup.engine.store.options import storage_options
from kafka_backup.telemetry import CATALOG
from rig.kafka import KafkaEndpoint, free_port
from rig.storage import DEFAULT_BUCKET, StorageServer
from rig.tricky import create_topic, read_topic

RECORDS = 30_000
PARTITIONS = 3
CONSUMED = 9000
# counted only when something goes wrong, but created at zero when a run starts: TestErrorFamilies checks both
ERROR_FAMILIES = {
    "kafka_backup_errors_total",
    "kafka_backup_retries_total",
    "kafka_backup_storage_errors_total",
}
REQUIRED_SOURCES = {"prd", "reference", "prd+reference"}
"""Families the two primary specifications require (the PRD, the reference tool's metrics)."""
# recorded only by a partial restore of an incomplete backup: checked by tests/engine/test_completeness.py
ONLY_IN_A_PARTIAL_RESTORE = {"kafka_restore_left_out_total"}

Samples = dict[str, list[tuple[dict[str, str], float]]]


@dataclass
class Scrape:
    """The last successful scrape of a command's endpoint (taken while it ran and lingered)."""

    text: str = ""
    samples: Samples = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    """Sample names present in any scrape of the run (a per-partition series may come and go)."""

    def total(self, name: str, **labels: str) -> float:
        return sum(v for lbl, v in self.samples.get(name, []) if all(lbl.get(k) == x for k, x in labels.items()))

    def values(self, name: str) -> list[tuple[dict[str, str], float]]:
        return self.samples.get(name, [])

    def families(self) -> set[str]:
        return self.seen


def parse(text: str) -> Samples:
    out: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name].append((dict(sample.labels), sample.value))
    return out


def run_scraped(args: list[str], port: int, linger: float = 2.0) -> tuple[subprocess.CompletedProcess[str], Scrape]:
    """Run a CLI command with --expose-metrics, scraping it every 100 ms; the last scrape holds the final values."""
    scrape = Scrape()
    done = threading.Event()

    def poll() -> None:
        url = f"http://127.0.0.1:{port}/metrics"
        while not done.is_set():
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    text = response.read().decode()
                scrape.text, scrape.samples = text, parse(text)
                scrape.seen.update(name for name, rows in scrape.samples.items() if rows)
            except OSError:
                pass
            time.sleep(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    cmd = [sys.executable, "-m", "kafka_backup.cli", *args]
    cmd += ["--expose-metrics", f"127.0.0.1:{port}", "--metrics-linger", str(linger)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, env=dict(os.environ))
    finally:
        done.set()
        poller.join(5)
    assert scrape.text, f"never scraped {args[0]}: {result.stderr[-2000:]}"
    return result, scrape


@dataclass
class Flow:
    backup: Scrape
    restore: Scrape
    reset: Scrape
    validate: Scrape
    drill: Scrape
    root: Path
    source: str
    target: str
    group: str
    committed: dict[int, int]


@pytest.fixture(scope="module")
def flow(kafka: KafkaEndpoint, tmp_path_factory: pytest.TempPathFactory) -> Flow:
    tmp = tmp_path_factory.mktemp("truth")
    source = f"truth-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    target = f"{source}-restored"
    group = f"{source}-group"
    create_topic(kafka.bootstrap, source, PARTITIONS)
    producer = Producer(kafka.client_config({"linger.ms": 5}))
    for i in range(RECORDS):
        producer.produce(source, key=f"k{i}".encode(), value=json.dumps({"i": i, "pad": "x" * (i % 300)}).encode())
    assert producer.flush(30) == 0
    consumer = Consumer(kafka.client_config({"group.id": group, "enable.auto.commit": False}))
    consumer.assign([TopicPartition(source, p, 0) for p in range(PARTITIONS)])
    consumed = 0
    while consumed < CONSUMED:
        consumed += len(consumer.consume(CONSUMED - consumed, timeout=5))
    consumer.commit(asynchronous=False)
    committed = {
        tp.partition: tp.offset for tp in consumer.committed([TopicPartition(source, p) for p in range(PARTITIONS)])
    }
    consumer.close()

    root = tmp / "store"
    config = tmp / "backup.yaml"
    config.write_text(
        yaml.safe_dump(backup_config(kafka.bootstrap, "truth", root, [source], segment={"max_records": 4000}))
    )
    restore_yaml = tmp / "restore.yaml"
    restore_yaml.write_text(
        yaml.safe_dump(
            {
                "backup_id": "truth",
                "storage": {"url": f"file://{root}"},
                "target": {"bootstrap_servers": kafka.bootstrap},
                "topic_map": {source: target},
            }
        )
    )
    storage = ["--storage-url", f"file://{root}", "--backup-id", "truth"]
    backup, backup_scrape = run_scraped(["backup", "--config", str(config), "--json"], free_port())
    assert backup.returncode == 0, backup.stderr[-3000:]
    restore, restore_scrape = run_scraped(["restore", "--config", str(restore_yaml), "--json"], free_port())
    assert restore.returncode == 0, restore.stderr[-3000:]
    reset, reset_scrape = run_scraped(["offset-reset", "execute", *storage, "--group", group], free_port())
    assert reset.returncode == 0, reset.stderr[-3000:]
    validate, validate_scrape = run_scraped(["validate", *storage, "--deep"], free_port())
    assert validate.returncode == 0, validate.stdout[-3000:] + validate.stderr[-3000:]
    drill, drill_scrape = run_scraped(
        ["drill", *storage, "--bootstrap-servers", kafka.bootstrap, "--name", "truth-drill", "--json"], free_port()
    )
    assert drill.returncode == 0, drill.stdout[-3000:] + drill.stderr[-3000:]
    return Flow(
        backup_scrape, restore_scrape, reset_scrape, validate_scrape, drill_scrape,
        root, source, target, group, committed,
    )  # fmt: skip


def manifests(root: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((root / "truth" / "topics").glob("*/*/manifest.json"))]


def families_of(*scrapes: Scrape) -> set[str]:
    """The family names with samples in any of ``scrapes`` (histogram and counter sample suffixes removed)."""
    seen: set[str] = set()
    for scrape in scrapes:
        for sample_name in scrape.families():
            family = sample_name
            for suffix in ("_bucket", "_count", "_sum", "_created"):
                family = family.removesuffix(suffix)
            seen.add(family)
    return seen


class TestBackupMetricsTruth:
    def test_records_total_equals_records_in_backup(self, flow: Flow) -> None:
        """Σ kafka_backup_records_total equals the records the manifests hold (and the source topic holds)."""
        in_backup = sum(s["records"] for m in manifests(flow.root) for s in m["segments"])  # type: ignore[attr-defined]
        assert in_backup == RECORDS
        assert flow.backup.total("kafka_backup_records_total", backup_id="truth") == in_backup
        per_partition = {int(lbl["partition"]): v for lbl, v in flow.backup.values("kafka_backup_records_total")}
        assert sum(per_partition.values()) == RECORDS
        assert len(per_partition) == PARTITIONS

    def test_bytes_totals_equal_storage(self, flow: Flow) -> None:
        """Compressed bytes equal the segment files' sizes; uncompressed equal the manifests' payload bytes."""
        on_disk = sum(p.stat().st_size for p in (flow.root / "truth").rglob("*.parquet"))
        payload = sum(s["uncompressed_bytes"] for m in manifests(flow.root) for s in m["segments"])  # type: ignore[attr-defined]
        assert flow.backup.total("kafka_backup_compressed_bytes_total", backup_id="truth") == on_disk
        assert flow.backup.total("kafka_backup_uncompressed_bytes_total", backup_id="truth") == payload
        assert flow.backup.total("kafka_backup_bytes_total", backup_id="truth") == payload
        segments = len(list((flow.root / "truth").rglob("*.parquet")))
        assert flow.backup.total("kafka_backup_segments_total", backup_id="truth") == segments
        written = flow.backup.total("kafka_backup_storage_write_bytes_total", backend="filesystem", backup_id="truth")
        assert written >= on_disk  # segments once, plus every manifest version

    def test_compression_ratio_is_uncompressed_over_compressed(self, flow: Flow) -> None:
        """The ratio gauge equals uncompressed / compressed bytes."""
        ratio = flow.backup.total("kafka_backup_compression_ratio", backup_id="truth", algorithm="zstd")
        unc = flow.backup.total("kafka_backup_uncompressed_bytes_total", backup_id="truth")
        comp = flow.backup.total("kafka_backup_compressed_bytes_total", backup_id="truth")
        assert ratio == pytest.approx(unc / comp, rel=1e-9)
        assert ratio > 1

    def test_lag_falls_to_zero(self, flow: Flow) -> None:
        """Every partition's lag is 0 at the end of a snapshot backup, and so is the max."""
        lags = flow.backup.values("kafka_backup_lag_records")
        assert len(lags) == PARTITIONS
        assert all(v == 0 for _, v in lags)
        assert flow.backup.total("kafka_backup_lag_records_max", backup_id="truth") == 0

    def test_duration_histogram_counts_one_successful_run(self, flow: Flow) -> None:
        """One backup run, status success, in the documented buckets."""
        assert flow.backup.total("kafka_backup_duration_seconds_count", backup_id="truth", status="success") == 1
        buckets = {lbl["le"] for lbl, _ in flow.backup.values("kafka_backup_duration_seconds_bucket")}
        assert {"1.0", "5.0", "15.0", "30.0", "60.0", "120.0", "300.0", "600.0", "1800.0", "3600.0", "+Inf"} == buckets

    def test_client_view_counts_consumed_records(self, flow: Flow) -> None:
        """librdkafka's own statistics report at least the records we backed up."""
        assert flow.backup.total("kafka_backup_client_consumed_records_total") >= RECORDS


class TestRestoreMetricsTruth:
    def test_progress_ends_at_100_and_counts_match(self, flow: Flow, kafka: KafkaEndpoint) -> None:
        """Progress is exactly 100, ETA 0, and restored records equal the target topic's records."""
        restored = read_topic(kafka.bootstrap, flow.target)
        assert len(restored) == RECORDS
        assert flow.restore.total("kafka_restore_progress_percent", backup_id="truth") == 100.0
        assert flow.restore.total("kafka_restore_eta_seconds", backup_id="truth") == 0.0
        assert flow.restore.total("kafka_restore_records_total", backup_id="truth", topic=flow.target) == RECORDS
        assert flow.restore.total("kafka_restore_throughput_records_per_sec", backup_id="truth") > 0
        # librdkafka's statistics are sampled every interval: present and positive, not exact at the end
        assert flow.restore.total("kafka_backup_client_produced_records_total") > 0


class TestOffsetResetMetricsTruth:
    def test_partitions_reset_equals_group_partitions(self, flow: Flow) -> None:
        """Every partition the group had committed is reset once, successfully."""
        expected = len([o for o in flow.committed.values() if o >= 0])
        assert expected > 0
        got = flow.reset.total("kafka_offset_reset_partitions_total", consumer_group=flow.group, status="success")
        assert got == expected
        assert flow.reset.total("kafka_offset_reset_duration_seconds_count", consumer_group=flow.group) == 1


class TestDrillMetricsTruth:
    def test_drill_scores_100_with_rto_and_age(self, flow: Flow) -> None:
        """A drill of the sound backup passes with score 100, a measured RTO and the backup's age."""
        assert flow.drill.total("kafka_restore_drill_score", drill="truth-drill") == 100.0
        assert flow.drill.total("kafka_restore_drill_runs_total", drill="truth-drill", result="pass") == 1
        assert flow.drill.total("kafka_restore_drill_rto_seconds", drill="truth-drill") > 0
        assert flow.drill.total("kafka_restore_drill_backup_age_seconds", drill="truth-drill") > 0


class TestEveryFamily:
    def test_every_catalog_family_is_emitted_by_the_flow(self, flow: Flow) -> None:
        """Each catalog family has samples in some command's scrape (none registered and never updated)."""
        seen = families_of(flow.backup, flow.restore, flow.reset, flow.validate, flow.drill)
        expected = {f.name for f in CATALOG} - ONLY_IN_A_PARTIAL_RESTORE
        missing = sorted(expected - seen)
        assert missing == [], ", ".join(missing)

    def test_promtool_accepts_every_scrape(self, flow: Flow) -> None:
        """promtool check metrics finds no problem beyond the PRD's documented *_per_sec names."""
        promtool = shutil.which("promtool")
        assert promtool, "promtool is installed by scripts/setup.sh (Debian package prometheus)"
        for scrape in (flow.backup, flow.restore, flow.reset, flow.validate, flow.drill):
            result = subprocess.run(
                [promtool, "check", "metrics"], input=scrape.text, capture_output=True, text=True, check=False
            )
            problems = [
                line
                for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and "_per_sec" not in line.split(" ")[0]
            ]
            assert problems == [], problems


class TestErrorFamilies:
    def test_clean_flow_exposes_every_required_family(self, flow: Flow) -> None:
        """backup, restore, offset-reset and validate, all clean: every family the specs require has series."""
        required = {f.name for f in CATALOG if f.source in REQUIRED_SOURCES}
        assert len(required) == 32
        exposed = required & families_of(flow.backup, flow.restore, flow.reset, flow.validate)
        assert sorted(required - exposed) == []

    @pytest.mark.parametrize(
        ("command", "operation"),
        [("backup", "backup"), ("restore", "restore"), ("reset", "offset_reset"), ("validate", "validate")],
    )
    def test_error_series_start_at_zero(self, flow: Flow, command: str, operation: str) -> None:
        """Each command exposes its own error series at 0: one per stable error code (validate: per defect kind)."""
        scrape: Scrape = getattr(flow, command)
        errors = [(lbl, v) for lbl, v in scrape.values("kafka_backup_errors_total") if lbl["operation"] == operation]
        expected = {kind.upper() for kind in DEFECT_KINDS} if operation == "validate" else set(BackupError.codes())
        assert {lbl["error_type"] for lbl, _ in errors} >= expected
        assert {lbl["backup_id"] for lbl, _ in errors} == {"truth"}
        assert all(v == 0 for _, v in errors), errors

    def test_storage_series_start_at_zero(self, flow: Flow) -> None:
        """The backup's store: a storage-error series per type and a retry series per call and retried type, at 0."""
        storage = flow.backup.values("kafka_backup_storage_errors_total")
        assert {(lbl["backend"], lbl["error_type"]) for lbl, _ in storage} == {
            ("filesystem", error_type) for error_type in StorageError.error_types()
        }
        retries = [
            (lbl, v) for lbl, v in flow.backup.values("kafka_backup_retries_total") if lbl["backup_id"] == "truth"
        ]
        assert {lbl["reason"] for lbl, _ in retries} == set(StorageError.error_types(retryable=True))
        assert {lbl["operation"] for lbl, _ in retries} >= {"storage_put", "storage_get", "storage_list"}
        assert all(v == 0 for _, v in storage + retries)

    def test_outage_counts_retries_storage_errors_and_the_failure(
        self, kafka: KafkaEndpoint, s3_server: StorageServer, tmp_path: Path
    ) -> None:
        """A backup against a stopped S3 server retries, fails cleanly, and its metrics file shows all three."""
        topic = f"outage-{time.monotonic_ns() % 10**8}"
        create_topic(kafka.bootstrap, topic, 1)
        url = s3_server.url(DEFAULT_BUCKET, f"outage-{time.monotonic_ns()}")
        data = backup_config(kafka.bootstrap, "outage", tmp_path, [topic])
        data["storage"] = {"url": url, "options": storage_options(url, s3_server.settings())}
        config = tmp_path / "outage.yaml"
        config.write_text(yaml.safe_dump(data))
        metrics_file = tmp_path / "outage.prom"
        s3_server.stop()
        try:
            result = subprocess.run(
                [sys.executable, "-m", "kafka_backup.cli", "backup", "--config", str(config),
                 "--metrics-output", str(metrics_file)],
                capture_output=True, text=True, timeout=180, check=False,
            )  # fmt: skip
        finally:
            s3_server.start()
        assert result.returncode == 1, result.stderr[-2000:]
        assert "error[STORAGE_" in result.stderr
        samples = parse(metrics_file.read_text())
        scrape = Scrape(samples=samples)
        assert scrape.total("kafka_backup_retries_total", backup_id="outage") >= 3
        assert scrape.total("kafka_backup_storage_errors_total", backend="s3") >= 4
        failures = [lbl for lbl, v in scrape.values("kafka_backup_errors_total") if v >= 1]
        assert any(lbl["operation"] == "backup" and lbl["error_type"].startswith("STORAGE_") for lbl in failures)
        assert scrape.total("kafka_backup_duration_seconds_count", backup_id="outage", status="failure") == 1
        assert {n.removesuffix("_total") + "_total" for n in scrape.samples if scrape.samples[n]} >= ERROR_FAMILIES
