"""Restores against the real broker: byte-exact tricky data, point-in-time windows, plans, metrics, resume.

"Another cluster" is the same broker with renamed target topics: a restore only ever talks to the target through
its own connection settings, so a rename proves the same thing without a second broker (and its start-up cost).
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from confluent_kafka.admin import AdminClient

from engine.restore_support import (
    RECENT_TS,
    backed_up_timeline,
    content,
    create_topic,
    make_backup,
    make_restore,
    numbered_topic,
    open_root,
    produce_records,
    read_topic,
    restore_config,
)
from kafka_backup.cli.main import cli
from kafka_backup.engine.config.base import parse_config
from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.errors import ConfigError
from kafka_backup.engine.format.layout import offsets_prefix, state_key
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.restore.progress import Progress
from kafka_backup.engine.restore.run import RestoreRun
from kafka_backup.telemetry.catalog import Metrics
from kafka_backup.telemetry.testing import MetricsCapture
from rig.kafka import KafkaEndpoint
from rig.tricky import produce_tricky

BASE_TS = RECENT_TS


@pytest.fixture(scope="module")
def tricky(kafka: KafkaEndpoint) -> list[str]:
    return produce_tricky(kafka.bootstrap, f"rtricky-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def tricky_restored(
    kafka: KafkaEndpoint, tricky: list[str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Back up the tricky topics and restore every one of them to a renamed topic; source → target names."""
    root = tmp_path_factory.mktemp("tricky-restore")
    prefix = tricky[0].rsplit(".", 1)[0]
    make_backup(kafka.bootstrap, root, "tricky", [f"{prefix}.*"], max_records=200)
    renames = {t: f"restored-{t}" for t in tricky}
    # the restored compacted topic is pre-created without compaction, so the log cleaner cannot thin it out before
    # the comparison (restoring into an existing empty topic is also a case of its own)
    compacted = next(t for t in tricky if t.endswith(".compacted"))
    create_topic(kafka.bootstrap, renames[compacted], 1)
    make_restore(kafka.bootstrap, root, "tricky", topic_map=renames)
    return renames


class TestTrickyRestore:
    @pytest.mark.parametrize("kind", ["shapes", "compacted", "txn", "wide", "logappend"])
    def test_restores_byte_exact(
        self, kafka: KafkaEndpoint, tricky: list[str], tricky_restored: dict[str, str], kind: str
    ) -> None:
        """Keys, values (null vs empty), headers, timestamps and per-partition order equal the source's."""
        source = next(t for t in tricky if t.endswith(f".{kind}"))
        expected = content(read_topic(kafka.bootstrap, source))
        actual = content(read_topic(kafka.bootstrap, tricky_restored[source]))
        assert expected, f"no source records in {source}"
        assert actual == expected

    def test_offsets_are_dense_on_the_target(
        self, kafka: KafkaEndpoint, tricky: list[str], tricky_restored: dict[str, str]
    ) -> None:
        """Offset gaps of the source (compaction, transaction markers, aborts) do not reappear on the target."""
        for kind in ("compacted", "txn"):
            source = next(t for t in tricky if t.endswith(f".{kind}"))
            rows = read_topic(kafka.bootstrap, tricky_restored[source])
            for partition in {r[1] for r in rows}:
                offsets = [r[2] for r in rows if r[1] == partition]
                assert offsets == list(range(len(offsets)))

    def test_log_append_time_source_keeps_its_timestamps(
        self, kafka: KafkaEndpoint, tricky: list[str], tricky_restored: dict[str, str]
    ) -> None:
        """A LogAppendTime topic is restored as CreateTime carrying the original broker timestamps."""
        source = next(t for t in tricky if t.endswith(".logappend"))
        src = read_topic(kafka.bootstrap, source)
        dst = read_topic(kafka.bootstrap, tricky_restored[source])
        assert {r[4] for r in src} == {2}
        assert {r[4] for r in dst} == {1}
        assert [r[3] for r in dst] == [r[3] for r in src]


@pytest.fixture(scope="module")
def timeline(kafka: KafkaEndpoint, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """60 records one millisecond apart (BASE_TS + i), in segments of 10, backed up."""
    root = tmp_path_factory.mktemp("timeline")
    return backed_up_timeline(kafka.bootstrap, root, "timeline", 60, max_records=10), root


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class TestPointInTime:
    def test_window_is_inclusive_at_the_millisecond(self, kafka: KafkaEndpoint, timeline: tuple[str, Path]) -> None:
        """from=BASE+10 (ISO-8601) and to=BASE+25 (epoch ms) restore exactly records 10..25."""
        topic, root = timeline
        target = f"{topic}-pitr"
        summary = make_restore(
            kafka.bootstrap,
            root,
            "timeline",
            topic_map={topic: target},
            time_window={"from": _iso(BASE_TS + 10), "to": BASE_TS + 25},
        )
        rows = read_topic(kafka.bootstrap, target)
        assert [r[6] for r in rows] == [f"v{i}".encode() for i in range(10, 26)]
        assert [r[3] for r in rows] == [BASE_TS + i for i in range(10, 26)]
        assert summary.records == 16

    def test_segments_outside_the_window_are_not_read(self, kafka: KafkaEndpoint, timeline: tuple[str, Path]) -> None:
        """Only the two segments the window touches are read; the other four are skipped by the manifest."""
        topic, root = timeline
        summary = make_restore(
            kafka.bootstrap,
            root,
            "timeline",
            topic_map={topic: f"{topic}-skip"},
            time_window={"from": BASE_TS + 10, "to": BASE_TS + 25},
        )
        assert (summary.segments_read, summary.segments_skipped) == (2, 4)

    def test_offset_range_is_inclusive(self, kafka: KafkaEndpoint, timeline: tuple[str, Path]) -> None:
        """offset_ranges from 5 to 14 restores exactly those ten records."""
        topic, root = timeline
        target = f"{topic}-range"
        make_restore(
            kafka.bootstrap,
            root,
            "timeline",
            topic_map={topic: target},
            offset_ranges=[{"topic": topic, "from": 5, "to": 14}],
        )
        assert [r[6] for r in read_topic(kafka.bootstrap, target)] == [f"v{i}".encode() for i in range(5, 15)]

    def test_sub_millisecond_bound_is_refused(self) -> None:
        """An ISO time with non-zero microseconds cannot be honoured and is a config error."""
        data = {
            "backup_id": "b",
            "target": {"bootstrap_servers": "x:1"},
            "time_window": {"from": "2026-01-01T00:00:00.000500Z"},
        }
        with pytest.raises(ConfigError, match="sub-millisecond"):
            parse_config(RestoreConfig, data)


class TestPlan:
    def test_dry_run_plans_and_touches_nothing(self, kafka: KafkaEndpoint, timeline: tuple[str, Path]) -> None:
        """The plan lists records, offsets, times and the target; no topic is created, nothing is stored."""
        topic, root = timeline
        target = f"{topic}-dry-{uuid.uuid4().hex[:4]}"
        config = restore_config(
            kafka.bootstrap, root, "timeline", topic_map={topic: target}, time_window={"to": BASE_TS + 19}
        )
        plan = RestoreRun(config, metrics=Metrics()).plan()
        body = plan.to_dict()
        assert body["records"] == 20 and body["records_exact"] is True
        part = body["partitions"][0]
        assert (part["first_offset"], part["last_offset"], part["target_topic"]) == (0, 19, target)
        assert (part["min_timestamp"], part["max_timestamp"]) == (BASE_TS, BASE_TS + 19)
        assert body["topics"][0]["create"] is True
        assert target not in AdminClient({"bootstrap.servers": kafka.bootstrap}).list_topics(timeout=10).topics
        assert not open_root(root).list(f"timeline/restores/{plan.restore_id}/")

    def test_cli_dry_run_prints_the_plan(self, kafka: KafkaEndpoint, timeline: tuple[str, Path]) -> None:
        """restore --dry-run prints a table per partition with records, offsets, times and target; exit 0."""
        topic, root = timeline
        args = ["restore", "-s", f"file://{root}", "-b", "timeline", "--bootstrap-servers", kafka.bootstrap]
        result = CliRunner().invoke(
            cli, [*args, "--topic-map", f"{topic}={topic}-x", "--to", str(BASE_TS + 9), "--dry-run"]
        )
        assert result.exit_code == 0, result.output
        assert f"{topic}-0" in result.stdout and f"{topic}-x-0" in result.stdout
        assert "0..9" in result.stdout and "5 skipped by the selection" in result.stdout

    def test_cli_usage_errors_are_one_line(self, timeline: tuple[str, Path]) -> None:
        """A restore without a target, or with a bad --topic-map, exits 2 with one line naming the fix."""
        _, root = timeline
        runner = CliRunner()
        missing = runner.invoke(cli, ["restore", "-s", f"file://{root}", "-b", "timeline"])
        assert missing.exit_code == 2 and "--bootstrap-servers" in missing.output
        bad = runner.invoke(cli, ["restore", "-b", "timeline", "--bootstrap-servers", "x:1", "--topic-map", "oops"])
        assert bad.exit_code == 2 and "SOURCE=TARGET" in bad.output
        assert "Traceback" not in missing.output + bad.output

    def test_unknown_key_suggests_the_closest(self) -> None:
        """A typo in the restore config names the key and suggests the right one."""
        with pytest.raises(ConfigError, match="topic_map"):
            parse_config(RestoreConfig, {"backup_id": "b", "target": {"bootstrap_servers": "x:1"}, "topic_mapp": {}})

    def test_too_few_target_partitions_is_refused(self, kafka: KafkaEndpoint, tmp_path: Path) -> None:
        """An existing target with fewer partitions than the source needs is an error unless repartitioning."""
        topic = f"narrow-{uuid.uuid4().hex[:6]}"
        create_topic(kafka.bootstrap, topic, 3)
        produce_records(kafka.bootstrap, topic, ((p, (b"k", b"v", BASE_TS, None)) for p in range(3)))
        make_backup(kafka.bootstrap, tmp_path, "narrow", [topic])
        create_topic(kafka.bootstrap, f"{topic}-1p", 1)
        with pytest.raises(ConfigError, match="has 1 partition,"):
            make_restore(kafka.bootstrap, tmp_path, "narrow", topic_map={topic: f"{topic}-1p"})


class TestProgressAndMetrics:
    def test_metrics_per_batch_and_progress_ends_at_100(self, kafka: KafkaEndpoint, timeline: tuple[str, Path]) -> None:
        """Records/bytes totals per target partition, progress exactly 100, throughput and ETA are recorded."""
        topic, root = timeline
        target = f"{topic}-metrics"
        seen: list[Progress] = []
        with MetricsCapture() as capture:
            config = restore_config(kafka.bootstrap, root, "timeline", topic_map={topic: target}, flush_records=10)
            summary = RestoreRun(config, metrics=capture.metrics, on_progress=seen.append).run()
            labels = {"restore_id": summary.restore_id, "backup_id": "timeline"}
            assert capture.value("kafka_restore_records_total", **labels, topic=target, partition="0") == 60
            assert (capture.value("kafka_restore_bytes_total", **labels, topic=target) or 0) > 0
            assert capture.value("kafka_restore_progress_percent", **labels) == 100.0
            assert capture.value("kafka_restore_eta_seconds", **labels) == 0.0
            assert (capture.value("kafka_restore_throughput_records_per_sec", **labels) or 0) > 0
        assert seen[-1].done == seen[-1].total == 60
        assert len(seen) >= 6


class TestResume:
    def test_stopped_restore_resumes_exactly(self, kafka: KafkaEndpoint, tmp_path: Path) -> None:
        """A restore stopped midway and run again ends with exactly the selection, no duplicates."""
        topic = numbered_topic(kafka.bootstrap, "resume", 400)
        assert make_backup(kafka.bootstrap, tmp_path, "resume", [topic], max_records=25).records == 400
        target = f"{topic}-r"
        stop = threading.Event()

        def halt(p: Progress) -> None:
            if p.done >= 100:
                stop.set()

        config = restore_config(kafka.bootstrap, tmp_path, "resume", topic_map={topic: target}, flush_records=30)
        first = RestoreRun(config, metrics=Metrics(), stop=stop, on_progress=halt).run()
        assert first.status == "stopped"
        assert 0 < len(read_topic(kafka.bootstrap, target)) < 400
        second = RestoreRun(config, metrics=Metrics()).run()
        assert second.status == "success"
        assert content(read_topic(kafka.bootstrap, target)) == content(read_topic(kafka.bootstrap, topic))

    def test_acknowledged_but_unmapped_records_are_not_written_twice(
        self, kafka: KafkaEndpoint, timeline: tuple[str, Path]
    ) -> None:
        """A crash after the records were acknowledged but before their offset maps were stored costs nothing."""
        topic, root = timeline
        target = f"{topic}-acked"
        config = restore_config(kafka.bootstrap, root, "timeline", topic_map={topic: target}, flush_records=10)
        first = RestoreRun(config, metrics=Metrics()).run()
        store = open_root(root)
        maps = store.list(offsets_prefix("timeline", first.restore_id))
        for info in maps[3:]:
            store.delete(info.key)
        key = state_key("timeline", first.restore_id)
        state = json.loads(store.get(key, operation="checkpoint"))
        store.put(key, json.dumps({**state, "status": "running", "ends": {}}).encode(), operation="checkpoint")
        second = RestoreRun(config, metrics=Metrics()).run()
        assert (second.records, second.resumed_records) == (0, 60)  # 30 from kept maps, 30 found by counting
        assert len(store.list(offsets_prefix("timeline", first.restore_id))) == len(maps)
        assert [r[6] for r in read_topic(kafka.bootstrap, target)] == [f"v{i}".encode() for i in range(60)]


class TestNonEmptyTarget:
    def test_records_go_after_existing_ones_and_offsets_map_there(self, kafka: KafkaEndpoint, tmp_path: Path) -> None:
        """Restoring into partitions that already hold records: nothing of theirs is touched, the backup's records
        follow them in order, the offset maps point at where they landed, and a second run writes nothing."""
        topic = numbered_topic(kafka.bootstrap, "nonempty", 200)
        assert make_backup(kafka.bootstrap, tmp_path, "nonempty", [topic], max_records=30).records == 200
        target = f"{topic}-busy"
        create_topic(kafka.bootstrap, target, 2)
        existing = {0: 7, 1: 3}  # different depths, so a wrong partition or offset shows
        produce_records(
            kafka.bootstrap,
            target,
            (
                (p, (f"old{p}-{i}".encode(), b"old", BASE_TS, None))
                for p, count in existing.items()
                for i in range(count)
            ),
        )
        config = restore_config(
            kafka.bootstrap, tmp_path, "nonempty", topic_map={topic: target}, flush_records=40, existing_data="append"
        )
        first = RestoreRun(config, metrics=Metrics()).run()
        assert (first.status, first.records, first.existing_records) == ("success", 200, sum(existing.values()))

        rows = read_topic(kafka.bootstrap, target)
        for p, count in existing.items():
            in_partition = [r for r in rows if r[1] == p]
            assert [r[6] for r in in_partition[:count]] == [b"old"] * count, "existing records were changed"
            source = [r for r in read_topic(kafka.bootstrap, topic) if r[1] == p]
            assert [r[5:] for r in in_partition[count:]] == [r[5:] for r in source], "backup records out of place"

        # the offset maps say where each source record went: right after the records that were there
        store = open_root(tmp_path)
        repository = Repository(store)
        state = repository.read_restore_state("nonempty", first.restore_id)
        assert state is not None and state.empty == {}, "partitions that held records are not marked empty"
        landed: dict[tuple[int, int], int] = {}
        for omap in repository.offset_maps("nonempty", first.restore_id):
            for target_partition, runs in omap.runs.items():
                for run in runs:
                    for k in range(run.length):
                        landed[(omap.source_partition, run.source + k)] = target_partition * 1_000_000 + run.target + k
        for p, count in existing.items():
            source_offsets = [r[2] for r in read_topic(kafka.bootstrap, topic) if r[1] == p]
            assert [landed[(p, o)] for o in source_offsets] == [
                p * 1_000_000 + count + i for i in range(len(source_offsets))
            ]

        second = RestoreRun(config, metrics=Metrics()).run()
        assert (second.status, second.records) == ("success", 0)
        assert len(read_topic(kafka.bootstrap, target)) == 200 + sum(existing.values())
