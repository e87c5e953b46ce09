"""Verdicts against the completeness model: a missing manifest, a killed snapshot, edited counts, a clean SIGTERM.

Every scenario runs the real commands (validate, describe, list, restore, drill, prune) on a backup made by the
real backup engine from the rig broker, and asserts exit codes and the named defects.
"""

from __future__ import annotations

import json
import shutil
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from confluent_kafka.admin import AdminClient

from engine.backup_helpers import backup_config
from engine.restore_support import make_backup, numbered_topic, open_root, read_topic, restore_config
from engine.test_backup_crash import committed_segments, fill, start_worker, wait_for
from engine.test_backup_lifecycle import produce
from kafka_backup.cli.main import cli
from kafka_backup.cli.restore_cmd import summary_block
from kafka_backup.engine.catalog.completeness import assess
from kafka_backup.engine.drill.config import DrillConfig
from kafka_backup.engine.drill.run import run_drill
from kafka_backup.engine.errors import BackupIncompleteError
from kafka_backup.engine.restore.run import RestoreRun
from kafka_backup.telemetry.testing import MetricsCapture
from rig.kafka import KafkaEndpoint
from rig.tricky import create_topic

BACKUP = "full"
PER_PARTITION = 1000


@pytest.fixture(scope="module")
def sound(kafka: KafkaEndpoint, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A complete snapshot backup of 3 partitions x 1,000 records, in segments of 250."""
    topic = numbered_topic(kafka.bootstrap, "cmp", 3 * PER_PARTITION, partitions=3)
    root = tmp_path_factory.mktemp("completeness")
    make_backup(kafka.bootstrap, root, BACKUP, [topic], max_records=250)
    return topic, root


@pytest.fixture
def copy(sound: tuple[str, Path], tmp_path: Path) -> Path:
    shutil.copytree(sound[1], tmp_path / "b")
    return tmp_path / "b"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def last_json(result: Result) -> Any:
    return json.loads(result.stdout.strip().splitlines()[-1])


def manifest_path(root: Path, topic: str, partition: int, backup_id: str = BACKUP) -> Path:
    return root / backup_id / "topics" / topic / str(partition) / "manifest.json"


def topic_exists(bootstrap: str, topic: str) -> bool:
    return topic in AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics


def restore_args(kafka: KafkaEndpoint, root: Path, target: str, source: str, backup_id: str = BACKUP) -> list[str]:
    return [
        "restore", "-s", f"file://{root}", "-b", backup_id, "--bootstrap-servers", kafka.bootstrap,
        "--topic-map", f"{source}={target}", "--no-progress",
    ]  # fmt: skip


def drill(kafka: KafkaEndpoint, root: Path, backup_id: str = BACKUP) -> Any:
    config = DrillConfig.model_validate(
        {
            "backup_id": backup_id,
            "storage": {"url": f"file://{root}"},
            "target": {"bootstrap_servers": kafka.bootstrap, "connect_timeout_s": 10},
        }
    )
    return run_drill(config)


class TestMissingManifest:
    """``topics/<t>/1/manifest.json`` of a complete 3-partition backup deleted."""

    @pytest.fixture
    def broken(self, sound: tuple[str, Path], copy: Path) -> tuple[str, Path]:
        manifest_path(copy, sound[0], 1).unlink()
        return sound[0], copy

    def test_validate_names_it_and_suggests_no_prune(self, broken: tuple[str, Path]) -> None:
        """validate: exit 1, manifest_missing on the manifest's key; its segments are 'unindexed', no prune hint."""
        topic, root = broken
        result = run("validate", "-s", f"file://{root}", "-b", BACKUP)
        assert result.exit_code == 1, result.output
        assert f"{BACKUP}/topics/{topic}/1/manifest.json: manifest_missing" in result.output
        assert "prune --orphans" not in result.output and "prune" not in result.output
        report = last_json(run("validate", "-s", f"file://{root}", "-b", BACKUP, "--json"))
        assert {w["kind"] for w in report["warnings"]} == {"unindexed"}
        assert len(report["warnings"]) == 4  # the partition's 4 segments, the only copy of its records

    def test_describe_and_list_say_incomplete(self, broken: tuple[str, Path]) -> None:
        """describe and list (text and JSON) say incomplete, and why, though backup.json says complete."""
        topic, root = broken
        described = last_json(run("describe", "-s", f"file://{root}", "-b", BACKUP, "--json"))
        assert (described["status"], described["verdict"], described["complete"]) == ("complete", "incomplete", False)
        assert [(s["kind"], s["topic"], s["partition"]) for s in described["shortfalls"]] == [
            ("manifest_missing", topic, 1)
        ]
        text = run("describe", "-s", f"file://{root}", "-b", BACKUP)
        assert text.exit_code == 0 and "INCOMPLETE" in text.output and f"{topic}-1: manifest_missing" in text.output
        listed = last_json(run("list", "-s", f"file://{root}", "--json"))
        assert [(b["backup_id"], b["verdict"], b["complete"]) for b in listed] == [(BACKUP, "incomplete", False)]
        assert "manifest_missing" in listed[0]["shortfalls"][0]
        table = run("list", "-s", f"file://{root}")
        assert f"{BACKUP:<32} incomplete" in table.output and "incomplete: " in table.output

    def test_restore_refuses_then_partial_names_what_is_left_out(
        self, kafka: KafkaEndpoint, broken: tuple[str, Path]
    ) -> None:
        """restore: BACKUP_INCOMPLETE, exit 1, nothing created; --allow-partial restores 2,000 and names partition 1."""
        topic, root = broken
        target = f"{topic}-r{uuid.uuid4().hex[:4]}"
        args = restore_args(kafka, root, target, topic)
        refused = run(*args)
        assert refused.exit_code == 1
        assert "error[BACKUP_INCOMPLETE]" in refused.output and f"{topic}-1: manifest_missing" in refused.output
        assert run(*args, "--dry-run").exit_code == 1
        assert not topic_exists(kafka.bootstrap, target)

        plan = run(*args, "--allow-partial", "--dry-run")
        assert plan.exit_code == 0 and f"LEFT OUT (incomplete backup, --allow-partial): {topic}-1" in plan.output
        partial = run(*args, "--allow-partial", "--json")
        assert partial.exit_code == 0, partial.output
        summary = last_json(partial)
        assert (summary["records"], summary["complete"]) == (2 * PER_PARTITION, False)
        assert [(f["kind"], f["topic"], f["partition"]) for f in summary["left_out"]] == [
            ("manifest_missing", topic, 1)
        ]
        assert sorted({r[1] for r in read_topic(kafka.bootstrap, target)}) == [0, 2]
        assert len(read_topic(kafka.bootstrap, target)) == 2 * PER_PARTITION

    def test_partial_restore_metric_and_summary_name_it(self, kafka: KafkaEndpoint, broken: tuple[str, Path]) -> None:
        """The engine refuses without allow_partial; with it, kafka_restore_left_out_total names the partition."""
        topic, root = broken
        target = f"{topic}-m{uuid.uuid4().hex[:4]}"
        with pytest.raises(BackupIncompleteError, match="manifest_missing"):
            RestoreRun(restore_config(kafka.bootstrap, root, BACKUP, topic_map={topic: target})).run()
        config = restore_config(kafka.bootstrap, root, BACKUP, topic_map={topic: target}, allow_partial=True)
        with MetricsCapture() as capture:
            summary = RestoreRun(config, metrics=capture.metrics).run()
            labels = {"restore_id": summary.restore_id, "backup_id": BACKUP, "topic": topic}
            counted = capture.value("kafka_restore_left_out_total", **labels, partition="1", reason="manifest_missing")
        assert counted == 1
        assert [str(f) for f in summary.left_out] == [str(assess(open_root(root), BACKUP).shortfalls[0])]
        text = summary_block(summary)
        assert "Restore completed PARTIALLY" in text and f"Left out: {topic}-1: manifest_missing" in text

    def test_prune_orphans_keeps_the_only_copy(self, sound: tuple[str, Path], broken: tuple[str, Path]) -> None:
        """prune --orphans --yes deletes a provable orphan of partition 0 but none of partition 1's segments."""
        topic, root = broken
        segments = sorted((root / BACKUP / "topics" / topic / "1" / "segments").iterdir())
        assert len(segments) == 4
        p0 = sorted((root / BACKUP / "topics" / topic / "0" / "segments").iterdir())
        stray = p0[0].with_name("77777777777777777777-77777777777777777778.parquet")
        shutil.copy(p0[0], stray)
        result = run("prune", "-s", f"file://{root}", "--orphans", "--yes")
        assert result.exit_code == 0, result.output
        assert not stray.exists(), "the provable orphan must go"
        assert sorted((root / BACKUP / "topics" / topic / "1" / "segments").iterdir()) == segments
        assert result.output.count("has no readable manifest") == 4
        # the segments are intact: with the manifest back, the backup validates deeply
        shutil.copy(manifest_path(sound[1], topic, 1), manifest_path(root, topic, 1))
        deep = run("validate", "-s", f"file://{root}", "-b", BACKUP, "--deep")
        assert deep.exit_code == 0, deep.output

    def test_unreadable_manifest_is_unknown_too(self, sound: tuple[str, Path], copy: Path) -> None:
        """A manifest that does not parse: validate names it, prune deletes none of its partition's segments."""
        topic = sound[0]
        manifest_path(copy, topic, 2).write_text("{not json")
        result = run("validate", "-s", f"file://{copy}", "-b", BACKUP)
        assert result.exit_code == 1 and f"{topic}/2/manifest.json: manifest_unreadable" in result.output
        before = sorted((copy / BACKUP / "topics" / topic / "2" / "segments").iterdir())
        assert run("prune", "-s", f"file://{copy}", "--orphans", "--yes").exit_code == 0
        assert sorted((copy / BACKUP / "topics" / topic / "2" / "segments").iterdir()) == before

    def test_drill_fails_and_counts_the_partition_missing(self, kafka: KafkaEndpoint, broken: tuple[str, Path]) -> None:
        """drill: the missing partition's records (estimated from its siblings) are missing; it fails, score < 70."""
        report = drill(kafka, broken[1])
        assert report.result == "fail"
        assert report.total("missing") == PER_PARTITION and report.total("matched") == 2 * PER_PARTITION
        assert report.score < 70
        assert [f.kind for f in report.shortfalls] == ["manifest_missing"]
        assert report.to_dict()["completeness"]["complete"] is False


class TestEditedCounts:
    def test_next_offset_edited(self, kafka: KafkaEndpoint, sound: tuple[str, Path], copy: Path) -> None:
        """next_offset past its segments: validate exit 1; restore refuses (BACKUP_CORRUPT), even --allow-partial."""
        topic = sound[0]
        body = json.loads(manifest_path(copy, topic, 0).read_text())
        manifest_path(copy, topic, 0).write_text(json.dumps({**body, "next_offset": body["next_offset"] + 5}))
        validated = run("validate", "-s", f"file://{copy}", "-b", BACKUP)
        assert validated.exit_code == 1 and f"{topic}/0/manifest.json: unexplained_gap" in validated.output
        target = f"{topic}-n{uuid.uuid4().hex[:4]}"
        for extra in ((), ("--allow-partial",)):
            refused = run(*restore_args(kafka, copy, target, topic), *extra)
            assert refused.exit_code == 1
            assert "error[BACKUP_CORRUPT]" in refused.output and f"{topic}-0: count_mismatch" in refused.output
        assert not topic_exists(kafka.bootstrap, target)

    def test_segment_records_edited(self, kafka: KafkaEndpoint, sound: tuple[str, Path], copy: Path) -> None:
        """A segment's record count one short: validate (without --deep) exit 1 count_mismatch; restore refuses."""
        topic = sound[0]
        body = json.loads(manifest_path(copy, topic, 2).read_text())
        body["segments"][1]["records"] -= 1
        manifest_path(copy, topic, 2).write_text(json.dumps(body))
        validated = run("validate", "-s", f"file://{copy}", "-b", BACKUP)
        assert validated.exit_code == 1
        assert f"{body['segments'][1]['key']}: count_mismatch" in validated.output
        target = f"{topic}-c{uuid.uuid4().hex[:4]}"
        refused = run(*restore_args(kafka, copy, target, topic), "--allow-partial")
        assert refused.exit_code == 1
        assert (
            "error[BACKUP_CORRUPT]" in refused.output and "holds 250 records, the manifest says 249" in refused.output
        )
        assert not topic_exists(kafka.bootstrap, target)
        # the other partitions are sound: a restore of them alone goes ahead
        config = restore_config(kafka.bootstrap, copy, BACKUP, topic_map={topic: target}, partitions={topic: [0, 1]})
        assert RestoreRun(config).run().records == 2 * PER_PARTITION

    def test_old_backups_are_read_as_they_are(self, sound: tuple[str, Path], copy: Path) -> None:
        """backup.json without the new fields: 'complete' stays complete, 'running' is judged interrupted."""
        body = json.loads((copy / BACKUP / "backup.json").read_text())
        old = {k: v for k, v in body.items() if k not in ("mode", "stopped_at")}
        (copy / BACKUP / "backup.json").write_text(json.dumps(old))
        assert assess(open_root(copy), BACKUP).verdict == "complete"
        (copy / BACKUP / "backup.json").write_text(json.dumps({**old, "status": "running", "completed_at": None}))
        judged = assess(open_root(copy), BACKUP)
        assert judged.verdict == "incomplete" and [f.kind for f in judged.shortfalls] == ["not_complete"]


class TestKilledSnapshot:
    def test_kill_9_mid_backup_fails_every_verdict(self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
        """A snapshot backup killed mid-run stays 'running': validate --deep, describe, restore and drill say so."""
        fill(kafka, topic_name, 120_000)
        root = tmp_path / "store"
        config = tmp_path / "backup.yaml"
        cfg = backup_config(kafka.bootstrap, "killed", root, [topic_name], segment={"max_records": 1000})
        config.write_text(yaml.safe_dump(cfg))
        worker = start_worker(config, tmp_path / "w.log")
        try:
            wait_for(lambda: committed_segments(root, "killed", topic_name) >= 8, 120, "8 segments")
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        assert committed_segments(root, "killed", topic_name) < 120, "the run finished before the kill"
        assert json.loads((root / "killed" / "backup.json").read_text())["status"] == "running"

        deep = run("validate", "-s", f"file://{root}", "-b", "killed", "--deep")
        assert deep.exit_code == 1, deep.output
        assert "killed/backup.json: not_complete" in deep.output and ": short_of_snapshot: " in deep.output
        described = last_json(run("describe", "-s", f"file://{root}", "-b", "killed", "--json"))
        assert described["verdict"] == "incomplete" and described["shortfalls"][0]["kind"] == "not_complete"
        target = f"{topic_name}-r"
        refused = run(*restore_args(kafka, root, target, topic_name, "killed"), "--dry-run")
        assert refused.exit_code == 1 and "error[BACKUP_INCOMPLETE]" in refused.output
        assert "not_complete" in refused.output and "short_of_snapshot" in refused.output
        assert not topic_exists(kafka.bootstrap, target)
        report = drill(kafka, root, "killed")
        assert report.result == "fail" and report.score < 50
        assert report.total("missing") > report.total("matched") > 0

    def test_sigterm_mid_snapshot_is_stopped_not_success(
        self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path
    ) -> None:
        """SIGTERM before the snapshot's end commits what was read, says the backup is incomplete and exits 1;
        the rerun resumes it to the end."""
        fill(kafka, topic_name, 120_000)
        root = tmp_path / "store"
        config = tmp_path / "backup.yaml"
        cfg = backup_config(kafka.bootstrap, "halted", root, [topic_name], segment={"max_records": 1000})
        config.write_text(yaml.safe_dump(cfg))
        log = tmp_path / "w.log"
        worker = start_worker(config, log)
        try:
            wait_for(lambda: committed_segments(root, "halted", topic_name) >= 8, 120, "8 segments")
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
        assert committed_segments(root, "halted", topic_name) < 120, "the run finished before the SIGTERM"
        assert code == 1, log.read_text()[-2000:]
        assert "Backup stopped before the end of its snapshot" in log.read_text()
        assert json.loads((root / "halted" / "backup.json").read_text())["status"] == "running"
        assert run("validate", "-s", f"file://{root}", "-b", "halted").exit_code == 1
        rerun = run("backup", "--config", str(config), "--json")
        assert rerun.exit_code == 0, rerun.output
        assert last_json(rerun)["status"] == "success"
        assert run("validate", "-s", f"file://{root}", "-b", "halted", "--deep").exit_code == 0


class TestContinuousStates:
    def test_sigterm_is_stopped_and_kill_is_interrupted(
        self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path
    ) -> None:
        """kill -9 of a continuous run leaves 'running' (incomplete); a clean SIGTERM writes 'stopped' (complete)."""
        create_topic(kafka.bootstrap, topic_name, 2)
        produce(kafka, topic_name, 0, 1000)
        root = tmp_path / "s"
        data = backup_config(
            kafka.bootstrap, "cont", root, [topic_name],
            mode="continuous", segment={"max_records": 100_000, "max_age_s": 1.0},
        )  # fmt: skip
        config = tmp_path / "b.yaml"
        config.write_text(yaml.safe_dump(data))
        crashed = start_worker(config, tmp_path / "w1.log")
        try:
            wait_for(lambda: committed_segments(root, "cont", topic_name) >= 2, 60, "age-rolled segments")
        finally:
            crashed.send_signal(signal.SIGKILL)
            crashed.wait()
        body = json.loads((root / "cont" / "backup.json").read_text())
        assert (body["status"], body["mode"]) == ("running", "continuous")
        validated = run("validate", "-s", f"file://{root}", "-b", "cont")
        assert validated.exit_code == 1 and "cont/backup.json: not_complete" in validated.output
        assert last_json(run("describe", "-s", f"file://{root}", "-b", "cont", "--json"))["verdict"] == "incomplete"

        before = committed_segments(root, "cont", topic_name)
        worker = start_worker(config, tmp_path / "w2.log")
        try:
            produce(kafka, topic_name, 1000, 700)
            # the second run owns the partitions (the dead member's session expired) once it commits the new records
            wait_for(lambda: committed_segments(root, "cont", topic_name) > before, 90, "the second run's commits")
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=60) == 0, (tmp_path / "w2.log").read_text()[-2000:]
        finally:
            if worker.poll() is None:
                worker.kill()
        body = json.loads((root / "cont" / "backup.json").read_text())
        assert body["status"] == "stopped" and isinstance(body["stopped_at"], int)
        described = last_json(run("describe", "-s", f"file://{root}", "-b", "cont", "--json"))
        assert (described["verdict"], described["complete"], described["shortfalls"]) == ("stopped", True, [])
        assert "(stopped)" in run("describe", "-s", f"file://{root}", "-b", "cont").output
        assert run("validate", "-s", f"file://{root}", "-b", "cont").exit_code == 0
        target = f"{topic_name}-r"
        restored = run(*restore_args(kafka, root, target, topic_name, "cont"), "--json")
        assert restored.exit_code == 0, restored.output
        summary = last_json(restored)
        assert (summary["records"], summary["complete"], summary["left_out"]) == (1700, True, [])
