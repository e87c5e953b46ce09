"""Broker faults during a run (real CLI processes, a real broker of this module's own): kill -9 and restart on the
same data directory and port, or SIGSTOP for ~20 s. Each run rides the fault out and completes exactly, exit 0,
with its retries counted in ``kafka_backup_retries_total`` and the outage logged once (started, ended)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from engine.backup_helpers import backup_config
from engine.restore_support import (
    RECENT_TS,
    content,
    create_topic,
    make_backup,
    produce_records,
    read_topic,
    restore_config,
)
from engine.test_backup_crash import assert_exact, committed_segments, fill, wait_for
from engine.test_native_producer import _batch
from kafka_backup.engine.config.kafka import KafkaConfig
from kafka_backup.engine.kafka.sink import ProducerStuck, Sink
from kafka_backup.engine.restore.progress import Progress
from kafka_backup.engine.restore.run import RestoreRun
from kafka_backup.telemetry.testing import MetricsCapture
from rig.kafka import ClusterSpec, KafkaCluster, Listener, tail

STALL_S = 20.0
"""How long the broker is stopped: longer than the clients' request and socket timeouts below."""
STALL_CLIENT_CONFIG = {"socket.timeout.ms": 5000}
"""A client request timeout under the stall, so requests really fail during it (with librdkafka's 60 s default a
20 s stall is only a pause, and nothing would be retried)."""


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaCluster]:
    """A broker of this module only: killing or stopping it leaves the session's broker to the other tests."""
    cluster = KafkaCluster(ClusterSpec(listeners=(Listener(),))).start()
    try:
        yield cluster
    finally:
        cluster.resume()  # a stopped JVM would not act on the SIGTERM
        cluster.stop()


def start_cli(command: str, config: Path, workdir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """The CLI as a process with JSON logs; returns it, its log file and its metrics file (.prom, written at exit)."""
    log_path, metrics = workdir / f"{command}.log", workdir / f"{command}.prom"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kafka_backup.cli", command, "--config", str(config), "--json",
             "--metrics-output", str(metrics), *extra],
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, "KAFKA_BACKUP_LOG_FORMAT": "json"},
        )  # fmt: skip
    return proc, log_path, metrics


def finish(broker: KafkaCluster, proc: subprocess.Popen[bytes], log_path: Path) -> dict[str, Any]:
    """Wait for the CLI; its summary (exit 0 asserted, else its log and the broker's tail)."""
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"{tail(log_path, 40)}\n--- broker:\n{tail(broker.log_paths[0], 30)}"
    summary: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return summary


def retries(metrics: Path) -> dict[tuple[str, str], float]:
    """``kafka_backup_retries_total`` by (operation, reason) from a metrics file."""
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(metrics.read_text()):
        for sample in family.samples:
            if sample.name == "kafka_backup_retries_total":
                key = (sample.labels["operation"], sample.labels["reason"])
                out[key] = out.get(key, 0.0) + sample.value
    return out


def events(log_path: Path, name: str) -> list[dict[str, Any]]:
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("event") == name:
            found.append(event)
    return found


def assert_ridden_out(log_path: Path, metrics: Path) -> None:
    """Retries were counted; every outage was logged once when it started and once when it ended, not per attempt."""
    counted = retries(metrics)
    total = sum(v for (operation, _), v in counted.items() if not operation.startswith("storage_"))
    started, ended = events(log_path, "kafka_outage_started"), events(log_path, "kafka_outage_ended")
    assert total > 0, f"no Kafka retry counted: {counted}"
    assert started, "no outage was logged"
    assert len(ended) == len(started), (started, ended)
    assert sum(e["attempts"] for e in ended) <= total
    # one warning per outage, not per attempt: starts and ends alternate, and an outage of several attempts (the
    # usual case; a blip of one attempt each is possible) has one warning for all of them
    order = [
        json.loads(line)["event"]
        for line in log_path.read_text(errors="replace").splitlines()
        if '"kafka_outage_started"' in line or '"kafka_outage_ended"' in line
    ]
    assert order == ["kafka_outage_started", "kafka_outage_ended"] * len(started), order
    assert len(started) <= sum(e["attempts"] for e in ended)
    assert all(e["duration_s"] > 0 for e in ended)


def frozen(proc: subprocess.Popen[bytes]) -> Callable[[Callable[[], None]], None]:
    """Apply a fault while the CLI process is stopped, so it is certainly mid-run when it meets the fault."""

    def run(fault: Callable[[], None]) -> None:
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            fault()
        finally:
            os.kill(proc.pid, signal.SIGCONT)

    return run


# ---- backup ---------------------------------------------------------------------------------------------------

RECORDS = 60_000


def _backup_mid_run(broker: KafkaCluster, tmp_path: Path, **client: Any) -> tuple[str, Path, subprocess.Popen[bytes]]:
    endpoint = broker.endpoint()
    topic = f"outage-{uuid.uuid4().hex[:8]}"
    fill(endpoint, topic, RECORDS)
    cfg = backup_config(endpoint.bootstrap, "outage", tmp_path / "store", [topic], segment={"max_records": 1000})
    cfg["source"] = {**cfg["source"], "client_config": client} if client else cfg["source"]
    config = tmp_path / "backup.yaml"
    config.write_text(yaml.safe_dump(cfg))
    proc, log_path, _metrics = start_cli("backup", config, tmp_path)
    wait_for(lambda: committed_segments(tmp_path / "store", "outage", topic) >= 3, 120, "3 segments")
    return topic, log_path, proc


class TestBackupRidesOutBrokerFaults:
    def test_broker_killed_and_restarted(self, broker: KafkaCluster, tmp_path: Path) -> None:
        """kill -9 the broker mid-backup, restart it on the same data dir and port: the run completes exactly."""
        topic, log_path, proc = _backup_mid_run(broker, tmp_path)
        frozen(proc)(broker.kill)
        assert committed_segments(tmp_path / "store", "outage", topic) < RECORDS // 1000, "finished before the fault"
        wait_for(lambda: events(log_path, "kafka_outage_started"), 120, "the backup to notice the broker is gone")
        broker.restart()
        summary = finish(broker, proc, log_path)
        assert summary["records"] == RECORDS
        assert_exact(broker.endpoint(), tmp_path / "store", "outage", topic)
        assert_ridden_out(log_path, tmp_path / "backup.prom")

    def test_broker_stalled(self, broker: KafkaCluster, tmp_path: Path) -> None:
        """SIGSTOP the broker for ~20 s mid-backup, then SIGCONT: the run completes exactly."""
        topic, log_path, proc = _backup_mid_run(broker, tmp_path, **STALL_CLIENT_CONFIG)
        frozen(proc)(broker.pause)
        try:
            assert committed_segments(tmp_path / "store", "outage", topic) < RECORDS // 1000, "finished before"
            time.sleep(STALL_S)  # the fault itself lasts this long; nothing is waited for
        finally:
            broker.resume()
        summary = finish(broker, proc, log_path)
        assert summary["records"] == RECORDS
        assert_exact(broker.endpoint(), tmp_path / "store", "outage", topic)
        assert_ridden_out(log_path, tmp_path / "backup.prom")


# ---- restore --------------------------------------------------------------------------------------------------

RESTORE_RECORDS = 3000


def _restore_mid_run(broker: KafkaCluster, tmp_path: Path, **client: Any) -> tuple[str, str, Path, Any]:
    bootstrap = broker.endpoint().bootstrap
    topic = f"outage-{uuid.uuid4().hex[:6]}"
    create_topic(bootstrap, topic, 3)
    produce_records(
        bootstrap,
        topic,
        ((i % 3, (f"k{i % 97}".encode(), f"value-{i}".encode(), RECENT_TS + i, [("i", str(i).encode())]))
         for i in range(RESTORE_RECORDS)),
    )  # fmt: skip
    make_backup(bootstrap, tmp_path / "store", "outage", [topic], max_records=100)
    target = f"{topic}-restored"
    body = {
        "backup_id": "outage",
        "storage": {"url": f"file://{tmp_path / 'store'}"},
        "target": {"bootstrap_servers": bootstrap, "connect_timeout_s": 10, "client_config": client},
        "topic_map": {topic: target},
        "flush_records": 150,
        "rate_limit": {"records_per_sec": 600},  # several seconds: the fault lands mid-restore
    }
    config = tmp_path / "restore.yaml"
    config.write_text(yaml.safe_dump(body))
    proc, log_path, _metrics = start_cli("restore", config, tmp_path, "--no-progress")
    wait_for(lambda: b"restore_started" in log_path.read_bytes(), 120, "the restore to start producing")
    return topic, target, log_path, proc


def _assert_restored(broker: KafkaCluster, topic: str, target: str, summary: dict[str, Any]) -> None:
    bootstrap = broker.endpoint().bootstrap
    assert summary["status"] == "success"
    assert summary["records"] + summary["resumed_records"] == RESTORE_RECORDS
    restored = read_topic(bootstrap, target)
    assert len(restored) == RESTORE_RECORDS, "records lost or duplicated"
    assert content(restored) == content(read_topic(bootstrap, topic))


class TestRestoreRidesOutBrokerFaults:
    def test_broker_killed_and_restarted(self, broker: KafkaCluster, tmp_path: Path) -> None:
        """kill -9 the broker mid-restore, restart it on the same data dir and port: the target equals the source."""
        topic, target, log_path, proc = _restore_mid_run(broker, tmp_path)
        frozen(proc)(broker.kill)
        wait_for(lambda: events(log_path, "kafka_outage_started"), 120, "the restore to notice the broker is gone")
        broker.restart()
        summary = finish(broker, proc, log_path)
        _assert_restored(broker, topic, target, summary)
        assert_ridden_out(log_path, tmp_path / "restore.prom")

    def test_broker_stalled(self, broker: KafkaCluster, tmp_path: Path) -> None:
        """SIGSTOP the broker for ~20 s mid-restore, then SIGCONT: the target equals the source."""
        topic, target, log_path, proc = _restore_mid_run(broker, tmp_path, **STALL_CLIENT_CONFIG)
        frozen(proc)(broker.pause)
        try:
            time.sleep(STALL_S)  # the fault itself lasts this long; nothing is waited for
        finally:
            broker.resume()
        summary = finish(broker, proc, log_path)
        _assert_restored(broker, topic, target, summary)
        assert_ridden_out(log_path, tmp_path / "restore.prom")


# ---- a producer without delivery reports is replaced ---------------------------------------------------------

NO_PROGRESS_S = 3.0
"""The sink's no-progress bound in these tests (30 s in a run): a stall of twice that outlasts it."""


class TestStuckProducerIsReplaced:
    """No delivery report for ``no_progress_s`` while records wait: the producer is replaced within the run.

    The real trigger is a librdkafka bug (confluentinc/librdkafka#5430: after a broker stall the KRaft controller
    fences the broker, a produce response names leader -1, and that producer never finds the partition's leader
    again; seen in ``TestRestoreRidesOutBrokerFaults::test_broker_stalled``). Here the broker is stalled for longer
    than the bound instead, which silences delivery reports just the same."""

    def test_flush_raises_producer_stuck_and_abandon_returns_at_once(self, broker: KafkaCluster) -> None:
        bootstrap = broker.endpoint().bootstrap
        topic = f"stuck-{uuid.uuid4().hex[:6]}"
        create_topic(bootstrap, topic, 1)
        sink = Sink(KafkaConfig(bootstrap_servers=bootstrap), client_id="test-stuck", no_progress_s=NO_PROGRESS_S)
        rows = pa.array([0] * 5, pa.int32())
        sink.produce_batch(topic, _batch([(b"k", b"warm-up", None)] * 5), rows)
        assert len(sink.flush()) == 1  # connected, the leader known
        broker.pause()
        try:
            sink.produce_batch(topic, _batch([(b"k", b"v", None)] * 5), rows)
            started = time.monotonic()
            with pytest.raises(ProducerStuck) as info:
                sink.flush()
            waited = time.monotonic() - started
            started = time.monotonic()
            sink.abandon()
            sink.close()  # nothing to do after abandon
            abandoned_in = time.monotonic() - started
        finally:
            broker.resume()
        assert info.value.outstanding == 5
        assert NO_PROGRESS_S <= waited < NO_PROGRESS_S + 5, waited
        assert abandoned_in < 5, abandoned_in

    def test_the_restore_replaces_it_and_restores_exactly(self, broker: KafkaCluster, tmp_path: Path) -> None:
        """The broker stalls mid-window (part of the window written, the rest waiting) for twice the bound: the
        producer is replaced, the window produced again without what the target holds; target == source."""
        bootstrap = broker.endpoint().bootstrap
        source = f"stuck-{uuid.uuid4().hex[:6]}"
        create_topic(bootstrap, source, 1)
        produce_records(bootstrap, source, ((0, (f"k{i}".encode(), f"v{i}".encode(), RECENT_TS + i, None))
                                            for i in range(600)))  # fmt: skip
        make_backup(bootstrap, tmp_path, "stuck", [source], max_records=25)
        target = f"{source}-restored"
        stalled = threading.Event()

        def stall() -> None:
            time.sleep(0.3)  # mid-window: the rate limit spreads a window of 100 records over 0.5 s
            broker.pause()
            time.sleep(2 * NO_PROGRESS_S)
            broker.resume()

        fault = threading.Thread(target=stall)

        def on_progress(p: Progress) -> None:
            if p.done >= 200 and not stalled.is_set():
                stalled.set()
                fault.start()

        config = restore_config(bootstrap, tmp_path, "stuck", topic_map={source: target}, flush_records=100,
                                rate_limit={"records_per_sec": 200})  # fmt: skip
        try:
            with MetricsCapture() as capture:
                run = RestoreRun(config, metrics=capture.metrics, on_progress=on_progress, no_progress_s=NO_PROGRESS_S)
                summary = run.run()
                replaced = capture.value("kafka_backup_retries_total", backup_id="stuck", operation="produce",
                                         reason="producer_stuck")  # fmt: skip
        finally:
            fault.join(timeout=60)
            broker.resume()
        assert summary.status == "success"
        assert replaced is not None and replaced >= 1
        assert summary.records + summary.resumed_records == 600
        assert summary.segments_read == 24
        restored = read_topic(bootstrap, target)
        assert len(restored) == 600, "records lost or duplicated"
        assert content(restored) == content(read_topic(bootstrap, source))
