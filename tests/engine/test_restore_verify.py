"""Restore verifies before it writes, refuses targets that hold data unless told, and estimates windows from the
segments' own columns. Real broker, local storage, backups made by the real backup engine."""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from engine.restore_support import (
    RECENT_TS,
    backed_up_timeline,
    content,
    create_topic,
    make_backup,
    numbered_topic,
    open_root,
    produce_records,
    read_topic,
    restore_config,
)
from kafka_backup.cli.main import cli
from kafka_backup.engine.errors import (
    IntegrityError,
    KafkaOperationError,
    RestoreTargetNotEmptyError,
    SegmentMissingError,
    SegmentSizeMismatchError,
)
from kafka_backup.engine.format.layout import offsets_prefix, state_key
from kafka_backup.engine.restore.progress import Progress
from kafka_backup.engine.restore.run import RestoreRun
from kafka_backup.engine.store import Store
from kafka_backup.telemetry.catalog import Metrics
from kafka_backup.telemetry.testing import MetricsCapture
from rig.kafka import KafkaEndpoint


def _topics(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


def _watermarks(bootstrap: str, topic: str, partitions: int) -> list[tuple[int, int]]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    out = []
    for p in range(partitions):
        tp = TopicPartition(topic, p)
        low = admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(timeout=10).offset  # type: ignore[no-untyped-call]
        high = admin.list_offsets({tp: OffsetSpec.latest()})[tp].result(timeout=10).offset  # type: ignore[no-untyped-call]
        out.append((low, high))
    return out


def _cli(*args: str) -> tuple[int, str, str]:
    """Exit code, stdout, and the one ``error[...]`` line on stderr ("" when there is none; log lines dropped)."""
    result = CliRunner().invoke(cli, list(args))
    errors = [line for line in result.stderr.splitlines() if line.startswith("error[")]
    assert len(errors) <= 1 and "Traceback" not in result.stderr, result.stderr
    return result.exit_code, result.stdout, errors[0] if errors else ""


def _flip_bytes(store: Store, key: str) -> bytes:
    """Invert 16 bytes in the middle of the object (same size, wrong checksum); returns the original bytes."""
    good = store.get(key, operation="segment")
    middle = len(good) // 2
    store.put(key, good[:middle] + bytes(b ^ 0xFF for b in good[middle : middle + 16]) + good[middle + 16 :],
              operation="segment")  # fmt: skip
    return good


# ---- verify before writing ----------------------------------------------------------------------------------------


@pytest.fixture
def three_segments(kafka: KafkaEndpoint, tmp_path: Path) -> tuple[str, Path, list[str]]:
    """3,000 records in one partition, backed up as three segments of 1,000; the topic, the store root, the keys."""
    topic = numbered_topic(kafka.bootstrap, "verify", 3000, partitions=1)
    make_backup(kafka.bootstrap, tmp_path, "verify", [topic], max_records=1000)
    keys = [o.key for o in open_root(tmp_path).list("verify/topics/") if o.key.endswith(".parquet")]
    assert len(keys) == 3
    return topic, tmp_path, keys


class TestVerifyBeforeWrite:
    @pytest.mark.parametrize(
        ("damage", "error"), [("missing", SegmentMissingError), ("truncated", SegmentSizeMismatchError)]
    )
    def test_bad_second_segment_stops_before_anything_is_written(
        self,
        kafka: KafkaEndpoint,
        three_segments: tuple[str, Path, list[str]],
        damage: str,
        error: type[IntegrityError],
    ) -> None:
        """A missing or short second segment: the error names its key, no topic is created, no checkpoint stored,
        no record produced (before, the first segment's 1,000 records were in the target)."""
        topic, root, keys = three_segments
        store = open_root(root)
        if damage == "missing":
            store.delete(keys[1])
        else:
            store.put(keys[1], store.get(keys[1], operation="segment")[:-100], operation="segment")
        target = f"{topic}-{damage}"
        config = restore_config(kafka.bootstrap, root, "verify", topic_map={topic: target})
        with pytest.raises(error) as caught:
            RestoreRun(config, metrics=Metrics()).run()
        assert caught.value.key == keys[1]  # type: ignore[attr-defined]
        assert keys[1] in str(caught.value)
        assert target not in _topics(kafka.bootstrap)
        assert not store.list("verify/restores/")

        code, out, err = _cli(
            "restore", "-s", f"file://{root}", "-b", "verify", "--bootstrap-servers", kafka.bootstrap,
            "--topic-map", f"{topic}={target}",
        )  # fmt: skip
        assert code == 1, out + err
        assert err.startswith(f"error[{error.code}]: ")
        assert keys[1] in err
        assert target not in _topics(kafka.bootstrap)

    def test_preexisting_target_is_untouched_by_a_failed_preflight(
        self, kafka: KafkaEndpoint, three_segments: tuple[str, Path, list[str]]
    ) -> None:
        """Into an existing empty topic with --existing-data truncate: a missing segment still writes nothing."""
        topic, root, keys = three_segments
        store = open_root(root)
        store.delete(keys[2])
        target = f"{topic}-exists"
        create_topic(kafka.bootstrap, target, 1)
        config = restore_config(kafka.bootstrap, root, "verify", topic_map={topic: target}, existing_data="truncate")
        with pytest.raises(SegmentMissingError):
            RestoreRun(config, metrics=Metrics()).run()
        assert _watermarks(kafka.bootstrap, target, 1) == [(0, 0)]
        assert not store.list("verify/restores/")

    def test_corrupt_second_segment_with_verify_first_writes_nothing(
        self, kafka: KafkaEndpoint, three_segments: tuple[str, Path, list[str]]
    ) -> None:
        """--verify-first: every checksum is checked before anything is written, so a same-size corruption of the
        second segment leaves no topic, no checkpoint and no record; exit 1, BACKUP_CORRUPT naming the key."""
        topic, root, keys = three_segments
        _flip_bytes(open_root(root), keys[1])
        target = f"{topic}-verify-first"
        code, out, err = _cli(
            "restore", "-s", f"file://{root}", "-b", "verify", "--bootstrap-servers", kafka.bootstrap,
            "--topic-map", f"{topic}={target}", "--verify-first",
        )  # fmt: skip
        assert code == 1, out + err
        assert err.startswith("error[BACKUP_CORRUPT]: 1 of 3 selected segments fail their SHA-256 check, first ")
        assert keys[1] in err
        assert target not in _topics(kafka.bootstrap)
        assert not open_root(root).list("verify/restores/")

    def test_corrupt_second_segment_writes_none_of_its_records_and_resumes_after_repair(
        self, kafka: KafkaEndpoint, three_segments: tuple[str, Path, list[str]]
    ) -> None:
        """Same size, flipped bytes: found by the SHA-256 check when read (prefetched), before any of its records is
        produced; what was produced before is mapped, and after the repair a rerun restores exactly the source."""
        topic, root, keys = three_segments
        store = open_root(root)
        good = _flip_bytes(store, keys[1])
        target = f"{topic}-corrupt"
        config = restore_config(kafka.bootstrap, root, "verify", topic_map={topic: target})
        with pytest.raises(IntegrityError, match="SHA-256") as caught:
            RestoreRun(config, metrics=Metrics()).run()
        assert caught.value.code == "BACKUP_CORRUPT"
        restored = [r[6] for r in read_topic(kafka.bootstrap, target)]
        assert restored == [f"v{i}".encode() for i in range(1000)], "records of the corrupt segment were produced"
        restore_id = config.effective_restore_id()
        assert len(store.list(offsets_prefix("verify", restore_id))) == 1, "the produced segment is mapped"

        store.put(keys[1], good, operation="segment")
        again = RestoreRun(config, metrics=Metrics()).run()
        assert (again.status, again.records, again.resumed_records) == ("success", 2000, 1000)
        assert content(read_topic(kafka.bootstrap, target)) == content(read_topic(kafka.bootstrap, topic))


# ---- targets that already hold records ------------------------------------------------------------------------------

EXISTING = {0: 7, 1: 3}


@pytest.fixture
def busy_target(kafka: KafkaEndpoint, tmp_path: Path) -> tuple[str, str, Path]:
    """A 2-partition topic of 200 records backed up, and a target topic already holding 7 and 3 records."""
    topic = numbered_topic(kafka.bootstrap, "busy", 200)
    make_backup(kafka.bootstrap, tmp_path, "busy", [topic], max_records=30)
    target = f"{topic}-target"
    create_topic(kafka.bootstrap, target, 2)
    old = ((p, (f"old{p}-{i}".encode(), b"old", RECENT_TS, None)) for p, n in EXISTING.items() for i in range(n))
    produce_records(kafka.bootstrap, target, old)
    return topic, target, tmp_path


class TestNonEmptyTarget:
    def test_refused_by_default_saying_what_is_there(
        self, kafka: KafkaEndpoint, busy_target: tuple[str, str, Path]
    ) -> None:
        """Default: RESTORE_TARGET_NOT_EMPTY (exit 2) naming topic, partitions and counts; nothing is written."""
        topic, target, root = busy_target
        config = restore_config(kafka.bootstrap, root, "busy", topic_map={topic: target})
        with pytest.raises(RestoreTargetNotEmptyError) as caught:
            RestoreRun(config, metrics=Metrics()).run()
        assert f"{target}: 2 partitions hold 10 records (0: 7, 1: 3)" in str(caught.value)
        code, out, err = _cli(
            "restore", "-s", f"file://{root}", "-b", "busy", "--bootstrap-servers", kafka.bootstrap,
            "--topic-map", f"{topic}={target}",
        )  # fmt: skip
        assert code == 2, out + err
        assert err.startswith("error[RESTORE_TARGET_NOT_EMPTY]: ")
        assert "--existing-data append" in err and "--existing-data truncate" in err
        assert _watermarks(kafka.bootstrap, target, 2) == [(0, 7), (0, 3)]
        assert not open_root(root).list("busy/restores/")

    def test_dry_run_shows_the_occupancy_and_the_choice(
        self, kafka: KafkaEndpoint, busy_target: tuple[str, str, Path]
    ) -> None:
        """The plan names what the target holds and what the chosen policy will do; --json carries it too."""
        topic, target, root = busy_target
        base = ["restore", "-s", f"file://{root}", "-b", "busy", "--bootstrap-servers", kafka.bootstrap,
                "--topic-map", f"{topic}={target}", "--dry-run"]  # fmt: skip
        code, out, err = _cli(*base)
        assert code == 0, out + err
        assert f"target already holds records: {target}: 2 partitions hold 10 records (0: 7, 1: 3)" in out
        assert "refuse to start" in out
        code, out, err = _cli(*base, "--existing-data", "truncate", "--json")
        assert code == 0, out + err
        existing = json.loads(out)["existing_data"]
        assert (existing["policy"], existing["records"]) == ("truncate", 10)
        assert [(p["partition"], p["records"]) for p in existing["partitions"]] == [(0, 7), (1, 3)]

    def test_truncate_deletes_them_first_and_restores_exactly(
        self, kafka: KafkaEndpoint, busy_target: tuple[str, str, Path]
    ) -> None:
        """--existing-data truncate: the old records are deleted (delete-records), the target then holds exactly
        the backup, the state marks the partitions empty (exact resume), and a rerun writes nothing."""
        topic, target, root = busy_target
        code, out, err = _cli(
            "restore", "-s", f"file://{root}", "-b", "busy", "--bootstrap-servers", kafka.bootstrap,
            "--topic-map", f"{topic}={target}", "--existing-data", "truncate", "--json",
        )  # fmt: skip
        assert code == 0, out + err
        summary = json.loads(out)
        assert (summary["records"], summary["truncated_records"]) == (200, 10)
        assert content(read_topic(kafka.bootstrap, target)) == content(read_topic(kafka.bootstrap, topic))
        counts = {p: sum(1 for r in read_topic(kafka.bootstrap, topic) if r[1] == p) for p in EXISTING}
        assert _watermarks(kafka.bootstrap, target, 2) == [(n, n + counts[p]) for p, n in EXISTING.items()]
        state = json.loads(open_root(root).get(state_key("busy", summary["restore_id"]), operation="checkpoint"))
        assert state["empty"] == {target: [0, 1]}
        code, out, err = _cli(
            "restore", "-s", f"file://{root}", "-b", "busy", "--bootstrap-servers", kafka.bootstrap,
            "--topic-map", f"{topic}={target}", "--json",
        )  # fmt: skip
        assert code == 0, out + err
        assert json.loads(out)["records"] == 0, "a completed restore needs no flag and writes nothing"

    def test_truncate_of_a_compacted_target_fails_before_writing(self, kafka: KafkaEndpoint, tmp_path: Path) -> None:
        """Kafka refuses delete-records on a compacted topic: KAFKA_ERROR saying so, its records untouched, no
        checkpoint stored."""
        topic = numbered_topic(kafka.bootstrap, "compacted-src", 20, partitions=1)
        make_backup(kafka.bootstrap, tmp_path, "compacted", [topic])
        target = f"{topic}-compacted"
        create_topic(kafka.bootstrap, target, 1, {"cleanup.policy": "compact"})
        produce_records(kafka.bootstrap, target, ((0, (b"k", b"old", RECENT_TS, None)) for _ in range(4)))
        config = restore_config(kafka.bootstrap, tmp_path, "compacted", topic_map={topic: target},
                                existing_data="truncate")  # fmt: skip
        with pytest.raises(KafkaOperationError, match="delete records: Broker: Policy violation") as caught:
            RestoreRun(config, metrics=Metrics()).run()
        assert "--existing-data append" in str(caught.value)
        assert _watermarks(kafka.bootstrap, target, 1) == [(0, 4)]
        assert not open_root(tmp_path).list("compacted/restores/")

    def test_stopped_truncating_restore_resumes_exactly_without_the_flag(
        self, kafka: KafkaEndpoint, busy_target: tuple[str, str, Path]
    ) -> None:
        """A truncating restore stopped midway holds its own records; the rerun with the default policy (refuse)
        resumes it (the checkpoint exists) and ends with exactly the backup."""
        topic, target, root = busy_target
        stop = threading.Event()

        def halt(p: Progress) -> None:
            if p.done >= 60:
                stop.set()

        first_config = restore_config(
            kafka.bootstrap, root, "busy", topic_map={topic: target}, flush_records=30, existing_data="truncate"
        )
        first = RestoreRun(first_config, metrics=Metrics(), stop=stop, on_progress=halt).run()
        assert first.status == "stopped"
        assert 0 < len(read_topic(kafka.bootstrap, target)) < 200
        rerun = restore_config(kafka.bootstrap, root, "busy", topic_map={topic: target}, flush_records=30)
        assert rerun.effective_restore_id() == first.restore_id, "the policy is not part of the restore id"
        second = RestoreRun(rerun, metrics=Metrics()).run()
        assert second.status == "success" and second.existing_records == 0
        assert content(read_topic(kafka.bootstrap, target)) == content(read_topic(kafka.bootstrap, topic))


# ---- windowed estimates -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_timeline(kafka: KafkaEndpoint, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """20,000 records one millisecond apart (RECENT_TS + i) in one partition, in segments of 4,000."""
    root = tmp_path_factory.mktemp("estimate")
    return backed_up_timeline(kafka.bootstrap, root, "estimate", 20_000, max_records=4000), root


class TestWindowedEstimate:
    @pytest.mark.parametrize(
        "selection",
        [
            {"time_window": {"from": RECENT_TS + 3500, "to": RECENT_TS + 4844}},
            {"offset_ranges": [{"from": 5000, "to": 6344}]},
        ],
        ids=["time_window", "offset_range"],
    )
    def test_plan_matches_the_restore(
        self, kafka: KafkaEndpoint, long_timeline: tuple[str, Path], selection: dict[str, object]
    ) -> None:
        """The dry-run plan's records equal what the restore then writes (1,345; the manifests alone said at most
        8,000 or 4,000), its offsets and times are the selected ones, and its bytes (pro rata over the cut segments)
        are within 5 % of the restored bytes."""
        topic, root = long_timeline
        if "offset_ranges" in selection:
            selection = {"offset_ranges": [{"topic": topic, "from": 5000, "to": 6344}]}
        target = f"{topic}-{uuid.uuid4().hex[:4]}"
        config = restore_config(kafka.bootstrap, root, "estimate", topic_map={topic: target}, **selection)
        plan = RestoreRun(config, metrics=Metrics()).plan()
        summary = RestoreRun(config, metrics=Metrics()).run()
        assert summary.records == 1345 == len(read_topic(kafka.bootstrap, target))
        assert (plan.records, plan.exact, plan.bytes_exact) == (1345, True, False)
        part = plan.partitions[0]
        first = 3500 if "time_window" in selection else 5000
        assert (part.first_offset, part.last_offset) == (first, first + 1344)
        assert (part.min_timestamp, part.max_timestamp) == (RECENT_TS + first, RECENT_TS + first + 1344)
        assert abs(plan.bytes - summary.bytes) <= summary.bytes * 0.05, (plan.bytes, summary.bytes)

    def test_estimate_reads_only_the_offset_and_timestamp_columns(self, kafka: KafkaEndpoint, tmp_path: Path) -> None:
        """A window cutting one ~1 MB segment of 1 KB random values: the dry run reads under 10 % of its bytes (the
        footer and the two small columns by ranged gets), yet counts the matching records exactly."""
        topic = f"wide-{uuid.uuid4().hex[:6]}"
        create_topic(kafka.bootstrap, topic, 1)
        produce_records(
            kafka.bootstrap, topic, ((0, (b"k", os.urandom(1000), RECENT_TS + i, None)) for i in range(3000))
        )
        make_backup(kafka.bootstrap, tmp_path, "wide", [topic], max_records=1000)
        segment = next(o for o in open_root(tmp_path).list("wide/topics/") if o.key.endswith(".parquet"))
        assert segment.size > 900_000
        window = {"from": RECENT_TS + 1200, "to": RECENT_TS + 1299}
        with MetricsCapture() as capture:
            config = restore_config(kafka.bootstrap, tmp_path, "wide", topic_map={topic: f"{topic}-w"},
                                    time_window=window)  # fmt: skip
            plan = RestoreRun(config, metrics=capture.metrics).plan()
            read = capture.value("kafka_backup_storage_read_bytes_total", backend="filesystem", backup_id="wide")
        assert (plan.records, plan.segments) == (100, 1)
        assert read is not None and 0 < read < segment.size * 0.10, (read, segment.size)

    def test_cli_wording(self, kafka: KafkaEndpoint, long_timeline: tuple[str, Path]) -> None:
        """The text plan says "1,345 records", "1 segment to read", and estimated bytes with a "~"."""
        topic, root = long_timeline
        code, out, err = _cli(
            "restore", "-s", f"file://{root}", "-b", "estimate", "--bootstrap-servers", kafka.bootstrap,
            "--topic-map", f"{topic}={topic}-w", "--from", str(RECENT_TS + 4100), "--to", str(RECENT_TS + 5444),
            "--dry-run",
        )  # fmt: skip
        assert code == 0, out + err
        head = out.splitlines()[0]
        assert ": 1,345 records, ~" in head and "1 segment to read, 4 skipped by the selection" in head
        assert "at most" not in out
        assert "create (1 partition, RF 1)" in out
