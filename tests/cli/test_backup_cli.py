"""``kafka-backup backup`` as a user runs it: exit codes, one-line errors, summary forms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Producer

from engine.backup_helpers import backup_config
from kafka_backup.engine.config.backup import BackupConfig, MetricsConfig
from rig.kafka import KafkaEndpoint, free_port, taken_port
from rig.tricky import create_topic


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kafka_backup.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def write_config(tmp_path: Path, data: Mapping[str, Any]) -> Path:
    path = tmp_path / "backup.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error[")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


class TestBackupCli:
    def test_summary_block_and_json(self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
        """The human summary has the reference's form; --json agrees with what is on storage."""
        create_topic(kafka.bootstrap, topic_name, 2)
        producer = Producer(kafka.client_config())
        for i in range(2500):
            producer.produce(topic_name, key=str(i).encode(), value=b"v" * 200)
        producer.flush(30)
        config = write_config(tmp_path, backup_config(kafka.bootstrap, "cli1", tmp_path / "s", [topic_name]))
        human = run_cli("backup", "--config", str(config))
        assert human.returncode == 0, human.stderr
        lines = human.stdout.strip().splitlines()
        assert lines[0] == "Backup completed successfully"
        assert lines[1] == "─" * 32
        assert lines[2] == "Records: 2,500"
        assert lines[3].startswith("Duration: ")
        assert lines[4].endswith(" records/sec") and lines[4].startswith("Throughput: ")
        assert lines[5].startswith("Compressed: ") and lines[5].endswith("x ratio)")
        # a second run of the same snapshot backup finds nothing new
        again = run_cli("backup", "--config", str(config), "--json")
        assert again.returncode == 0, again.stderr
        summary = json.loads(again.stdout)
        assert summary["records"] == 0
        assert summary["status"] == "success"

    def test_json_summary_matches_storage(self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
        """--json reports records and compressed bytes equal to the manifests' and files' ground truth."""
        create_topic(kafka.bootstrap, topic_name, 3)
        producer = Producer(kafka.client_config())
        for i in range(3000):
            producer.produce(topic_name, key=str(i % 50).encode(), value=json.dumps({"i": i}).encode())
        producer.flush(30)
        config = write_config(tmp_path, backup_config(kafka.bootstrap, "cli2", tmp_path / "s", [topic_name]))
        result = run_cli("backup", "--config", str(config), "--json")
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        files = list((tmp_path / "s" / "cli2").rglob("*.parquet"))
        assert summary["records"] == 3000
        assert summary["compressed_bytes"] == sum(f.stat().st_size for f in files)
        assert summary["segments"] == len(files)
        assert abs(summary["compression_ratio"] - summary["uncompressed_bytes"] / summary["compressed_bytes"]) < 0.001


class TestBackupCliErrors:
    def test_unreachable_broker_fails_fast(self, tmp_path: Path) -> None:
        """No broker at the address: KAFKA_CONNECTION_FAILED within the connect timeout, exit 1, no traceback."""
        data = backup_config(f"127.0.0.1:{free_port()}", "x", tmp_path / "s", ["*"])
        data["source"]["connect_timeout_s"] = 3
        started = time.monotonic()
        result = run_cli("backup", "--config", str(write_config(tmp_path, data)))
        elapsed = time.monotonic() - started
        assert result.returncode == 1
        assert one_error_line(result.stderr).startswith(
            "error[KAFKA_CONNECTION_FAILED]: cannot reach Kafka at 127.0.0.1:"
        )
        assert elapsed < 30, f"took {elapsed:.0f}s: a hang, not a bounded failure"

    def test_no_topic_matches_is_usage_error(self, kafka: KafkaEndpoint, tmp_path: Path) -> None:
        """Patterns that match nothing: NO_TOPICS_MATCHED, exit 2."""
        data = backup_config(kafka.bootstrap, "x", tmp_path / "s", ["no-such-topic-*"])
        result = run_cli("backup", "--config", str(write_config(tmp_path, data)))
        assert result.returncode == 2
        assert one_error_line(result.stderr).startswith("error[NO_TOPICS_MATCHED]: no topic matches")

    def test_some_patterns_unmatched_is_warning(self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
        """One pattern matching nothing beside one that matches: a warning naming it, and success."""
        create_topic(kafka.bootstrap, topic_name, 1)
        data = backup_config(kafka.bootstrap, "x", tmp_path / "s", [topic_name, "ghost-*"])
        result = run_cli("backup", "--config", str(write_config(tmp_path, data)), "--log-format", "json")
        assert result.returncode == 0, result.stderr
        warnings = [json.loads(line) for line in result.stderr.splitlines() if "topic_pattern_matched_nothing" in line]
        assert warnings and warnings[0]["pattern"] == "ghost-*"

    def test_config_error_exit_2(self, tmp_path: Path) -> None:
        """A typo in the config: CONFIG_INVALID with a suggestion, exit 2."""
        data = {"backup_id": "x", "source": {"bootstrap_servers": "k:1"}, "topics": {"inclde": ["a"]}}
        result = run_cli("backup", "--config", str(write_config(tmp_path, data)))
        assert result.returncode == 2
        assert "did you mean 'include'" in one_error_line(result.stderr)

    def test_storage_not_writable(self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
        """A read-only storage folder: a storage error naming the object, exit 1, nothing half-written."""
        create_topic(kafka.bootstrap, topic_name, 1)
        store = tmp_path / "ro"
        store.mkdir()
        store.chmod(0o500)
        data = backup_config(kafka.bootstrap, "x", store, [topic_name])
        try:
            result = run_cli("backup", "--config", str(write_config(tmp_path, data)))
        finally:
            store.chmod(0o700)
        if os.geteuid() == 0 and result.returncode == 0:
            # root ignores directory permissions; use a path under a regular file instead
            data = backup_config(kafka.bootstrap, "x", tmp_path / "backup.yaml" / "sub", [topic_name])
            result = run_cli("backup", "--config", str(write_config(tmp_path, data)))
        assert result.returncode == 1
        line = one_error_line(result.stderr)
        assert line.startswith("error[STORAGE_"), line
        assert "x/backup.json" in line

    def test_session_timeout_the_broker_refuses(self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
        """A session timeout below the broker's minimum (6 s): exit 2 at once naming the key, not a retry loop."""
        create_topic(kafka.bootstrap, topic_name, 1)
        data = backup_config(kafka.bootstrap, "short-session", tmp_path / "s", [topic_name], session_timeout_ms=3000)
        result = run_cli("backup", "--config", str(write_config(tmp_path, data)))
        assert result.returncode == 2, result.stderr[-2000:]
        line = one_error_line(result.stderr)
        assert line.startswith("error[CONFIG_INVALID]: the broker refused session_timeout_ms=3000"), line

    def test_missing_config_flag_is_usage_error(self) -> None:
        """No --config: click's usage error, exit 2."""
        result = run_cli("backup")
        assert result.returncode == 2
        assert "Missing option '--config'" in result.stderr

    def test_taken_metrics_port_names_real_flags(self, tmp_path: Path) -> None:
        """A taken metrics port: exit 2 before connecting, naming the flag (or config key) that picks another port."""
        data = backup_config(f"127.0.0.1:{free_port()}", "x", tmp_path / "s", ["*"])
        with taken_port() as port:
            flag = run_cli("backup", "--config", str(write_config(tmp_path, data)), "--expose-metrics", str(port))
            service = run_cli("service", "--config", str(write_config(tmp_path, {**data, "metrics": {"port": port}})))
        assert (flag.returncode, service.returncode) == (2, 2)
        flag_line, service_line = one_error_line(flag.stderr), one_error_line(service.stderr)
        assert flag_line.startswith(f"error[METRICS_SERVER_BIND_FAILED]: cannot serve metrics on 127.0.0.1:{port}")
        assert "--expose-metrics [HOST:]PORT" in flag_line
        assert "metrics.port" in service_line
        assert "--expose-metrics [HOST:]PORT" in service_line
        # both exist: the flag on the command, the key in the config model
        assert "--expose-metrics [HOST:]PORT" in run_cli("backup", "--help").stdout
        assert "port" in MetricsConfig.model_fields
        assert BackupConfig.model_fields["metrics"].annotation is MetricsConfig

    def test_bad_expose_metrics_value(self, tmp_path: Path) -> None:
        """--expose-metrics with a non-port: usage error, exit 2."""
        result = run_cli("backup", "--config", str(tmp_path / "x.yaml"), "--expose-metrics", "localhost:http")
        assert result.returncode == 2
        assert "is not [HOST:]PORT" in result.stderr
