"""A corrupted ``snapshot.json`` or partition manifest of a real backup, through the CLI: every command names the
object and fails as an integrity problem (BACKUP_CORRUPT class, exit 1), never INTERNAL_ERROR; an unknown major
version is FORMAT_UNSUPPORTED with the versions understood."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.restore_support import make_backup, numbered_topic
from kafka_backup.cli.main import cli
from rig.kafka import KafkaEndpoint

BACKUP = "corrupt"


@pytest.fixture(scope="module")
def sound(kafka: KafkaEndpoint, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A complete snapshot backup of 2 partitions x 100 records by the real backup engine."""
    topic = numbered_topic(kafka.bootstrap, "corrupt", 200, partitions=2)
    root = tmp_path_factory.mktemp("corrupt")
    make_backup(kafka.bootstrap, root, BACKUP, [topic], max_records=40)
    return topic, root


@pytest.fixture
def copy(sound: tuple[str, Path], tmp_path: Path) -> Path:
    shutil.copytree(sound[1], tmp_path / "b")
    return tmp_path / "b"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _commands(kafka: KafkaEndpoint, root: Path, topic: str) -> dict[str, list[str]]:
    url = f"file://{root}"
    target = f"{topic}-r{uuid.uuid4().hex[:4]}"
    return {
        "describe": ["describe", "-s", url, "-b", BACKUP],
        "validate": ["validate", "-s", url, "-b", BACKUP],
        "restore": ["restore", "-s", url, "-b", BACKUP, "--bootstrap-servers", kafka.bootstrap,
                    "--topic-map", f"{topic}={target}", "--dry-run", "--no-progress"],
    }  # fmt: skip


class TestCorruptObjects:
    def test_sound_backup_passes(self, kafka: KafkaEndpoint, sound: tuple[str, Path]) -> None:
        """The untouched backup: describe, validate and restore --dry-run all exit 0 (the checks below can pass)."""
        for name, args in _commands(kafka, sound[1], sound[0]).items():
            exit_code, output = _run(*args)
            assert exit_code == 0, (name, output)

    def test_corrupt_snapshot(self, kafka: KafkaEndpoint, sound: tuple[str, Path], copy: Path) -> None:
        """snapshot.json cut short: describe says incomplete naming it, validate fails on it, restore refuses with
        BACKUP_CORRUPT naming it (no INTERNAL_ERROR anywhere)."""
        key = f"{BACKUP}/snapshot.json"
        path = copy / key
        path.write_text(path.read_text()[:40])
        commands = _commands(kafka, copy, sound[0])
        exit_code, output = _run(*commands["describe"])
        assert exit_code == 0 and f"incomplete: snapshot_unreadable: {key}: snapshot checkpoint is not valid JSON" in (
            output
        )
        exit_code, output = _run(*commands["validate"])
        assert exit_code == 1 and f"defect  {key}: snapshot_unreadable: {key}: " in output, output
        for extra in ((), ("--allow-partial",)):
            exit_code, output = _run(*commands["restore"], *extra)
            assert exit_code == 1, output
            assert output.startswith("error[BACKUP_CORRUPT]: ") and f"snapshot_unreadable: {key}: " in output
            assert "INTERNAL_ERROR" not in output

    def test_corrupt_partition_manifest(self, kafka: KafkaEndpoint, sound: tuple[str, Path], copy: Path) -> None:
        """A partition manifest without its segment list: each command names the key and the missing field."""
        topic = sound[0]
        key = f"{BACKUP}/topics/{topic}/1/manifest.json"
        body = json.loads((copy / key).read_text())
        del body["segments"]
        (copy / key).write_text(json.dumps(body))
        commands = _commands(kafka, copy, topic)
        detail = f"{key}: partition manifest lacks the required field 'segments'"
        exit_code, output = _run(*commands["describe"])
        assert exit_code == 0 and f"incomplete: {topic}-1: manifest_unreadable: {detail}" in output, output
        exit_code, output = _run(*commands["validate"])
        assert exit_code == 1 and f"defect  {key}: manifest_unreadable: {detail}" in output, output
        exit_code, output = _run(*commands["restore"])
        assert exit_code == 1 and output.startswith("error[BACKUP_CORRUPT]: ") and detail in output, output

    def test_backup_json_of_unknown_major(self, kafka: KafkaEndpoint, sound: tuple[str, Path], copy: Path) -> None:
        """backup.json claiming version 2.0: describe and restore refuse with FORMAT_UNSUPPORTED (exit 1) naming the
        key, the version and 1.x; validate reports it as the unparseable defect with the same words."""
        key = f"{BACKUP}/backup.json"
        body = json.loads((copy / key).read_text())
        (copy / key).write_text(json.dumps({**body, "version": "2.0"}))
        commands = _commands(kafka, copy, sound[0])
        words = f"{key}: backup manifest has format version 2.0; this kafka-backup reads kafka-backup-backup 1.x"
        for name in ("describe", "restore"):
            exit_code, output = _run(*commands[name])
            assert exit_code == 1 and output.startswith(f"error[FORMAT_UNSUPPORTED]: {words}"), (name, output)
        exit_code, output = _run(*commands["validate"])
        assert exit_code == 1 and f"defect  {key}: unparseable: {words}" in output, output
