"""Restore drills: a sound backup scores 100 and leaves nothing behind; a damaged one fails with a lower score."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka.admin import AdminClient

from engine.backup_helpers import backup_config
from engine.restore_support import RECENT_TS, create_topic, produce_records
from kafka_backup.cli.main import cli
from kafka_backup.engine.backup.run import BackupRun
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.drill.compare import Rec, compare, record_hash
from kafka_backup.engine.drill.config import DrillConfig
from kafka_backup.engine.drill.overlay import CheckpointOverlay
from kafka_backup.engine.drill.report import DrillReport, PartitionCheck, classify, score
from kafka_backup.engine.drill.run import DrillRun
from kafka_backup.engine.errors import ConfigError, StorageNotFoundError
from kafka_backup.engine.store import open_store
from kafka_backup.telemetry.catalog import Metrics
from kafka_backup.telemetry.testing import MetricsCapture
from rig.kafka import KafkaEndpoint

BACKUP = "drilled"
RECORDS = 120
PARTITIONS = 2


@pytest.fixture(scope="module")
def sound(kafka: KafkaEndpoint, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A backup of 2 partitions x 60 records (null keys, tombstones, headers) in segments of 20: (topic, root)."""
    topic = f"drill-src-{uuid.uuid4().hex[:6]}"
    create_topic(kafka.bootstrap, topic, PARTITIONS, {"retention.ms": "86400000"})

    def record(i: int) -> tuple[int, Any]:
        key = None if i % 7 == 0 else f"k{i}".encode()
        value = None if i % 11 == 0 else f"v{i}".encode() * (i % 4)
        headers = None if i % 3 else [("h", f"{i}".encode()), ("h", None), ("e", b"")]
        return i % PARTITIONS, (key, value, RECENT_TS + i, headers)

    produce_records(kafka.bootstrap, topic, (record(i) for i in range(RECORDS)))
    root = tmp_path_factory.mktemp("drill")
    config = backup_config(kafka.bootstrap, BACKUP, root, [topic], segment={"max_records": 20})
    summary = BackupRun(BackupConfig.model_validate(config), metrics=Metrics()).run()
    assert summary.status == "success"
    return topic, root


@pytest.fixture
def damaged(sound: tuple[str, Path], tmp_path: Path) -> Path:
    """A private copy of the backup with one bit flipped in one segment (same size: only the checksum can tell)."""
    _, root = sound
    shutil.copytree(root, tmp_path / "b")
    victim = sorted((tmp_path / "b").glob(f"{BACKUP}/topics/*/1/segments/*.parquet"))[1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x10
    victim.write_bytes(bytes(data))
    return tmp_path / "b"


def _config(bootstrap: str, root: Path, **extra: Any) -> DrillConfig:
    body: dict[str, Any] = {
        "backup_id": BACKUP,
        "storage": {"url": f"file://{root}"},
        "target": {"bootstrap_servers": bootstrap, "connect_timeout_s": 10},
        **extra,
    }
    return DrillConfig.model_validate(body)


def _leftovers(bootstrap: str, report: DrillReport) -> list[str]:
    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    return [t for t in topics if t.startswith(report.scratch_prefix)]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class TestDrill:
    def test_sound_backup_scores_100_with_metrics(self, kafka: KafkaEndpoint, sound: tuple[str, Path]) -> None:
        """Every record matches: score 100, pass, all five drill families recorded, no scratch topic left behind."""
        topic, root = sound
        before = _files(root)
        with MetricsCapture() as cap:
            report = DrillRun(_config(kafka.bootstrap, root, drill="nightly"), metrics=cap.metrics).run()
            assert report.error is None, report.error
            assert (report.score, report.result) == (100.0, "pass"), report.to_dict()
            assert report.total("expected") == report.total("matched") == report.total("restored") == RECORDS
            assert [(p.topic, p.partition, p.ok) for p in report.partitions] == [(topic, 0, True), (topic, 1, True)]
            assert all(p.backup_digest == p.restored_digest for p in report.partitions)
            assert cap.value("kafka_restore_drill_runs_total", drill="nightly", result="pass") == 1
            assert cap.value("kafka_restore_drill_score", drill="nightly") == 100
            rto = cap.value("kafka_restore_drill_rto_seconds", drill="nightly")
            assert rto is not None and 0 < rto == pytest.approx(report.rto_s)
            age = cap.value("kafka_restore_drill_backup_age_seconds", drill="nightly")
            assert age is not None and 0 < age < 3600
            duration = cap.histogram("kafka_restore_drill_duration_seconds", drill="nightly")
            assert duration is not None and duration.count == 1 and duration.sum >= rto
        assert report.scratch_deleted and report.scratch_topics == [report.scratch_prefix + topic]
        assert _leftovers(kafka.bootstrap, report) == []
        assert _files(root) == before, "a drill must not write to the backup storage"

    def test_bit_flipped_segment_fails_with_a_lower_score(self, kafka: KafkaEndpoint, damaged: Path) -> None:
        """The corrupt segment's 20 records are missing and its defect is counted: 100 - 16.67 - 5, result fail."""
        with MetricsCapture() as cap:
            report = DrillRun(_config(kafka.bootstrap, damaged, drill="damaged"), metrics=cap.metrics).run()
            assert report.error is None, report.error
            assert report.result == "fail", report.to_dict()
            assert [f.kind for f in report.defects] == ["checksum_mismatch"]
            assert report.segments_skipped == 1
            assert report.total("missing") == 20 and report.total("matched") == RECORDS - 20
            assert report.score == pytest.approx(100 - 100 * 20 / RECORDS - 5, abs=0.01)
            assert report.score < 100
            broken = next(p for p in report.partitions if p.partition == 1)
            assert (broken.unrestorable_segments, broken.ok) == (1, False)
            assert cap.value("kafka_restore_drill_runs_total", drill="damaged", result="fail") == 1
            assert cap.value("kafka_restore_drill_runs_total", drill="damaged", result="pass") is None
            assert cap.value("kafka_restore_drill_score", drill="damaged") == report.score
        assert report.scratch_deleted and _leftovers(kafka.bootstrap, report) == []

    def test_rto_over_target_is_partial(self, kafka: KafkaEndpoint, sound: tuple[str, Path]) -> None:
        """All data verified but the restore took longer than an (impossible) RTO target: partial, 75 <= score < 100."""
        _, root = sound
        with MetricsCapture() as cap:
            report = DrillRun(
                _config(kafka.bootstrap, root, drill="rto", rto_target_s=0.001), metrics=cap.metrics
            ).run()
            assert report.result == "partial", report.to_dict()
            assert 75 <= report.score < 100 and report.deductions.data == 0
            assert cap.value("kafka_restore_drill_runs_total", drill="rto", result="partial") == 1

    def test_sample_drills_the_newest_segments(self, kafka: KafkaEndpoint, sound: tuple[str, Path]) -> None:
        """sample_records 25 drills the two newest 20-record segments of each partition, and passes."""
        _, root = sound
        report = DrillRun(_config(kafka.bootstrap, root, sample_records=25)).run()
        assert report.result == "pass", report.to_dict()
        assert [p.expected for p in report.partitions] == [40, 40]
        assert _leftovers(kafka.bootstrap, report) == []

    def test_keep_leaves_the_scratch_topics(self, kafka: KafkaEndpoint, sound: tuple[str, Path]) -> None:
        """keep: the scratch topic stays (with the restored records) and the report names it."""
        topic, root = sound
        report = DrillRun(_config(kafka.bootstrap, root, keep=True)).run()
        try:
            assert report.result == "pass", report.to_dict()
            assert not report.scratch_deleted
            assert _leftovers(kafka.bootstrap, report) == [report.scratch_prefix + topic]
        finally:
            AdminClient({"bootstrap.servers": kafka.bootstrap}).delete_topics(report.scratch_topics)

    def test_missing_backup_is_a_failed_drill(self, kafka: KafkaEndpoint, tmp_path: Path) -> None:
        """A backup that is not there fails the drill with score 0 (and the error), not a crash."""
        with MetricsCapture() as cap:
            report = DrillRun(_config(kafka.bootstrap, tmp_path, drill="gone"), metrics=cap.metrics).run()
            assert (report.result, report.score) == ("fail", 0.0)
            assert report.error is not None and "BACKUP_NOT_FOUND" in report.error
            assert cap.value("kafka_restore_drill_runs_total", drill="gone", result="fail") == 1

    def test_nothing_to_verify_is_a_failed_drill(self, kafka: KafkaEndpoint, tmp_path: Path) -> None:
        """A backup of an empty topic proves nothing: the drill fails with score 0 instead of passing vacuously."""
        topic = f"drill-empty-{uuid.uuid4().hex[:6]}"
        create_topic(kafka.bootstrap, topic, 1)
        config = backup_config(kafka.bootstrap, BACKUP, tmp_path, [topic])
        assert BackupRun(BackupConfig.model_validate(config), metrics=Metrics()).run().status == "success"
        report = DrillRun(_config(kafka.bootstrap, tmp_path)).run()
        assert (report.result, report.score) == ("fail", 0.0)
        assert report.error is not None and "no records" in report.error
        assert _leftovers(kafka.bootstrap, report) == []

    def test_no_matching_topic_is_a_usage_error(self, kafka: KafkaEndpoint, sound: tuple[str, Path]) -> None:
        """A topic selection matching nothing in the backup is a ConfigError, not a drill result."""
        _, root = sound
        with pytest.raises(ConfigError, match="no topic"):
            DrillRun(_config(kafka.bootstrap, root, topics={"include": ["nope.*"]})).run()


class TestDrillCli:
    def test_json_report_and_exit_codes(
        self, kafka: KafkaEndpoint, sound: tuple[str, Path], damaged: Path, tmp_path: Path
    ) -> None:
        """--json: the sound backup passes (exit 0, score 100), the damaged one fails (exit 1, fail, lower score)."""
        _, root = sound
        runner = CliRunner()
        args = ["drill", "-b", BACKUP, "--bootstrap-servers", kafka.bootstrap, "--name", "cli", "--json"]
        metrics_file = tmp_path / "m.json"
        good = runner.invoke(cli, [*args, "-s", f"file://{root}", "--metrics-output", str(metrics_file)])
        assert good.exit_code == 0, good.output
        body = json.loads(good.stdout)
        assert (body["result"], body["score"], body["passed"]) == ("pass", 100.0, True)
        assert body["records"]["expected"] == body["records"]["matched"] == RECORDS
        assert body["scratch"]["deleted"] is True
        samples = json.loads(metrics_file.read_text())
        scores = [s["value"] for s in samples if s["name"] == "kafka_restore_drill_score"]
        assert scores == [100.0]
        bad = runner.invoke(cli, [*args, "-s", f"file://{damaged}"])
        assert bad.exit_code == 1, bad.output
        body = json.loads(bad.stdout)
        assert body["result"] == "fail" and body["score"] < 100
        assert body["validation"]["defects"][0]["kind"] == "checksum_mismatch"

    def test_text_summary_and_usage_error(self, kafka: KafkaEndpoint, sound: tuple[str, Path]) -> None:
        """The text summary names the verdict and score; no target is a one-line usage error (exit 2)."""
        _, root = sound
        runner = CliRunner()
        ok = runner.invoke(cli, ["drill", "-s", f"file://{root}", "-b", BACKUP, "--bootstrap-servers", kafka.bootstrap])
        assert ok.exit_code == 0, ok.output
        assert f"Restore drill {BACKUP} (backup {BACKUP}) passed" in ok.stdout and "Score: 100 / 100" in ok.stdout
        missing = runner.invoke(cli, ["drill", "-s", f"file://{root}", "-b", BACKUP])
        assert missing.exit_code == 2 and "--bootstrap-servers" in missing.output
        assert "Traceback" not in missing.output


def _recs(*items: tuple[str, int]) -> list[Rec]:
    return [(record_hash(k.encode(), b"v", None), ts) for k, ts in items]


class TestScoreAndCompare:
    def test_score_formula(self) -> None:
        """Data is proportional, defects cost 5 (max 50), RTO overshoot up to 25; floored so any defect is < 100."""
        assert score(expected=100, bad_records=0, defects=0, rto_s=1, rto_target_s=10)[0] == 100
        assert score(expected=10_000_000, bad_records=1, defects=0, rto_s=None, rto_target_s=None)[0] == 99.99
        assert score(expected=100, bad_records=10, defects=2, rto_s=None, rto_target_s=None)[0] == 80
        assert score(expected=100, bad_records=0, defects=30, rto_s=None, rto_target_s=None)[0] == 50
        assert score(expected=100, bad_records=0, defects=0, rto_s=15, rto_target_s=10)[0] == 87.5
        assert score(expected=100, bad_records=0, defects=0, rto_s=1000, rto_target_s=10)[0] == 75
        assert score(expected=10, bad_records=50, defects=20, rto_s=None, rto_target_s=None)[0] == 0

    def test_classify(self) -> None:
        """pass at min_score; below it partial only when the data is intact; any error is fail."""
        r = DrillReport("d", "b", "r", "p.", min_score=90, rto_target_s=None)
        r.score = 95
        assert classify(r) == "pass"
        r.score, r.deductions.rto = 85, 15
        assert classify(r) == "partial"
        r.deductions.data = 1
        assert classify(r) == "fail"
        r.score, r.error = 100, "KAFKA_ERROR: x"
        assert classify(r) == "fail"

    def test_compare_counts_missing_unexpected_and_misordered(self) -> None:
        """Counts by content, then order among the matched records; an equal sequence has equal digests."""
        expected = _recs(("a", 1), ("b", 2), ("c", 3), ("d", 4))
        same = PartitionCheck("t", 0, "s.t", expected=4)
        compare(expected, list(expected), same)
        assert (same.matched, same.missing, same.unexpected, same.misordered) == (4, 0, 0, 0)
        assert same.ok and same.backup_digest == same.restored_digest
        check = PartitionCheck("t", 0, "s.t", expected=4)
        compare(expected, _recs(("b", 2), ("a", 1), ("c", 3), ("x", 9)), check)
        assert (check.matched, check.missing, check.unexpected, check.misordered) == (3, 1, 1, 2)
        assert not check.ok and check.backup_digest != check.restored_digest
        stamped = PartitionCheck("t", 0, "s.t", expected=1)
        compare(_recs(("a", 5)), _recs(("a", 6)), stamped)
        assert (stamped.matched, stamped.missing, stamped.unexpected) == (0, 1, 1)

    def test_compare_ignores_timestamps_the_backup_lacks(self) -> None:
        """A backup record without timestamp (-1) matches its restored copy, which the producer stamped."""
        check = PartitionCheck("t", 0, "s.t", expected=2)
        compare(_recs(("a", -1), ("b", 2)), _recs(("a", 1_700_000_000_000), ("b", 2)), check)
        assert check.ok and check.backup_digest == check.restored_digest

    def test_record_hash_distinguishes_null_and_empty(self) -> None:
        """Null and empty keys, values and header values hash differently; no headers equals an empty list."""
        assert record_hash(None, b"v", None) != record_hash(b"", b"v", None)
        assert record_hash(b"k", None, None) != record_hash(b"k", b"", None)
        assert record_hash(b"k", b"v", [("h", None)]) != record_hash(b"k", b"v", [("h", b"")])
        assert record_hash(b"k", b"v", None) == record_hash(b"k", b"v", [])

    def test_checkpoints_stay_in_memory(self, tmp_path: Path) -> None:
        """The overlay keeps the restore's checkpoints in memory and refuses any other write."""
        store = CheckpointOverlay(open_store(f"file://{tmp_path}", {}), "b/restores/r/")
        store.put("b/restores/r/state.json", b"{}", operation="checkpoint")
        assert store.get("b/restores/r/state.json", operation="checkpoint") == b"{}"
        assert [o.key for o in store.list("b/restores/r/")] == ["b/restores/r/state.json"]
        assert not list(tmp_path.iterdir())
        with pytest.raises(StorageNotFoundError):
            store.get("b/restores/r/offsets/x.json", operation="checkpoint")
        with pytest.raises(RuntimeError, match="writes nothing"):
            store.put("b/backup.json", b"{}", operation="manifest")
