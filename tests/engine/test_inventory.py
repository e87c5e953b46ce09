"""The catalog: list, describe, and prune that keeps what is referenced and deletes manifests before data."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, TopicPartition

from engine.restore_support import RECENT_TS, create_topic, make_backup, open_root, produce_records
from kafka_backup.cli.main import cli
from kafka_backup.engine.catalog.inventory import describe_backup, execute_prune, list_backups, plan_prune
from kafka_backup.engine.catalog.validate import validate_backup
from kafka_backup.engine.testing import RecordingStore
from rig.kafka import KafkaEndpoint

IDS = ["inv-a", "inv-b", "inv-c"]


@pytest.fixture(scope="module")
def catalog(kafka: KafkaEndpoint, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """Three backups of the same topic, oldest first, with one consumer group captured."""
    topic = f"inv-{uuid.uuid4().hex[:6]}"
    group = f"inv-group-{uuid.uuid4().hex[:4]}"
    create_topic(kafka.bootstrap, topic, 2)
    produce_records(
        kafka.bootstrap,
        topic,
        ((i % 2, (f"k{i}".encode(), b"x" * 100, RECENT_TS + i, None)) for i in range(80)),
    )
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group})
    consumer.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
    consumer.close()
    root = tmp_path_factory.mktemp("catalog")
    for backup_id in IDS:
        make_backup(kafka.bootstrap, root, backup_id, [topic], max_records=15)
        time.sleep(0.01)
    return root, topic, group


@pytest.fixture
def copy(catalog: tuple[Path, str, str], tmp_path: Path) -> Path:
    shutil.copytree(catalog[0], tmp_path / "c")
    return tmp_path / "c"


def _manifest(root: Path, backup_id: str, partition: int) -> Path:
    return next(root.glob(f"{backup_id}/topics/*/{partition}/manifest.json"))


class TestListAndDescribe:
    def test_list_oldest_first(self, catalog: tuple[Path, str, str]) -> None:
        """list shows every backup with its status, oldest first (CLI JSON)."""
        result = CliRunner().invoke(cli, ["list", "--storage-url", f"file://{catalog[0]}", "--json"])
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout.strip().splitlines()[-1])
        assert [r["backup_id"] for r in rows] == IDS
        assert {r["status"] for r in rows} == {"complete"}

    def test_describe(self, catalog: tuple[Path, str, str]) -> None:
        """describe gives records, offsets, time range, sizes, compression ratio and captured groups."""
        root, topic, group = catalog
        d = describe_backup(open_root(root), "inv-b")
        assert d["status"] == "complete" and d["records"] == 80
        t = d["topics"][topic]
        assert [(p["start_offset"], p["next_offset"], p["records"]) for p in t["partition_details"]] == [
            (0, 40, 40),
            (0, 40, 40),
        ]
        assert (d["min_timestamp"], d["max_timestamp"]) == (RECENT_TS, RECENT_TS + 79)
        assert d["compression_ratio"] > 0 and d["size_bytes"] > 0
        assert d["consumer_groups"][group] == {topic: {"0": 7}}
        text = CliRunner().invoke(cli, ["describe", "-s", f"file://{root}", "-b", "inv-b"])
        assert text.exit_code == 0 and group in text.output and "80 records" in text.output


class TestPrune:
    def test_dry_run_by_default(self, copy: Path) -> None:
        """Without --yes prune lists what it would delete and deletes nothing."""
        before = sorted(p for p in copy.rglob("*") if p.is_file())
        result = CliRunner().invoke(cli, ["prune", "-s", f"file://{copy}", "--keep-last", "1"])
        assert result.exit_code == 0, result.output
        assert "would delete backup inv-a" in result.output and "would delete backup inv-b" in result.output
        assert sorted(p for p in copy.rglob("*") if p.is_file()) == before

    def test_keep_last_deletes_older_and_keeps_referenced(self, copy: Path) -> None:
        """Keep 1: a and b go, except a segment of a that the kept backup c references; c stays valid."""
        a0 = json.loads(_manifest(copy, "inv-a", 0).read_text())
        c0 = json.loads(_manifest(copy, "inv-c", 0).read_text())
        first, own = a0["segments"][0], c0["segments"][0]
        assert (first["start_offset"], first["end_offset"]) == (own["start_offset"], own["end_offset"])
        c0["segments"][0] = first  # c now points at a's object for its first range (as a deduplicating writer would)
        _manifest(copy, "inv-c", 0).write_text(json.dumps(c0))

        store = RecordingStore(open_root(copy))
        plan = plan_prune(store, keep_last=1)
        assert plan.delete == ["inv-a", "inv-b"] and plan.protected == [first["key"]]
        execute_prune(store, plan)
        # the protected object keeps inv-a visible as a remnant; --remnants would still leave that object alone
        assert [(b.backup_id, b.status) for b in list_backups(open_root(copy))] == [
            ("inv-c", "complete"),
            ("inv-a", "no-manifest"),
        ]
        assert (copy / first["key"]).exists()
        assert plan_prune(open_root(copy), remnants=True).objects == {"inv-a": []}
        assert validate_backup(open_root(copy), "inv-c", deep=True).valid

    def test_manifests_are_deleted_before_data(self, copy: Path) -> None:
        """Within each pruned backup, backup.json goes first and every manifest before any segment."""
        store = RecordingStore(open_root(copy))
        execute_prune(store, plan_prune(store, keep_last=2))
        deleted = [k for k in store.deleted if k.startswith("inv-a/")]
        assert deleted[0] == "inv-a/backup.json"
        last_manifest = max(i for i, k in enumerate(deleted) if k.endswith(".json"))
        first_segment = min(i for i, k in enumerate(deleted) if k.endswith(".parquet"))
        assert last_manifest < first_segment
        assert not (copy / "inv-a").exists() or not any((copy / "inv-a").rglob("*.*"))

    def test_older_than_and_running_backups(self, copy: Path) -> None:
        """--older-than deletes the backups created before that age and spares young ones; a running backup is never
        pruned, however old."""
        two_hours_ago = int(time.time() * 1000) - 2 * 3600 * 1000
        for backup_id, status in (("inv-a", "running"), ("inv-b", "complete")):
            body = json.loads((copy / backup_id / "backup.json").read_text())
            aged = {**body, "status": status, "created_at": two_hours_ago}
            (copy / backup_id / "backup.json").write_text(json.dumps(aged))
        plan = plan_prune(open_root(copy), older_than_s=3600)
        assert plan.delete == ["inv-b"]
        assert plan.keep == {"inv-a": "running", "inv-c": "younger than --older-than"}
        result = CliRunner().invoke(cli, ["prune", "-s", f"file://{copy}", "--older-than", "1h", "--yes"])
        assert result.exit_code == 0, result.output
        assert "deleted backup inv-b" in result.output
        assert [b.backup_id for b in list_backups(open_root(copy))] == ["inv-a", "inv-c"]
        assert not any(p.is_file() for p in (copy / "inv-b").rglob("*"))
        assert validate_backup(open_root(copy), "inv-c").valid
        plan = plan_prune(open_root(copy), keep_last=0)
        assert plan.delete == ["inv-c"] and plan.keep == {"inv-a": "running"}

    def test_orphans(self, copy: Path) -> None:
        """--orphans removes segment objects no manifest references, and nothing else."""
        segment = next(copy.glob("inv-c/topics/*/1/segments/*.parquet"))
        stray = segment.with_name("77777777777777777777-77777777777777777778.parquet")
        shutil.copy(segment, stray)
        result = CliRunner().invoke(cli, ["prune", "-s", f"file://{copy}", "--orphans", "--yes"])
        assert result.exit_code == 0, result.output
        assert not stray.exists() and segment.exists()
        report = validate_backup(open_root(copy), "inv-c")
        assert report.valid and not report.warnings
        assert [b.backup_id for b in list_backups(open_root(copy))] == IDS
