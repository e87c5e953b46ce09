"""Backup, validate, restore, list/describe/prune on every storage backend: local files, S3 (MinIO), GCS
(fake-gcs-server) and Azure Blob (Azurite), each a real server on loopback (``storage_target``).

One parametrized suite, not one per backend: every test takes ``storage_target`` and puts its URL and fsspec options
into the job's ``storage`` section, exactly as a user's config would. Faults (a stopped server, wrong credentials, a
missing bucket, an upload left incomplete, a worker killed with SIGKILL mid-upload) are made on the real servers.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from confluent_kafka import Producer

from engine.backup_helpers import backup_config
from kafka_backup.engine.backup.run import BackupRun, BackupSummary
from kafka_backup.engine.catalog.inventory import describe_backup, execute_prune, list_backups, plan_prune
from kafka_backup.engine.catalog.validate import validate_backup
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.errors import StorageError
from kafka_backup.engine.format.layout import manifest_key, segment_key
from kafka_backup.engine.restore.run import RestoreRun
from kafka_backup.engine.store import RetryPolicy, StorageSettings, Store, open_store, storage_options
from kafka_backup.telemetry.catalog import Metrics
from kafka_backup.telemetry.testing import MetricsCapture
from rig.kafka import KafkaEndpoint
from rig.storage_fixtures import StorageTarget
from rig.tricky import Row, create_topic, produce_tricky, read_topic

PARTITIONS = 3
OUTAGE_RETRY = RetryPolicy(attempts=30, initial_delay=0.1, max_delay=1.0, deadline=90.0)
"""Enough retries to outlast a server restart (MinIO and Azurite take a few seconds to come back)."""
SHUTDOWN_S = 5.0


# ---- helpers ----------------------------------------------------------------------------------------------------


def storage_section(target: StorageTarget) -> dict[str, Any]:
    return {"url": target.url, "options": target.options}


def job(kafka: KafkaEndpoint, target: StorageTarget, backup_id: str, topics: list[str], **extra: Any) -> BackupConfig:
    cfg = backup_config(kafka.bootstrap, backup_id, Path("/unused"), topics, **extra)
    cfg["storage"] = storage_section(target)
    return BackupConfig.model_validate(cfg)


def run_backup(config: BackupConfig, *, metrics: Metrics | None = None, store: Store | None = None) -> BackupSummary:
    summary = BackupRun(config, metrics=metrics or Metrics(), store=store).run()
    assert summary.status == "success", summary
    return summary


def fill(kafka: KafkaEndpoint, topic: str, records: int, payload: int = 100) -> None:
    """``records`` records over PARTITIONS partitions (keys are the record numbers)."""
    create_topic(kafka.bootstrap, topic, PARTITIONS)
    producer = Producer(kafka.client_config({"linger.ms": 20, "batch.size": 1_000_000, "compression.type": "lz4"}))
    body = bytes(range(256)) * (payload // 256 + 1)
    for i in range(records):
        while True:
            try:
                producer.produce(topic, key=str(i).encode(), value=body[:payload], headers=[("i", str(i).encode())])
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0


def manifest_segments(store: Store, backup_id: str, topic: str, partitions: int) -> list[dict[str, Any]]:
    """The segment entries of the partition manifests (what a reader trusts), read as plain JSON."""
    out: list[dict[str, Any]] = []
    for partition in range(partitions):
        key = manifest_key(backup_id, topic, partition)
        if store.stat(key) is None:
            continue
        out += json.loads(store.get(key, operation="manifest"))["segments"]
    return out


def stored_rows(store: Store, backup_id: str, topic: str, partitions: int) -> list[Row]:
    """Every record the manifests reference, read back with plain pyarrow."""
    rows: list[Row] = []
    for entry in manifest_segments(store, backup_id, topic, partitions):
        table = pq.read_table(io.BytesIO(store.get(entry["key"], operation="segment")))
        for r in table.to_pylist():
            headers = None if r["headers"] is None else [(h["key"], h["value"]) for h in r["headers"]]
            row = (r["topic"], r["partition"], r["offset"], r["timestamp"], r["timestamp_type"], r["key"], r["value"])
            rows.append((*row, headers))
    rows.sort(key=lambda r: (r[1], r[2]))
    return rows


def assert_valid(store: Store, backup_id: str) -> None:
    report = validate_backup(store, backup_id, deep=True)
    assert report.valid, report.render()


def assert_exact(kafka: KafkaEndpoint, store: Store, backup_id: str, topic: str) -> None:
    """The backup holds each source record once, byte for byte, and nothing else."""
    for entry in manifest_segments(store, backup_id, topic, PARTITIONS):
        info = store.stat(entry["key"])
        assert info is not None, f"manifest references missing object {entry['key']}"
        assert info.size == entry["size"], f"manifest references a partial object {entry['key']}"
    rows = stored_rows(store, backup_id, topic, PARTITIONS)
    keys = [(r[1], r[2]) for r in rows]
    assert len(keys) == len(set(keys)), "a record is stored twice"
    assert rows == read_topic(kafka.bootstrap, topic)


def content(rows: list[Row]) -> list[tuple[Any, ...]]:
    """Per partition, the records in order (offsets of a restored topic may differ)."""
    position: dict[int, int] = {}
    out = []
    for r in rows:
        position[r[1]] = position.get(r[1], -1) + 1
        out.append((r[1], position[r[1]], r[3], r[5], r[6], r[7]))
    return out


def write_config(path: Path, config: BackupConfig | dict[str, Any]) -> Path:
    data = config if isinstance(config, dict) else config.model_dump(mode="json", exclude_defaults=True)
    path.write_text(yaml.safe_dump(data))
    return path


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kafka_backup.cli", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def storage_retries(metrics_file: Path) -> float:
    """Storage retries a CLI run counted (``kafka_backup_retries_total{operation="storage_*"}`` in its .prom file)."""
    assert metrics_file.exists(), "the run wrote no metrics file"
    total = 0.0
    for line in metrics_file.read_text().splitlines():
        if line.startswith("kafka_backup_retries_total{") and 'operation="storage_' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error[")]


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def committed(store: Store, backup_id: str, topic: str) -> int:
    try:
        return len(manifest_segments(store, backup_id, topic, PARTITIONS))
    except (StorageError, json.JSONDecodeError):
        return 0


def object_server(target: StorageTarget) -> Any:
    if target.server is None:
        pytest.skip("local files have no server to stop")
    return target.server


# ---- round trip -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tricky(kafka: KafkaEndpoint) -> list[str]:
    """The tricky data set, produced once for the module."""
    return produce_tricky(kafka.bootstrap, f"cloud-{uuid.uuid4().hex[:6]}")


def backup_in_thread(run: BackupRun) -> tuple[threading.Thread, list[BackupSummary | BaseException]]:
    """Start ``run`` on a daemon thread; the list receives its summary or the exception it raised."""
    result: list[BackupSummary | BaseException] = []

    def backup() -> None:
        try:
            result.append(run.run())
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=backup, daemon=True)
    thread.start()
    return thread, result


class TestRoundTrip:
    def test_tricky_backup_validate_restore_byte_exact(
        self, kafka: KafkaEndpoint, tricky: list[str], storage_target: StorageTarget
    ) -> None:
        """Tricky topics → backup → deep validate → restore to renamed topics → equal to the source; metrics read."""
        prefix = tricky[0].rsplit(".", 1)[0]
        config = job(kafka, storage_target, "tricky", [f"{prefix}.*"], segment={"max_records": 200})
        summary = run_backup(config)
        assert summary.records > 0
        store = storage_target.store()
        assert_valid(store, "tricky")

        run_id = uuid.uuid4().hex[:6]
        renames = {t: f"{t}-to-{storage_target.backend}-{run_id}" for t in tricky}
        compacted = next(t for t in tricky if t.endswith(".compacted"))
        create_topic(kafka.bootstrap, renames[compacted], 1)  # not compacted: the cleaner must not thin it out
        restore = RestoreConfig.model_validate(
            {
                "backup_id": "tricky",
                "storage": storage_section(storage_target),
                "target": {"bootstrap_servers": kafka.bootstrap, "connect_timeout_s": 10},
                # only the tricky sources: the glob backup also caught earlier backends' restored copies, which
                # would restore onto themselves (a non-empty target, refused since existing_data exists)
                "topics": {"include": tricky},
                "topic_map": renames,
            }
        )
        with MetricsCapture() as cap:
            result = RestoreRun(restore, metrics=cap.metrics).run()
            assert result.status == "success"
            read = cap.value(
                "kafka_backup_storage_read_bytes_total", backend=storage_target.backend, backup_id="tricky"
            )
        segment_bytes = sum(
            e["size"] for t in tricky for e in manifest_segments(store, "tricky", t, 12)
        )  # 12: the widest tricky topic
        assert read is not None and read >= segment_bytes
        for source, target in renames.items():
            expected = content(read_topic(kafka.bootstrap, source))
            assert expected, f"no source records in {source}"
            assert content(read_topic(kafka.bootstrap, target)) == expected, f"{target} differs from {source}"


class TestInventory:
    def test_list_describe_prune(self, kafka: KafkaEndpoint, topic_name: str, storage_target: StorageTarget) -> None:
        """Two backups are listed and described; prune --keep-last 1 removes the older, the newer stays valid."""
        fill(kafka, topic_name, 600)
        run_backup(job(kafka, storage_target, "older", [topic_name]))
        time.sleep(0.01)  # distinct created_at
        run_backup(job(kafka, storage_target, "newer", [topic_name]))
        store = storage_target.store()

        listed = {b.backup_id: b for b in list_backups(store)}
        assert set(listed) == {"older", "newer"}
        assert all(b.status == "complete" and b.topics == 1 and b.objects > 0 for b in listed.values())
        described = describe_backup(store, "newer")
        assert described["records"] == 600
        assert described["topics"][topic_name]["partitions"] == PARTITIONS

        plan = plan_prune(store, keep_last=1)
        assert plan.delete == ["older"]
        assert execute_prune(store, plan) == listed["older"].objects
        assert [b.backup_id for b in list_backups(store)] == ["newer"]
        assert store.list("older/") == []
        assert_valid(store, "newer")


# ---- metrics ----------------------------------------------------------------------------------------------------


class TestMetrics:
    def test_storage_metrics_by_backend(
        self, kafka: KafkaEndpoint, topic_name: str, storage_target: StorageTarget
    ) -> None:
        """Write bytes and latency per operation after a backup, read bytes after validate, labelled by backend."""
        fill(kafka, topic_name, 1500)
        backend = storage_target.backend
        with MetricsCapture() as cap:
            run_backup(job(kafka, storage_target, "m", [topic_name], segment={"max_records": 100}), metrics=cap.metrics)
            store = storage_target.store()
            segments = manifest_segments(store, "m", topic_name, PARTITIONS)
            listed = sum(o.size for o in store.list("m/"))
            written = cap.value("kafka_backup_storage_write_bytes_total", backend=backend, backup_id="m")
            assert written is not None and written >= listed > 0
            latency = {
                op: cap.histogram("kafka_backup_storage_write_latency_seconds", backend=backend, operation=op)
                for op in ("segment", "manifest", "checkpoint")
            }
            assert latency["segment"] is not None and latency["segment"].count == len(segments) >= 15
            assert latency["manifest"] is not None and latency["manifest"].count >= PARTITIONS + 1
            assert latency["checkpoint"] is not None and latency["checkpoint"].count >= 1
            assert all(h is not None and h.sum > 0 for h in latency.values())
            storage_errors = cap.series("kafka_backup_storage_errors_total")
            assert storage_errors, "the storage error series should exist from the start, at zero"
            assert set(storage_errors.values()) == {0}, "a clean backup counted storage errors"

            reading = open_store(storage_target.url, storage_target.options, metrics=cap.metrics, backup_id="m")
            assert_valid(reading, "m")
            read = cap.value("kafka_backup_storage_read_bytes_total", backend=backend, backup_id="m")
            assert read is not None and read >= sum(s["size"] for s in segments)
            seg_reads = cap.histogram("kafka_backup_storage_read_latency_seconds", backend=backend, operation="segment")
            assert seg_reads is not None and seg_reads.count == len(segments)
            assert {dict(k)["backend"] for k in cap.series("kafka_backup_storage_write_bytes_total")} == {backend}


# ---- crash safety -----------------------------------------------------------------------------------------------


class TestKillDuringUpload:
    def test_kill_9_then_rerun_is_exact(
        self, kafka: KafkaEndpoint, topic_name: str, storage_target: StorageTarget, tmp_path: Path
    ) -> None:
        """kill -9 a CLI backup mid-upload; a rerun completes; validate is clean and the backup equals the topic."""
        records = 30_000
        fill(kafka, topic_name, records, payload=200)
        config = job(kafka, storage_target, "crash", [topic_name], segment={"max_records": 250})
        path = write_config(tmp_path / "backup.yaml", config)
        store = storage_target.store()
        with (tmp_path / "first.log").open("ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "kafka_backup.cli", "backup", "--config", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for(lambda: committed(store, "crash", topic_name) >= 6, 120, "6 committed segments")
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        killed_at = committed(store, "crash", topic_name)
        assert killed_at < records // 250, "the first run finished before the kill; the test proved nothing"

        rerun = cli("backup", "--config", str(path), "--json")
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        summary = json.loads(rerun.stdout.strip().splitlines()[-1])
        assert 0 < summary["records"] < records
        assert_valid(store, "crash")
        assert_exact(kafka, store, "crash", topic_name)


# ---- faults -----------------------------------------------------------------------------------------------------


class TestServerOutage:
    def test_server_back_during_retries_completes(
        self, kafka: KafkaEndpoint, topic_name: str, storage_target: StorageTarget
    ) -> None:
        """Stop the server mid-backup and bring it back: retries carry the run to an exact, valid backup."""
        server = object_server(storage_target)
        fill(kafka, topic_name, 20_000, payload=200)
        config = job(kafka, storage_target, "outage", [topic_name], segment={"max_records": 250})
        backend = storage_target.backend
        probe = storage_target.store()
        with MetricsCapture() as cap:
            store = open_store(
                storage_target.url, storage_target.options, metrics=cap.metrics, backup_id="outage", retry=OUTAGE_RETRY
            )
            thread, result = backup_in_thread(BackupRun(config, metrics=cap.metrics, store=store))
            try:
                wait_for(lambda: committed(probe, "outage", topic_name) >= 3, 120, "3 committed segments")
                server.stop()
                time.sleep(1.5)
            finally:
                server.start()
            thread.join(180)
            assert not thread.is_alive(), "the backup hung after the server came back"
            summary = result[0]
            assert isinstance(summary, BackupSummary) and summary.status == "success", summary
            errors = cap.series("kafka_backup_storage_errors_total")
            retries = cap.series("kafka_backup_retries_total")
        counted = {k: v for k, v in errors.items() if v}
        assert counted, "no storage error was counted while the server was down"
        assert {dict(k)["backend"] for k in errors} == {backend}
        assert {dict(k)["error_type"] for k in counted} <= {"unknown", "timeout", "unavailable"}
        retried = {dict(k)["operation"] for k in retries if dict(k)["operation"].startswith("storage_")}
        assert retried, f"no storage retry was counted: {retries}"
        assert sum(v for v in retries.values() if isinstance(v, float)) >= 1
        assert_valid(probe, "outage")
        assert_exact(kafka, probe, "outage", topic_name)

    def test_server_gone_fails_cleanly_then_rerun_is_exact(
        self, kafka: KafkaEndpoint, topic_name: str, storage_target: StorageTarget
    ) -> None:
        """The server stays down past the retries: the run fails with a storage error, nothing committed is corrupt,
        and a rerun after the server is back completes the backup exactly."""
        server = object_server(storage_target)
        fill(kafka, topic_name, 20_000, payload=200)
        config = job(
            kafka, storage_target, "gone", [topic_name], segment={"max_records": 250}, shutdown_timeout_s=SHUTDOWN_S
        )
        probe = storage_target.store()
        short = RetryPolicy(attempts=3, initial_delay=0.05, max_delay=0.2, deadline=10.0)
        store = open_store(storage_target.url, storage_target.options, retry=short)
        thread, result = backup_in_thread(BackupRun(config, store=store))
        try:
            wait_for(lambda: committed(probe, "gone", topic_name) >= 3, 120, "3 committed segments")
            server.stop()
            stopped = time.monotonic()
            thread.join(180)
            took = time.monotonic() - stopped
        finally:
            server.start()
        assert not thread.is_alive(), "the backup hung while the server was down"
        outcome = result[0]
        failed = isinstance(outcome, StorageError) or (
            isinstance(outcome, BackupSummary) and outcome.status != "success"
        )
        assert failed, f"the backup did not fail while the server was down: {outcome!r}"
        if isinstance(outcome, StorageError):
            assert outcome.retryable and outcome.error_type in ("unknown", "timeout"), repr(outcome)

        for entry in manifest_segments(probe, "gone", topic_name, PARTITIONS):
            info = probe.stat(entry["key"])
            assert info is not None and info.size == entry["size"], f"manifest trusts a bad object {entry['key']}"
        run_backup(config, store=storage_target.store())
        assert_valid(probe, "gone")
        assert_exact(kafka, probe, "gone", topic_name)
        bound = SHUTDOWN_S + 2 * short.deadline + 10
        if took > bound:
            # Known: BackupRun._shutdown (engine/backup/run.py) writes every pending segment of a partition, each
            # through a full retry cycle, after the storage already failed; shutdown_timeout_s is checked between
            # partitions only.
            pytest.xfail(f"the run took {took:.0f}s to fail after the storage died (bound {bound:.0f}s): backup.py")


class TestCliStorageErrors:
    def test_wrong_credentials_fail_fast(
        self, kafka: KafkaEndpoint, topic_name: str, storage_target: StorageTarget, tmp_path: Path
    ) -> None:
        """Wrong credentials: exit 1 with one STORAGE_AUTH_FAILED line within seconds, no retrying."""
        server = object_server(storage_target)
        if storage_target.backend == "gcs":
            pytest.skip("fake-gcs-server accepts any credentials (GCS 401/403 mapping: tests/storage/test_classify)")
        fill(kafka, topic_name, 30)
        config = job(kafka, storage_target, "auth", [topic_name]).model_dump(mode="json", exclude_defaults=True)
        config["storage"]["options"] = storage_options(storage_target.url, server.bad_settings(), env={})
        path = write_config(tmp_path / "backup.yaml", config)
        metrics = tmp_path / "run.prom"
        result = cli("backup", "--config", str(path), "--metrics-output", str(metrics), timeout=120)
        assert result.returncode == 1, result.stderr[-3000:]
        lines = error_lines(result.stderr)
        assert len(lines) == 1 and lines[0].startswith("error[STORAGE_AUTH_FAILED]: "), result.stderr[-3000:]
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        assert storage_retries(metrics) == 0, "a rejected credential was retried"

    def test_missing_bucket_says_how_to_create_it(
        self, kafka: KafkaEndpoint, topic_name: str, storage_target: StorageTarget, tmp_path: Path
    ) -> None:
        """A missing bucket/container: exit 1, STORAGE_NOT_FOUND naming it and the command that creates it."""
        server = object_server(storage_target)
        fill(kafka, topic_name, 30)
        bucket = f"missing-{uuid.uuid4().hex[:8]}"
        config = job(kafka, storage_target, "nobucket", [topic_name]).model_dump(mode="json", exclude_defaults=True)
        config["storage"]["url"] = server.url(bucket, "prefix")
        path = write_config(tmp_path / "backup.yaml", config)
        metrics = tmp_path / "run.prom"
        result = cli("backup", "--config", str(path), "--metrics-output", str(metrics), timeout=120)
        assert result.returncode == 1, result.stderr[-3000:]
        lines = error_lines(result.stderr)
        assert len(lines) == 1 and lines[0].startswith("error[STORAGE_NOT_FOUND]: "), result.stderr[-3000:]
        assert bucket in lines[0] and "does not exist" in lines[0] and "create it" in lines[0], lines[0]
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        assert storage_retries(metrics) == 0, "a missing bucket was retried"

    def test_validate_and_list_report_missing_bucket(self, storage_target: StorageTarget, tmp_path: Path) -> None:
        """validate and list on a missing bucket fail with the same clear error (exit 1), not 'no backups'."""
        server = object_server(storage_target)
        bucket = f"missing-{uuid.uuid4().hex[:8]}"
        storage = {"url": server.url(bucket, "p"), "options": storage_target.options}
        path = write_config(tmp_path / "where.yaml", {"storage": storage, "backup_id": "x"})
        for command in ("list", "validate"):
            result = cli(command, "--config", str(path), timeout=60)
            assert result.returncode == 1, (command, result.stdout, result.stderr[-2000:])
            lines = error_lines(result.stderr)
            assert len(lines) == 1 and lines[0].startswith("error[STORAGE_NOT_FOUND]: "), result.stderr[-2000:]
            assert bucket in lines[0] and "create it" in lines[0], lines[0]

    def test_validate_and_list_report_wrong_credentials(self, storage_target: StorageTarget, tmp_path: Path) -> None:
        """validate and list with a rejected credential fail at once with STORAGE_AUTH_FAILED (exit 1)."""
        server = object_server(storage_target)
        if storage_target.backend == "gcs":
            pytest.skip("fake-gcs-server accepts any credentials (GCS 401/403 mapping: tests/storage/test_classify)")
        storage = {
            "url": storage_target.url,
            "options": storage_options(storage_target.url, server.bad_settings(), env={}),
        }
        path = write_config(tmp_path / "where.yaml", {"storage": storage, "backup_id": "x"})
        metrics = tmp_path / "validate.prom"
        for command, extra in (("list", []), ("validate", ["--metrics-output", str(metrics)])):
            result = cli(command, "--config", str(path), *extra, timeout=60)
            assert result.returncode == 1, (command, result.stdout, result.stderr[-2000:])
            lines = error_lines(result.stderr)
            assert len(lines) == 1 and lines[0].startswith("error[STORAGE_AUTH_FAILED]: "), result.stderr[-2000:]
            assert "Traceback" not in result.stderr, result.stderr[-2000:]
        # list has no metrics flags; the store contract test proves no store operation retries a rejected credential
        assert storage_retries(metrics) == 0, "validate retried a rejected credential"


class TestLeftovers:
    def test_incomplete_upload_left_over_is_ignored(
        self, kafka: KafkaEndpoint, topic_name: str, storage_target: StorageTarget
    ) -> None:
        """Incomplete uploads at the keys a backup will write (and beside them) change nothing: exact and valid."""
        fill(kafka, topic_name, 900)
        data = b"partial upload of a dead writer " * 2000
        first_segment = segment_key("left", topic_name, 0, 0, 100)  # offsets [0, 100)
        storage_target.leave_incomplete_upload(first_segment, data)
        storage_target.leave_incomplete_upload(manifest_key("left", topic_name, 1), data)
        storage_target.leave_incomplete_upload(f"left/topics/{topic_name}/2/segments/stray.parquet", data)
        run_backup(job(kafka, storage_target, "left", [topic_name], segment={"max_records": 100}))
        store = storage_target.store()
        assert_valid(store, "left")
        assert_exact(kafka, store, "left", topic_name)
        assert any(o.key == first_segment for o in store.list("left/")), "the test did not hit a real segment key"
        assert [b.backup_id for b in list_backups(store)] == ["left"]


class TestCredentialSources:
    def test_settings_section_reaches_the_store(
        self, kafka: KafkaEndpoint, topic_name: str, storage_target: StorageTarget, tmp_path: Path
    ) -> None:
        """`storage.settings` in a YAML (no fsspec options) is enough for `list` and `validate` on every backend."""
        fill(kafka, topic_name, 60)
        run_backup(job(kafka, storage_target, "viasettings", [topic_name]))
        settings = storage_target.settings or StorageSettings()
        section = {k: v for k, v in asdict(settings).items() if v not in (None, {}, False)}
        if storage_target.backend == "filesystem":
            section = {}
        path = write_config(
            tmp_path / "where.yaml",
            {"backup_id": "viasettings", "storage": {"url": storage_target.url, "settings": section}},
        )
        listed = cli("list", "--config", str(path), "--json", timeout=60)
        assert listed.returncode == 0, listed.stderr[-2000:]
        assert [b["backup_id"] for b in json.loads(listed.stdout)] == ["viasettings"]
        checked = cli("validate", "--config", str(path), "--json", timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr[-2000:]
        assert json.loads(checked.stdout.strip().splitlines()[-1])["valid"] is True

    def test_environment_credential_chain(
        self, kafka: KafkaEndpoint, topic_name: str, storage_target: StorageTarget
    ) -> None:
        """With only a URL on the command line, the standard environment variables reach the server."""
        server = object_server(storage_target)
        fill(kafka, topic_name, 60)
        run_backup(job(kafka, storage_target, "viaenv", [topic_name]))
        unrelated = ("AWS_", "AZURE_STORAGE_", "STORAGE_EMULATOR_HOST", "GOOGLE_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(unrelated)}
        env.update(server.person_env())
        checked = subprocess.run(
            [sys.executable, "-m", "kafka_backup.cli", "validate", "--storage-url", storage_target.url,
             "--backup-id", "viaenv", "--json"],
            capture_output=True, text=True, timeout=60, check=False, env=env,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr[-2000:]
        assert json.loads(checked.stdout.strip().splitlines()[-1])["valid"] is True
