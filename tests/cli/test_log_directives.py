"""Per-logger log levels as docs/telemetry.md documents them: ``warning,kafka_backup.engine.backup=debug``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from cli.test_backup_cli import run_cli, write_config
from engine.backup_helpers import backup_config
from rig.kafka import KafkaEndpoint
from rig.tricky import create_topic


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_a_directive_opens_one_stage(kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
    """The backup stage's debug events show, and nothing of any other logger; without the directive, none do; with
    debug everywhere, other loggers do speak (so the filter, not a quiet run, is what keeps them out)."""
    create_topic(kafka.bootstrap, topic_name, 2)
    producer = Producer(kafka.client_config())
    for i in range(200):
        producer.produce(topic_name, key=str(i).encode(), value=b"v")
    producer.flush(30)

    def run(backup_id: str, level: str) -> list[dict[str, Any]]:
        # librdkafka's group debug lines (logger kafka.backup) are another logger that speaks at debug
        chatty = {"bootstrap_servers": kafka.bootstrap, "client_config": {"debug": "cgrp"}}
        settings = backup_config(kafka.bootstrap, backup_id, tmp_path / backup_id, [topic_name], source=chatty)
        config = write_config(tmp_path, settings)
        done = run_cli("backup", "--config", str(config), "--log-format", "json", "--log-level", level, "--json")
        assert done.returncode == 0, done.stderr
        return _json_lines(done.stderr)

    opened = run("dir1", "warning,kafka_backup.engine.backup=debug")
    assert any(line["level"] == "debug" for line in opened), opened
    assert all(line["logger"].startswith("kafka_backup.engine.backup.") for line in opened), opened
    assert run("dir2", "warning") == []
    everything = run("dir3", "debug")
    assert {line["logger"] for line in everything} - {line["logger"] for line in opened}
