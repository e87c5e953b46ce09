"""Run the real ``kafka-backup backup`` CLI against the broker; read the backup's record count from its manifests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from engine.backup_helpers import backup_config
from kafka_backup.engine.testing import DataSet, create_topic, produce
from rig.kafka import KafkaEndpoint


@dataclass(frozen=True)
class BackupResult:
    backup_id: str
    root: Path
    started: float
    exited: float
    """Wall-clock time right after the CLI process exited."""
    stdout: str
    stderr: str


def produce_topic(kafka: KafkaEndpoint, topic: str, records: int, partitions: int = 3) -> None:
    create_topic(kafka.bootstrap, topic, partitions, exist_ok=True)
    produce(kafka.bootstrap, DataSet(topic, partitions, records, value_size=300))


def run_backup(
    kafka: KafkaEndpoint,
    workdir: Path,
    topic: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 120.0,
    config: Mapping[str, object] | None = None,
) -> BackupResult:
    """Back up ``topic`` with the CLI in a child process (its own telemetry, as a user runs it); ``config``: more
    keys of the job (merged into its sections)."""
    backup_id = f"obs-{uuid.uuid4().hex[:8]}"
    root = workdir / "storage"
    config_path = workdir / f"{backup_id}.yaml"
    job = backup_config(kafka.bootstrap, backup_id, root, [topic], **(config or {}))
    config_path.write_text(yaml.safe_dump(job))
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    child_env.update(env or {})
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "kafka_backup.cli", "backup", "--config", str(config_path), *args],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    exited = time.time()
    assert proc.returncode == 0, f"backup failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return BackupResult(backup_id, root, started, exited, proc.stdout, proc.stderr)


def manifest_records(root: Path, backup_id: str) -> int:
    """Records in the backup, from its partition manifests (the commit points) alone."""
    manifests = sorted((root / backup_id / "topics").glob("*/*/manifest.json"))
    assert manifests, f"no partition manifest under {root / backup_id}"
    return sum(segment["records"] for path in manifests for segment in json.loads(path.read_text())["segments"])
