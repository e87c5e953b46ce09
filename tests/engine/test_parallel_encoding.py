"""Segments of different partitions encode on several threads at once; each partition still commits in order."""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from engine.backup_helpers import backup_config, backup_rows
from kafka_backup.engine.backup import commit
from kafka_backup.engine.backup.run import BackupRun
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.format.segment import EncodedSegment
from rig.kafka import KafkaEndpoint
from rig.tricky import create_topic, read_topic


class TestParallelEncoding:
    def test_out_of_order_encodes_commit_in_order(
        self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With four encoders and encodes that finish in random order, every manifest lists contiguous segments
        and the backup holds exactly what the broker serves."""
        create_topic(kafka.bootstrap, topic_name, 4)
        producer = Producer(kafka.client_config({"linger.ms": 5}))
        for i in range(4000):
            producer.produce(topic_name, key=str(i).encode(), value=f"value-{i}".encode() * 10, partition=i % 4)
        assert producer.flush(30) == 0

        real_encode = commit.encode  # type: ignore[attr-defined]  # the encoder threads call it through commit
        lock = threading.Lock()
        running = [0, 0]  # now, most at once
        rng = random.Random(5)  # noqa: S311 - delays, not secrets

        def slow_encode(*args: Any, **kwargs: Any) -> EncodedSegment:
            with lock:
                running[0] += 1
                running[1] = max(running)
                delay = rng.uniform(0, 0.03)
            time.sleep(delay)  # finishes out of hand-off order
            try:
                return real_encode(*args, **kwargs)
            finally:
                with lock:
                    running[0] -= 1

        monkeypatch.setattr(commit, "ENCODER_THREADS", 4)
        monkeypatch.setattr(commit, "encode", slow_encode)
        config = BackupConfig.model_validate(
            backup_config(kafka.bootstrap, "parallel", tmp_path, [topic_name], segment={"max_records": 100})
        )
        summary = BackupRun(config).run()

        assert summary.status == "success"
        assert running[1] > 1, "the encodes never overlapped"
        for manifest in (tmp_path / "parallel" / "topics" / topic_name).glob("*/manifest.json"):
            body = json.loads(manifest.read_text())
            ranges = [(s["start_offset"], s["end_offset"]) for s in body["segments"]]
            assert len(ranges) >= 10
            assert ranges[0][0] == body["start_offset"] == 0
            assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))  # listed in offset order, no hole
            assert ranges[-1][1] == body["next_offset"] == 1000
        rows = backup_rows(tmp_path, "parallel", topic_name)
        assert rows == read_topic(kafka.bootstrap, topic_name)
