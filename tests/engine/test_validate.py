"""validate catches a missing, a truncated and a bit-flipped segment, broken coverage, and a missing manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.restore_support import make_backup, numbered_topic, open_root
from kafka_backup.cli.main import cli
from kafka_backup.engine.catalog.validate import validate_backup
from rig.kafka import KafkaEndpoint


@pytest.fixture(scope="module")
def pristine(kafka: KafkaEndpoint, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup of 2 partitions x 60 records in segments of 20."""
    topic = numbered_topic(kafka.bootstrap, "val", 120)
    root = tmp_path_factory.mktemp("validate")
    make_backup(kafka.bootstrap, root, "val", [topic], max_records=20)
    return root


@pytest.fixture
def copy(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the backup to damage."""
    shutil.copytree(pristine, tmp_path / "b")
    return tmp_path / "b"


def _segments(root: Path) -> list[Path]:
    return sorted(root.glob("val/topics/*/*/segments/*.parquet"))


def _key(root: Path, path: Path) -> str:
    return str(path.relative_to(root))


def _cli(root: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", "--storage-url", f"file://{root}", "--backup-id", "val", *extra])
    return result.exit_code, result.output


class TestValidate:
    def test_intact_backup_is_valid_even_deep(self, pristine: Path) -> None:
        """An untouched backup passes both the checksum and the deep check."""
        for deep in (False, True):
            report = validate_backup(open_root(pristine), "val", deep=deep)
            assert report.valid, report.render()
            assert report.segments == 6 and report.records == 120

    def test_missing_segment(self, copy: Path) -> None:
        """A deleted segment is reported as missing, by its key; exit code 1."""
        victim = _segments(copy)[1]
        victim.unlink()
        code, out = _cli(copy)
        assert code == 1
        assert f"{_key(copy, victim)}: missing" in out

    def test_truncated_segment(self, copy: Path) -> None:
        """A segment cut short is reported as truncated."""
        victim = _segments(copy)[2]
        victim.write_bytes(victim.read_bytes()[:-100])
        code, out = _cli(copy)
        assert code == 1
        assert f"{_key(copy, victim)}: truncated" in out

    @pytest.mark.parametrize("deep", [False, True])
    def test_bit_flip(self, copy: Path, deep: bool) -> None:
        """One flipped bit (same size) is a checksum mismatch, with or without --deep."""
        victim = _segments(copy)[3]
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x01
        victim.write_bytes(bytes(data))
        code, out = _cli(copy, *(["--deep"] if deep else []))
        assert code == 1
        assert f"{_key(copy, victim)}: checksum_mismatch" in out

    def test_no_manifest_is_invalid(self, copy: Path) -> None:
        """Segments without backup.json are not a valid backup."""
        (copy / "val" / "backup.json").unlink()
        code, out = _cli(copy)
        assert code == 1
        assert "val/backup.json: missing" in out

    def test_overlap_and_unexplained_gap(self, copy: Path) -> None:
        """A manifest whose segments overlap, or leave a hole, is reported with the exact manifest key."""
        manifest = sorted(copy.glob("val/topics/*/0/manifest.json"))[0]
        body = json.loads(manifest.read_text())
        body["segments"][1]["start_offset"] -= 1
        manifest.write_text(json.dumps(body))
        code, out = _cli(copy)
        assert code == 1 and f"{_key(copy, manifest)}: overlap" in out
        body["segments"][1]["start_offset"] += 2
        manifest.write_text(json.dumps(body))
        code, out = _cli(copy)
        assert code == 1 and f"{_key(copy, manifest)}: unexplained_gap" in out

    def test_deep_catches_a_lying_manifest(self, copy: Path) -> None:
        """A wrong record count: the checksum pass catches it in the Parquet footer (count_mismatch), --deep by
        decoding every record (record_mismatch)."""
        manifest = sorted(copy.glob("val/topics/*/1/manifest.json"))[0]
        body = json.loads(manifest.read_text())
        body["segments"][0]["records"] -= 1
        manifest.write_text(json.dumps(body))
        code, out = _cli(copy)
        assert code == 1 and f"{body['segments'][0]['key']}: count_mismatch: the segment holds 20 records" in out
        code, out = _cli(copy, "--deep")
        assert code == 1 and "record_mismatch" in out and body["segments"][0]["key"] in out

    def test_unreferenced_segment_is_a_warning(self, copy: Path) -> None:
        """A segment object no manifest lists (a crash leftover) is a warning; the backup stays valid."""
        stray = _segments(copy)[0].with_name("99999999999999999999-99999999999999999999.parquet")
        shutil.copy(_segments(copy)[0], stray)
        code, out = _cli(copy, "--json")
        assert code == 0
        report = json.loads(out.strip().splitlines()[-1])
        assert report["valid"] is True
        assert [w["object"] for w in report["warnings"]] == [_key(copy, stray)]
