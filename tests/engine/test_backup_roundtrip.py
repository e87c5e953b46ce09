"""Backups of the tricky data set, read back with plain pyarrow, equal what the broker serves, byte for byte."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer

from engine.backup_helpers import all_segment_files, backup_config, backup_rows, segment_rows
from kafka_backup.engine.backup.run import BackupRun
from kafka_backup.engine.config.backup import BackupConfig
from rig.kafka import KafkaEndpoint
from rig.tricky import create_topic, produce_tricky, read_topic


@pytest.fixture(scope="module")
def tricky(kafka: KafkaEndpoint) -> list[str]:
    return produce_tricky(kafka.bootstrap, f"tricky-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def tricky_backup(kafka: KafkaEndpoint, tricky: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tricky-backup")
    prefix = tricky[0].rsplit(".", 1)[0]
    config = BackupConfig.model_validate(backup_config(kafka.bootstrap, "tricky", root, [f"{prefix}.*"]))
    summary = BackupRun(config).run()
    assert summary.status == "success"
    return root


class TestTrickyRoundTrip:
    @pytest.mark.parametrize("kind", ["shapes", "compacted", "txn", "wide", "logappend"])
    def test_backup_equals_broker(
        self, kafka: KafkaEndpoint, tricky: list[str], tricky_backup: Path, kind: str
    ) -> None:
        """Every record (offset, timestamp and type, key, value, headers) equals what the broker serves."""
        topic = next(t for t in tricky if t.endswith(f".{kind}"))
        expected = read_topic(kafka.bootstrap, topic)
        assert expected, f"no source records in {topic}"
        actual = [row for path in all_segment_files(tricky_backup, "tricky", topic) for row in segment_rows(path)]
        actual.sort(key=lambda r: (r[1], r[2]))
        assert actual == expected

    def test_shapes_really_are_tricky(self, kafka: KafkaEndpoint, tricky: list[str]) -> None:
        """The data set holds what it claims: null and empty keys/values, null header values, duplicate headers."""
        rows = read_topic(kafka.bootstrap, next(t for t in tricky if t.endswith(".shapes")))
        assert any(r[5] is None for r in rows)
        assert any(r[5] == b"" for r in rows)
        assert any(r[6] is None for r in rows)
        assert any(r[6] == b"" for r in rows)
        assert any(r[7] and ("h", None) in r[7] and [k for k, _ in r[7]].count("h") == 3 for r in rows)
        assert max(len(r[6] or b"") for r in rows) > 900 * 1024

    def test_offset_gaps_are_recorded_not_lost(
        self, kafka: KafkaEndpoint, tricky: list[str], tricky_backup: Path
    ) -> None:
        """Compaction and transaction markers leave offset gaps; the manifest covers them contiguously."""
        for kind in ("compacted", "txn"):
            topic = next(t for t in tricky if t.endswith(f".{kind}"))
            for manifest in (tricky_backup / "tricky" / "topics" / topic).glob("*/manifest.json"):
                body = json.loads(manifest.read_text())
                ranges = sorted(
                    [(s["start_offset"], s["end_offset"]) for s in body["segments"]]
                    + [(g["start_offset"], g["end_offset"]) for g in body["gaps"]]
                )
                assert ranges[0][0] == body["start_offset"]
                assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
                assert ranges[-1][1] == body["next_offset"]
                records = sum(s["records"] for s in body["segments"])
                assert records < body["next_offset"] - body["start_offset"], "expected offset gaps in this topic"

    def test_logappend_timestamps_are_broker_times(
        self, kafka: KafkaEndpoint, tricky: list[str], tricky_backup: Path
    ) -> None:
        """LogAppendTime records keep the broker's timestamp and type 2, not the producer's."""
        topic = next(t for t in tricky if t.endswith(".logappend"))
        rows = backup_rows(tricky_backup, "tricky", topic)
        assert {r[4] for r in rows} == {2}
        assert all(r[3] > 1_700_000_000_000 for r in rows)

    def test_segment_is_plain_parquet_with_documented_schema(self, tricky: list[str], tricky_backup: Path) -> None:
        """A segment opens with plain pyarrow and has the documented columns and self-describing metadata."""
        path = all_segment_files(tricky_backup, "tricky", tricky[0])[0]
        table = pq.read_table(path)
        assert table.column_names == [
            "topic",
            "partition",
            "offset",
            "timestamp",
            "timestamp_type",
            "key",
            "value",
            "headers",
        ]
        meta = table.schema.metadata
        assert meta[b"kafka_backup.format"] == b"kafka-backup-segment"
        assert pq.ParquetFile(path).metadata.row_group(0).column(2).compression == "ZSTD"

    def test_documented_pyarrow_query_reads_the_backup(self, tricky_backup: Path) -> None:
        """The one-line pyarrow dataset query in docs/format.md reads every committed record of the backup."""
        table = ds.dataset(tricky_backup / "tricky" / "topics", format="parquet", exclude_invalid_files=True).to_table()
        manifests = (tricky_backup / "tricky" / "topics").glob("*/*/manifest.json")
        expected = sum(s["records"] for m in manifests for s in json.loads(m.read_text())["segments"])
        assert table.num_rows == expected > 0


class TestSnapshotMode:
    def test_stops_at_captured_end_offsets_while_producer_writes(
        self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path
    ) -> None:
        """With a producer writing throughout, the backup holds exactly the offsets below the snapshot targets."""
        create_topic(kafka.bootstrap, topic_name, 3)
        producer = Producer(kafka.client_config({"linger.ms": 2}))
        for i in range(3000):
            producer.produce(topic_name, key=str(i).encode(), value=b"x" * 100)
        producer.flush(30)
        stop = threading.Event()

        def keep_writing() -> None:
            while not stop.is_set():
                for _ in range(200):
                    producer.produce(topic_name, key=b"late", value=b"y" * 100)
                producer.poll(0.01)
                time.sleep(0.01)

        writer = threading.Thread(target=keep_writing, daemon=True)
        writer.start()
        try:
            config = BackupConfig.model_validate(backup_config(kafka.bootstrap, "snap", tmp_path, [topic_name]))
            summary = BackupRun(config).run()
        finally:
            stop.set()
            writer.join(10)
            producer.flush(30)
        targets = json.loads((tmp_path / "snap" / "snapshot.json").read_text())["targets"][topic_name]
        rows = backup_rows(tmp_path, "snap", topic_name)
        assert summary.records == len(rows) == sum(targets.values())
        for partition, end in targets.items():
            offsets = [r[2] for r in rows if r[1] == int(partition)]
            assert offsets == list(range(end))
        assert len(read_topic(kafka.bootstrap, topic_name)) > len(rows), "the producer kept writing past the snapshot"

    def test_second_run_is_incremental(self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
        """A second snapshot run of the same backup_id adds only the new records, none twice."""
        create_topic(kafka.bootstrap, topic_name, 2)
        producer = Producer(kafka.client_config())
        for i in range(1000):
            producer.produce(topic_name, value=str(i).encode())
        producer.flush(30)
        config = BackupConfig.model_validate(backup_config(kafka.bootstrap, "incr", tmp_path, [topic_name]))
        first = BackupRun(config).run()
        for i in range(1000, 1500):
            producer.produce(topic_name, value=str(i).encode())
        producer.flush(30)
        second = BackupRun(config).run()
        assert (first.records, second.records) == (1000, 500)
        assert backup_rows(tmp_path, "incr", topic_name) == read_topic(kafka.bootstrap, topic_name)
