"""Stored formats: the envelope every object carries, checked on read; the key layout; the repository over a real
local store (files on disk, no broker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from kafka_backup.cli.main import cli
from kafka_backup.engine.errors import CorruptObjectError, IntegrityError, UnsupportedFormatError
from kafka_backup.engine.format import layout
from kafka_backup.engine.format.envelope import FORMATS, PARTITION_MANIFEST, check_version
from kafka_backup.engine.format.manifest import BackupManifest, PartitionManifest, Snapshot, TopicInfo
from kafka_backup.engine.format.restore_state import OffsetMap, RestoreState, Run
from kafka_backup.engine.format.segment import HEADER_TYPE, SCHEMA, decode, encode
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.store import open_store

BID = "fmt"
TOPIC = "orders"


def _repo(root: Path) -> Repository:
    return Repository(open_store(f"file://{root}", {}))


def _backup(root: Path) -> Repository:
    """A complete two-partition backup with empty partition manifests and a snapshot whose targets they reach."""
    repo = _repo(root)
    repo.write_partition_manifest(PartitionManifest(BID, TOPIC, 0, 0, 0))
    repo.write_partition_manifest(PartitionManifest(BID, TOPIC, 1, 0, 0))
    repo.write_snapshot(Snapshot(BID, 1, {TOPIC: {"0": 0, "1": 0}}, "complete"))
    topics = {TOPIC: TopicInfo(2, 1, {})}
    repo.write_backup(BackupManifest(BID, 1, 2, topics, {}, "zstd", "complete", completed_at=2, mode="snapshot"))
    return repo


def _edit(path: Path, **changes: Any) -> None:
    body = json.loads(path.read_text())
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    path.write_text(json.dumps(body))


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


class TestEnvelope:
    def test_every_object_is_written_with_its_marker_and_version(self, tmp_path: Path) -> None:
        """backup.json, snapshot.json and a partition manifest carry ``format`` and ``version`` "1.0"."""
        _backup(tmp_path)
        for name, marker in [
            ("backup.json", "kafka-backup-backup"),
            ("snapshot.json", "kafka-backup-snapshot"),
            (f"topics/{TOPIC}/0/manifest.json", "kafka-backup-partition-manifest"),
        ]:
            body = json.loads((tmp_path / BID / name).read_text())
            assert (body["format"], body["version"]) == (marker, "1.0"), name

    def test_markers_are_distinct(self) -> None:
        """No two formats share a marker (a marker says what an object is)."""
        assert len({f.marker for f in FORMATS}) == len(FORMATS) == 6

    def test_unknown_major_is_refused_naming_key_and_versions(self, tmp_path: Path) -> None:
        """A manifest of version 2.3 is UnsupportedFormatError with the key, the version found and 1.x."""
        repo = _backup(tmp_path)
        key = layout.manifest_key(BID, TOPIC, 1)
        _edit(tmp_path / key, version="2.3")
        with pytest.raises(UnsupportedFormatError) as caught:
            repo.read_partition_manifest(BID, TOPIC, 1)
        error = caught.value
        assert (error.code, error.key, error.found, error.understood) == ("FORMAT_UNSUPPORTED", key, "2.3", "1.x")
        assert key in error.message and "2.3" in error.message and "1.x" in error.message
        assert error.exit_code == 1 and isinstance(error, IntegrityError)

    def test_future_minor_is_read(self, tmp_path: Path) -> None:
        """Version 1.7 with a field this version does not know: read, the extra field ignored."""
        repo = _backup(tmp_path)
        _edit(tmp_path / layout.backup_key(BID), version="1.7", added_in_1_7={"x": 1})
        _edit(tmp_path / layout.snapshot_key(BID), version="1.9", later="field")
        backup = repo.read_backup(BID)
        snapshot = repo.read_snapshot(BID)
        assert backup is not None and backup.status == "complete" and backup.topics[TOPIC].partitions == 2
        assert snapshot is not None and snapshot.targets == {TOPIC: {"0": 0, "1": 0}}

    def test_legacy_forms_are_read(self, tmp_path: Path) -> None:
        """What earlier releases wrote reads as 1.0: integer ``version: 1``, and a snapshot.json with no marker."""
        repo = _backup(tmp_path)
        _edit(tmp_path / layout.manifest_key(BID, TOPIC, 0), version=1)
        _edit(tmp_path / layout.snapshot_key(BID), format=None, version=None)
        manifest = repo.read_partition_manifest(BID, TOPIC, 0)
        snapshot = repo.read_snapshot(BID)
        assert manifest is not None and (manifest.topic, manifest.partition, manifest.next_offset) == (TOPIC, 0, 0)
        assert snapshot == Snapshot(BID, 1, {TOPIC: {"0": 0, "1": 0}}, "complete")

    @pytest.mark.parametrize(
        ("content", "says"),
        [
            ("{not json", "is not valid JSON"),
            ("[1, 2]", "is not a JSON object"),
            ('{"format": "kafka-backup-backup", "version": "1.0"}', "not a kafka-backup snapshot checkpoint"),
            (
                '{"format": "kafka-backup-snapshot", "version": "1.0", "backup_id": "fmt"}',
                "lacks the required field 'status'",
            ),
            ('{"format": "kafka-backup-snapshot", "version": "one"}', "unreadable format version 'one'"),
        ],
    )
    def test_corrupt_snapshot_is_corrupt_object_with_its_key(self, tmp_path: Path, content: str, says: str) -> None:
        """Bad JSON, another object's marker, a missing field, a garbled version: BACKUP_CORRUPT naming the key."""
        repo = _backup(tmp_path)
        key = layout.snapshot_key(BID)
        (tmp_path / key).write_text(content)
        with pytest.raises(CorruptObjectError) as caught:
            repo.read_snapshot(BID)
        assert caught.value.code == "BACKUP_CORRUPT" and caught.value.key == key
        assert caught.value.message.startswith(f"{key}: ") and says in caught.value.message

    def test_version_rules(self) -> None:
        """None is legacy 1.0; "1" and 1 are 1.0; "1.12" keeps its minor; a bool, a float or "1.2.3" is corrupt."""
        assert check_version(PARTITION_MANIFEST, None, "k") == (1, 0)
        assert check_version(PARTITION_MANIFEST, 1, "k") == check_version(PARTITION_MANIFEST, "1", "k") == (1, 0)
        assert check_version(PARTITION_MANIFEST, "1.12", "k") == (1, 12)
        for bad in (True, 1.5, "1.2.3", "", "v1"):
            with pytest.raises(CorruptObjectError):
                check_version(PARTITION_MANIFEST, bad, "k")
        with pytest.raises(UnsupportedFormatError):
            check_version(PARTITION_MANIFEST, 0, "k")


def _table(offsets: range) -> pa.Table:
    """Records in the segment schema (what the native consumer delivers per partition)."""
    n = len(offsets)
    return pa.table(
        {
            "topic": pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), pa.array([TOPIC])),
            "partition": pa.array([0] * n, pa.int32()),
            "offset": pa.array(list(offsets), pa.int64()),
            "timestamp": pa.array([1000 + o for o in offsets], pa.int64()),
            "timestamp_type": pa.array([1] * n, pa.int8()),
            "key": pa.array([b"k"] * n, pa.binary()),
            "value": pa.array([b"v"] * n, pa.binary()),
            "headers": pa.array([None] * n, HEADER_TYPE),
        },
        schema=SCHEMA,
    )


class TestSegmentVersion:
    def _segment(self) -> bytes:
        table = _table(range(3))
        return encode(table, topic=TOPIC, partition=0, start_offset=0, end_offset=3, codec="zstd", level=1).data

    def _with_version(self, data: bytes, version: str) -> bytes:
        table = pq.read_table(pa.BufferReader(data))
        meta = dict(table.schema.metadata or {})
        meta[b"kafka_backup.format_version"] = version.encode()
        sink = pa.BufferOutputStream()
        pq.write_table(table.replace_schema_metadata(meta), sink)
        return bytes(sink.getvalue().to_pybytes())

    def test_segment_carries_its_version(self) -> None:
        """A new segment says format_version 1.0 and decodes."""
        data = self._segment()
        assert pq.read_metadata(pa.BufferReader(data)).metadata[b"kafka_backup.format_version"] == b"1.0"
        assert decode(data).num_rows == 3

    def test_legacy_and_future_minor_segments_decode(self) -> None:
        """Version "1" (every segment written so far) and "1.4" decode."""
        for version in ("1", "1.4"):
            assert decode(self._with_version(self._segment(), version)).num_rows == 3

    def test_unknown_major_segment_is_refused(self) -> None:
        """A segment of version 3.0 is refused naming it."""
        with pytest.raises(UnsupportedFormatError) as caught:
            decode(self._with_version(self._segment(), "3.0"), name="b/topics/t/0/segments/x.parquet")
        assert caught.value.key == "b/topics/t/0/segments/x.parquet" and caught.value.found == "3.0"


class TestLayout:
    def test_keys_parse_back(self) -> None:
        """Every key the layout builds parses back to what built it."""
        key = layout.segment_key("b", "my.topic", 7, 10, 20)
        assert key == "b/topics/my.topic/7/segments/00000000000000000010-00000000000000000020.parquet"
        assert layout.parse_segment_key(key) == layout.SegmentLocation("b", "my.topic", 7)
        assert layout.parse_manifest_key("b", layout.manifest_key("b", "my.topic", 7)) == ("my.topic", "7")
        omap = layout.offset_map_key("b", "r1", "my.topic", 7, 10)
        assert layout.parse_offset_map_key("b", "r1", omap) == ("my.topic", 7, 10)
        assert layout.is_state_key("b", layout.state_key("b", "r1"))

    def test_other_keys_do_not_parse(self) -> None:
        """Keys of other objects, or of another backup, are no segment/manifest/offset-map/state key."""
        assert layout.parse_segment_key("b/topics/t/0/manifest.json") is None
        assert layout.parse_manifest_key("b", "c/topics/t/0/manifest.json") is None
        assert layout.parse_offset_map_key("b", "r1", layout.state_key("b", "r1")) is None
        assert not layout.is_state_key("b", "b/restores/r1/offsets/t/0/state.json")

    def test_object_kinds_order_deletion(self) -> None:
        """backup.json, then manifests (snapshot.json too), restore objects, segments, anything else."""
        kinds = {
            "b/backup.json": "backup",
            "b/snapshot.json": "manifest",
            "b/topics/t/0/manifest.json": "manifest",
            "b/restores/r/state.json": "restore",
            "b/restores/r/offsets/t/0/00000000000000000000.json": "restore",
            layout.segment_key("b", "t", 0, 0, 5): "segment",
            "b/notes.txt": "other",
        }
        assert {key: layout.object_kind("b", key) for key in kinds} == kinds


class TestRepository:
    def test_missing_objects_are_none(self, tmp_path: Path) -> None:
        """Every read of an object that does not exist is None; require_backup is BACKUP_NOT_FOUND."""
        repo = _repo(tmp_path)
        assert repo.read_backup(BID) is None and not repo.has_backup(BID)
        assert repo.read_snapshot(BID) is None
        assert repo.read_partition_manifest(BID, TOPIC, 0) is None
        assert repo.read_restore_state(BID, "r1") is None
        assert repo.read_offset_map(BID, "r1", TOPIC, 0, 0) is None
        assert repo.restore_states(BID) == [] and repo.mapped_segments(BID, "r1") == set()
        exit_code, output = _cli("describe", "-s", f"file://{tmp_path}", "-b", BID)
        assert exit_code == 2 and "error[BACKUP_NOT_FOUND]" in output and f"{BID}/backup.json" in output

    def test_restore_objects_round_trip(self, tmp_path: Path) -> None:
        """A restore state and two offset maps come back equal; mapped_segments names both segments."""
        repo = _repo(tmp_path)
        state = RestoreState(
            "r1", BID, "fp", 1, 2, "running", "localhost:9092", {TOPIC: "t2"}, {TOPIC: {"0": [0]}}, {"t2": {"0": 0}},
            {"t2": [0]},
        )  # fmt: skip
        repo.write_restore_state(state)
        maps = [OffsetMap(TOPIC, 0, start, "t2", {0: (Run(start, start, 5),)}) for start in (0, 5)]
        for omap in maps:
            repo.write_offset_map(BID, "r1", omap)
        assert repo.read_restore_state(BID, "r1") == state and repo.restore_states(BID) == [state]
        assert repo.read_offset_map(BID, "r1", TOPIC, 0, 5) == maps[1]
        assert list(repo.offset_maps(BID, "r1")) == maps
        assert repo.mapped_segments(BID, "r1") == {(TOPIC, 0, 0), (TOPIC, 0, 5)}


class TestThroughTheCli:
    def test_unknown_major_backup_json_is_refused_with_exit_1(self, tmp_path: Path) -> None:
        """describe of a backup.json of version 2.0: error[FORMAT_UNSUPPORTED] naming the key and 1.x, exit 1."""
        _backup(tmp_path)
        assert _cli("describe", "-s", f"file://{tmp_path}", "-b", BID)[0] == 0
        _edit(tmp_path / layout.backup_key(BID), version="2.0")
        exit_code, output = _cli("describe", "-s", f"file://{tmp_path}", "-b", BID)
        assert exit_code == 1, output
        assert output.startswith(f"error[FORMAT_UNSUPPORTED]: {BID}/backup.json: backup manifest has format version")
        assert "2.0" in output and "kafka-backup-backup 1.x" in output

    def test_unknown_major_partition_manifest_fails_validate(self, tmp_path: Path) -> None:
        """validate names the manifest of version 5.0 as unreadable, with the versions understood; exit 1."""
        _backup(tmp_path)
        key = layout.manifest_key(BID, TOPIC, 1)
        _edit(tmp_path / key, version="5.0")
        exit_code, output = _cli("validate", "-s", f"file://{tmp_path}", "-b", BID)
        assert exit_code == 1, output
        assert f"{key}: manifest_unreadable: {key}: partition manifest has format version 5.0" in output
