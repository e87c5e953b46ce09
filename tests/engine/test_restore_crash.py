"""kill -9 during a restore (a real CLI process), then rerun: the target ends up exactly equal to the selection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from engine.restore_support import RECENT_TS, content, create_topic, make_backup, produce_records, read_topic
from engine.test_backup_crash import run_json
from rig.kafka import KafkaEndpoint

RECORDS = 3000


def _restored(bootstrap: str, topic: str, partitions: int) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic not in admin.list_topics(timeout=10).topics:
        return 0
    request = {TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)}  # type: ignore[no-untyped-call]
    try:
        return sum(f.result(timeout=10).offset for f in admin.list_offsets(request).values())
    except Exception:
        return 0


def _run_cli(config: Path, *extra: str, timeout: float = 180) -> dict[str, Any]:
    return run_json("restore", config, *extra, timeout=timeout)


class TestKillDuringRestore:
    def test_kill_9_then_rerun_restores_exactly_the_selection(self, kafka: KafkaEndpoint, tmp_path: Path) -> None:
        """A restore killed with SIGKILL mid-way and run again: no record lost, none duplicated, order kept."""
        topic = f"crash-{uuid.uuid4().hex[:6]}"
        create_topic(kafka.bootstrap, topic, 3)
        produce_records(
            kafka.bootstrap,
            topic,
            ((i % 3, (f"k{i % 97}".encode(), f"value-{i}".encode(), RECENT_TS + i, [("i", str(i).encode())]))
             for i in range(RECORDS)),
        )  # fmt: skip
        make_backup(kafka.bootstrap, tmp_path / "store", "crash", [topic], max_records=100)
        target = f"{topic}-restored"
        body = {
            "backup_id": "crash",
            "storage": {"url": f"file://{tmp_path / 'store'}"},
            "target": {"bootstrap_servers": kafka.bootstrap},
            "topic_map": {topic: target},
            "flush_records": 150,
            "rate_limit": {"records_per_sec": 600},
        }
        slow = tmp_path / "slow.yaml"
        slow.write_text(yaml.safe_dump(body))
        with (tmp_path / "first.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kafka_backup.cli", "restore", "--config", str(slow), "--no-progress"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 60
            while _restored(kafka.bootstrap, target, 3) < 700 and time.monotonic() < deadline:
                assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                time.sleep(0.1)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        killed_at = _restored(kafka.bootstrap, target, 3)
        assert 0 < killed_at < RECORDS, "the first run finished before the kill; the test proved nothing"

        fast = tmp_path / "fast.yaml"
        fast.write_text(yaml.safe_dump({**body, "rate_limit": {}}))  # rate limits are not part of the restore id
        summary = _run_cli(fast)
        assert summary["status"] == "success"
        assert summary["resumed_records"] > 0
        assert summary["records"] + summary["resumed_records"] <= RECORDS
        assert content(read_topic(kafka.bootstrap, target)) == content(read_topic(kafka.bootstrap, topic))

        again = _run_cli(fast)
        assert again["records"] == 0, "a completed restore run again must not write anything"
        assert len(read_topic(kafka.bootstrap, target)) == RECORDS
