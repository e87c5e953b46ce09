"""Continuous mode and SIGTERM, records lost to retention, and the backup-level metadata."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from engine.backup_helpers import backup_config, backup_rows
from engine.test_backup_crash import committed_segments, start_worker, wait_for
from kafka_backup.engine.backup.run import BackupRun
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.telemetry.testing import MetricsCapture
from rig.kafka import KafkaEndpoint, free_port
from rig.tricky import create_topic, read_topic


def produce(kafka: KafkaEndpoint, topic: str, start: int, count: int, partition: int = -1) -> None:
    producer = Producer(kafka.client_config())
    for i in range(start, start + count):
        producer.produce(topic, key=str(i).encode(), value=f"value-{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


class TestContinuousMode:
    def test_sigterm_flushes_and_exits_cleanly(self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
        """A continuous backup picks up new records; SIGTERM commits the open segments and exits 0."""
        create_topic(kafka.bootstrap, topic_name, 2)
        for partition in (0, 1):
            produce(kafka, topic_name, 0, 600, partition=partition)
        # no age roll: a segment shorter than max_records can only be written by the shutdown flush
        data = backup_config(
            kafka.bootstrap, "cont", tmp_path / "s", [topic_name],
            mode="continuous", segment={"max_records": 250, "max_age_s": 3600.0},
        )  # fmt: skip
        config = tmp_path / "b.yaml"
        config.write_text(yaml.safe_dump(data))
        port = free_port()
        worker = start_worker(config, tmp_path / "w.log", "--expose-metrics", f"127.0.0.1:{port}")
        try:
            wait_for(lambda: committed_segments(tmp_path / "s", "cont", topic_name) == 4, 60, "size-rolled segments")
            for partition in (0, 1):
                produce(kafka, topic_name, 600, 70, partition=partition)
            # every record fetched (the client's own count) and taken into the open segments (lag 0 against the
            # high watermark those fetches brought): only then does SIGTERM have something to flush
            wait_for(lambda: caught_up(port, 1340), 60, "the worker to hold every record in its open segments")
            assert committed_segments(tmp_path / "s", "cont", topic_name) == 4, "committed before the signal"
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=60) == 0, (tmp_path / "w.log").read_text()[-2000:]
        finally:
            if worker.poll() is None:
                worker.kill()
        assert backup_rows(tmp_path / "s", "cont", topic_name) == read_topic(kafka.bootstrap, topic_name)
        for partition in (0, 1):
            manifest = json.loads((tmp_path / "s" / "cont" / "topics" / topic_name / str(partition) / "manifest.json")
                                  .read_text())  # fmt: skip
            assert manifest["next_offset"] == 670
            assert [s["records"] for s in manifest["segments"]] == [250, 250, 170], "the shutdown flush did not run"


def scrape(port: int) -> dict[str, float]:
    """Sum per metric family of one scrape of a worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            sums[name] = sums.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return sums


def caught_up(port: int, records: int) -> bool:
    try:
        sums = scrape(port)
    except OSError:
        return False
    fetched = sums.get("kafka_backup_client_consumed_records_total", 0.0)
    return fetched >= records and sums.get("kafka_backup_lag_records", -1.0) == 0.0


class TestRetentionGap:
    def test_records_deleted_before_backup_are_a_recorded_gap(
        self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path
    ) -> None:
        """Records deleted by the broker between runs: the run succeeds, records the gap, logs and counts it."""
        create_topic(kafka.bootstrap, topic_name, 1)
        produce(kafka, topic_name, 0, 100)
        config = BackupConfig.model_validate(backup_config(kafka.bootstrap, "ret", tmp_path, [topic_name]))
        assert BackupRun(config).run().records == 100
        produce(kafka, topic_name, 100, 100)
        admin = AdminClient(kafka.client_config())
        futures = admin.delete_records([TopicPartition(topic_name, 0, 150)])
        next(iter(futures.values())).result(timeout=30)
        produce(kafka, topic_name, 200, 50)
        with MetricsCapture() as capture:
            summary = BackupRun(config, metrics=capture.metrics).run()
            errors = capture.value(
                "kafka_backup_errors_total", backup_id="ret", operation="backup", error_type="OFFSET_OUT_OF_RANGE"
            )
        assert (summary.records, summary.gaps) == (100, 1)
        manifest = json.loads((tmp_path / "ret" / "topics" / topic_name / "0" / "manifest.json").read_text())
        assert [(g["start_offset"], g["end_offset"], g["reason"]) for g in manifest["gaps"]] == [
            (100, 150, "retention")
        ]
        assert [r[2] for r in backup_rows(tmp_path, "ret", topic_name)] == [*range(100), *range(150, 250)]
        assert errors == 1


class TestBackupMetadata:
    def test_topic_configs_and_group_offsets_are_captured(
        self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path
    ) -> None:
        """backup.json holds partition count, replication factor, non-default configs and group offsets."""
        create_topic(kafka.bootstrap, topic_name, 3, {"retention.ms": "123456789", "cleanup.policy": "delete"})
        produce(kafka, topic_name, 0, 300)
        group = f"g-{topic_name}"
        consumer = Consumer(kafka.client_config({"group.id": group, "enable.auto.commit": False}))
        consumer.assign([TopicPartition(topic_name, p, 0) for p in range(3)])
        consumed = 0
        while consumed < 120:
            consumed += len(consumer.consume(120 - consumed, timeout=5))
        consumer.commit(asynchronous=False)
        committed = {
            tp.partition: tp.offset for tp in consumer.committed([TopicPartition(topic_name, p) for p in range(3)])
        }
        consumer.close()
        config = BackupConfig.model_validate(backup_config(kafka.bootstrap, "meta", tmp_path, [topic_name]))
        BackupRun(config).run()
        body = json.loads((tmp_path / "meta" / "backup.json").read_text())
        info = body["topics"][topic_name]
        assert (info["partitions"], info["replication_factor"]) == (3, 1)
        assert info["configs"]["retention.ms"] == "123456789"
        expected = {str(p): o for p, o in committed.items() if o >= 0}
        assert body["consumer_groups"][group][topic_name] == expected
        assert not any(g.startswith("kafka-backup.") for g in body["consumer_groups"])
        assert body["status"] == "complete"
