"""``kafka-backup backup``'s progress on a terminal: a bar that reaches 100%, absent when nobody watches."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import yaml
from confluent_kafka import Producer

from engine.backup_helpers import backup_config
from rig.kafka import KafkaEndpoint
from rig.tricky import create_topic

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RECORDS = 6_000
PARTITIONS = 3


def fill(kafka: KafkaEndpoint, topic: str) -> None:
    create_topic(kafka.bootstrap, topic, PARTITIONS)
    producer = Producer(kafka.client_config({"linger.ms": 20}))
    for i in range(RECORDS):
        producer.produce(topic, key=str(i).encode(), value=b"v" * 100)
    assert producer.flush(30) == 0


def run_backup(config: Path, *flags: str, tty: bool) -> tuple[int, str]:
    """Run the backup with stderr on a pseudo-terminal (``tty``) or a pipe; its exit code and what stderr got."""
    command = [sys.executable, "-m", "kafka_backup.cli", "backup", "--config", str(config), *flags]
    env = {**os.environ, "COLUMNS": "200"}
    if not tty:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)
        return done.returncode, done.stderr
    master, slave = os.openpty()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:  # the terminal's buffer is small: read while the backup writes
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    code = process.wait(timeout=120)
    reader.join(timeout=30)
    os.close(master)
    return code, b"".join(chunks).decode(errors="replace")


def bar_lines(stderr: str) -> list[str]:
    """The progress lines as the terminal shows them in the end: per line, what its last redraw (after a carriage
    return) left, without terminal escapes."""
    plain = ANSI_ESCAPE.sub("", stderr)
    visible = [line.split("\r")[-1].strip() or line.strip() for line in plain.split("\n")]
    return [line for line in visible if line.startswith("backup  [")]


class TestBackupProgress:
    def test_bar_on_a_terminal_reaches_the_total(self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
        """On a terminal the snapshot backup draws a bar over its known total and ends at 100% of it."""
        fill(kafka, topic_name)
        config = tmp_path / "backup.yaml"
        config.write_text(yaml.safe_dump(backup_config(kafka.bootstrap, "bar", tmp_path / "s", [topic_name])))
        code, stderr = run_backup(config, tty=True)
        assert code == 0, stderr[-3000:]
        lines = bar_lines(stderr)
        assert lines, stderr[-3000:]
        assert len(lines) == 1, lines  # one line, redrawn in place; not drawn again by later reports
        last = lines[0]
        assert "100%" in last
        assert f"{RECORDS:,}/{RECORDS:,} records" in last
        assert f"{PARTITIONS}/{PARTITIONS} partitions" in last

    def test_no_bar_with_no_progress_or_without_a_terminal(
        self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path
    ) -> None:
        """--no-progress on a terminal, or stderr that is not a terminal: no bar, the same summary."""
        fill(kafka, topic_name)
        for backup_id, flags, tty in (("quiet", ("--no-progress",), True), ("piped", (), False)):
            config = tmp_path / f"{backup_id}.yaml"
            cfg = backup_config(kafka.bootstrap, backup_id, tmp_path / "s", [topic_name])
            config.write_text(yaml.safe_dump(cfg))
            code, stderr = run_backup(config, *flags, tty=tty)
            assert code == 0, stderr[-3000:]
            assert "partitions_assigned" in stderr  # the log is there, so stderr was read
            assert bar_lines(stderr) == []
            assert "%" not in stderr
