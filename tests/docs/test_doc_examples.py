"""The documentation's examples run: docs/format.md's Python queries and the README's usage, against a real backup.

Nothing expected is written down here: every count, record and offset comes from what the fixtures produced. The
README's lines are kept as they are and mapped mechanically: its configs are pointed at the rig's broker (PLAINTEXT),
a local store and the fixture's topics; its file names, storage URL and broker address are replaced in the
command lines.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from cli.test_backup_cli import run_cli
from engine.restore_support import RECENT_TS, create_topic, make_backup, produce_records, read_topic
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.config.base import parse_config
from kafka_backup.engine.config.restore import RestoreConfig
from rig.kafka import KafkaEndpoint

ROOT = Path(__file__).resolve().parents[2]
FORMAT_MD = ROOT / "docs" / "format.md"
README_MD = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_TOKEN = re.compile(r"[^\s│┃|,:;'\"{}()\[\]]+")


def fenced_blocks(markdown: str, lang: str) -> list[str]:
    """The bodies of the fenced code blocks tagged ``lang``, in document order."""
    return [m.group(2) for m in _FENCE.finditer(markdown) if m.group(1) == lang]


FORMAT_EXAMPLES = fenced_blocks(FORMAT_MD.read_text(), "python")


@dataclass(frozen=True)
class Produced:
    """What the fixture wrote to the broker: topic → partition → records."""

    counts: dict[str, Counter[int]]

    @property
    def topics(self) -> list[str]:
        return sorted(self.counts)


@pytest.fixture(scope="module")
def produced(kafka: KafkaEndpoint) -> Produced:
    """Three topics with different partition counts and unevenly filled partitions (a few hundred records each)."""
    tag = uuid.uuid4().hex[:6]
    counts: dict[str, Counter[int]] = {}
    for name, partitions, records in (("orders", 3, 420), ("payments", 2, 250), ("audit", 1, 130)):
        topic = f"{name}-{tag}"
        create_topic(kafka.bootstrap, topic, partitions)
        # partition p takes p + 1 of every few records: a count printed for the wrong partition does not match
        cycle = [p for p in range(partitions) for _ in range(p + 1)]
        rows = [
            (cycle[i % len(cycle)], (f"k{i}".encode(), f"{name} {i}".encode(), RECENT_TS + i, None))
            for i in range(records)
        ]
        produce_records(kafka.bootstrap, topic, rows)
        counts[topic] = Counter(p for p, _ in rows)
    return Produced(counts)


@pytest.fixture(scope="module")
def docs_dir(kafka: KafkaEndpoint, produced: Produced, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ``backups/daily/...``: the backup the docs' examples read (storage ``file://./backups``)."""
    directory = tmp_path_factory.mktemp("docs")
    make_backup(kafka.bootstrap, directory / "backups", "daily", produced.topics, max_records=50)
    return directory


def shows_counts(output: str, topic: str, per_partition: Counter[int]) -> bool:
    """Whether ``output`` has, for every partition, a line naming the topic, the partition and its record count; or
    one line naming the topic and its total."""
    lines = [set(_TOKEN.findall(re.sub(r"(?<=\d),(?=\d{3})", "", line))) for line in output.splitlines()]
    lines = [tokens for tokens in lines if topic in tokens]

    def has(*values: object) -> bool:
        return any({str(v) for v in values} <= tokens for tokens in lines)

    return all(has(p, n) for p, n in per_partition.items()) or has(per_partition.total())


class TestFormatExamples:
    def test_there_are_examples(self) -> None:
        """docs/format.md shows runnable Python queries, with pyarrow and with DuckDB."""
        assert FORMAT_EXAMPLES, "docs/format.md has no ```python block"
        assert any("import pyarrow" in code for code in FORMAT_EXAMPLES)
        assert any("import duckdb" in code for code in FORMAT_EXAMPLES)

    @pytest.mark.parametrize("code", FORMAT_EXAMPLES, ids=[f"example{i + 1}" for i in range(len(FORMAT_EXAMPLES))])
    def test_example_prints_true_counts(self, code: str, docs_dir: Path, produced: Produced) -> None:
        """Run from the directory holding the backup, the example exits 0 and prints every topic's true counts."""
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=docs_dir, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        for topic, per_partition in produced.counts.items():
            assert shows_counts(result.stdout, topic, per_partition), (topic, dict(per_partition), result.stdout)


# ---- README.md ------------------------------------------------------------------------------------------------------


def readme_yaml(name: str) -> dict[str, Any]:
    """The README's YAML block that starts with the comment ``# <name>``, parsed."""
    blocks = [b for b in fenced_blocks(README_MD.read_text(), "yaml") if b.startswith(f"# {name}")]
    assert len(blocks) == 1, f"README.md should show one {name} block, it shows {len(blocks)}"
    loaded = yaml.safe_load(blocks[0])
    assert isinstance(loaded, dict)
    return loaded


def readme_commands() -> list[list[str]]:
    """Every ``kafka-backup ...`` line of the README's bash blocks, split as a shell would (comments dropped)."""
    return [
        shlex.split(line, comments=True)
        for block in fenced_blocks(README_MD.read_text(), "bash")
        for line in block.splitlines()
        if line.startswith("kafka-backup ")
    ]


def adapt_backup(doc: dict[str, Any], *, bootstrap: str, url: str, topics: list[str]) -> dict[str, Any]:
    """backup.yaml on the rig: its broker without security, a local store, the fixture's topics; metrics on a free
    port (the service prints where)."""
    source = {k: v for k, v in doc["source"].items() if k != "security"}
    return {
        **doc,
        "source": {**source, "bootstrap_servers": bootstrap},
        "topics": {**doc["topics"], "include": topics},
        "storage": {"url": url},
        "metrics": {"port": 0},
    }


def adapt_restore(doc: dict[str, Any], *, bootstrap: str, url: str, topic: str) -> dict[str, Any]:
    """restore.yaml on the rig: the README's one rename applied to ``topic`` (``orders.eu`` → ``orders.eu.restored``
    becomes ``<topic>`` → ``<topic>.restored``)."""
    ((source, target),) = doc["topic_map"].items()
    assert doc["topics"]["include"] == [source], "the README restores the topic it renames"
    target_doc = {k: v for k, v in doc["target"].items() if k != "security"}
    return {
        **doc,
        "target": {**target_doc, "bootstrap_servers": bootstrap},
        "storage": {"url": url},
        "topics": {**doc["topics"], "include": [topic]},
        "topic_map": {topic: topic + target.removeprefix(source)},
    }


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - the service on loopback
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def serve_until_ready(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Start ``kafka-backup service``, wait until the /readyz next to the metrics URL it prints answers 200, then
    SIGTERM it; returns the finished process."""
    command = [sys.executable, "-m", "kafka_backup.cli", *args]
    env = {**os.environ, "KAFKA_BACKUP_LOG_LEVEL": "warning"}
    stderr: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None

        def drain(stream: IO[str]) -> None:
            stderr.extend(stream)

        reader = threading.Thread(target=drain, args=(proc.stderr,), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + timeout
            status = None
            while status != 200:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(f"service never ready (readyz {status}): {''.join(stderr)[-3000:]}")
                printed = [m for line in list(stderr) if (m := re.search(r"serving metrics at (\S+)", line))]
                if printed:
                    where = urlsplit(printed[0].group(1))
                    status = http_status(f"{where.scheme}://{where.netloc}/readyz")
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            stdout = proc.stdout.read()  # the summary, a few lines: the pipe never fills
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            reader.join(timeout=10)
    return subprocess.CompletedProcess(command, proc.returncode, stdout, "".join(stderr))


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found}


def commit_offsets(bootstrap: str, group: str, offsets: list[TopicPartition]) -> None:
    """Commit ``offsets`` for ``group`` without joining it (the group stays without members)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


class TestReadme:
    def test_backup_yaml_is_a_valid_config(self) -> None:
        """The README's backup.yaml parses as a backup job, its password taken from the environment."""
        config = parse_config(BackupConfig, readme_yaml("backup.yaml"), "README.md", environ={"KAFKA_PASSWORD": "x"})
        assert config.source.security.protocol == "SASL_SSL"
        assert config.source.security.sasl_password is not None
        assert config.source.security.sasl_password.get_secret_value() == "x"

    def test_restore_yaml_is_a_valid_config(self) -> None:
        """The README's restore.yaml parses as a restore job of the backup its backup.yaml makes, with a rename."""
        config = parse_config(RestoreConfig, readme_yaml("restore.yaml"), "README.md", environ={})
        backup = readme_yaml("backup.yaml")
        assert (config.backup_id, config.storage.url) == (backup["backup_id"], backup["storage"]["url"])
        assert config.topic_map

    def test_usage_lines_run(self, kafka: KafkaEndpoint, produced: Produced, tmp_path: Path) -> None:
        """Every kafka-backup line of the README, in order, exits 0 against the real broker and a local store; what
        they back up, plan, restore and translate is what the fixture produced."""
        backup_doc, restore_doc = readme_yaml("backup.yaml"), readme_yaml("restore.yaml")
        url = f"file://{tmp_path / 'store'}"
        renamed = max(produced.topics, key=lambda topic: len(produced.counts[topic]))  # the most partitions
        backup_yaml, restore_yaml = tmp_path / "backup.yaml", tmp_path / "restore.yaml"
        backup_yaml.write_text(
            yaml.safe_dump(adapt_backup(backup_doc, bootstrap=kafka.bootstrap, url=url, topics=produced.topics))
        )
        restore_cfg = adapt_restore(restore_doc, bootstrap=kafka.bootstrap, url=url, topic=renamed)
        restore_yaml.write_text(yaml.safe_dump(restore_cfg))
        target = restore_cfg["topic_map"][renamed]
        replace = {
            "backup.yaml": str(backup_yaml),
            "restore.yaml": str(restore_yaml),
            backup_doc["storage"]["url"]: url,
            restore_doc["target"]["bootstrap_servers"]: kafka.bootstrap,
        }
        # a consumer group halfway through the renamed topic, captured by the backup, translated by the restore
        group = f"billing-{uuid.uuid4().hex[:6]}"
        halfway = {p: n // 2 for p, n in produced.counts[renamed].items()}
        commit_offsets(kafka.bootstrap, group, [TopicPartition(renamed, p, o) for p, o in halfway.items()])

        commands = readme_commands()
        verbs = [c[1] for c in commands]
        assert {"backup", "service", "validate", "list", "restore", "drill"} <= set(verbs), verbs
        assert [c[0] for c in commands] == ["kafka-backup"] * len(commands)
        for command in commands:
            args = [replace.get(a, a) for a in command[1:]]
            result = serve_until_ready(args) if args[0] == "service" else run_cli(*args, timeout=300)
            assert result.returncode == 0, f"{shlex.join(command)}: {result.stderr[-3000:]}"
            if args[0] == "backup":
                assert f"Records: {sum(c.total() for c in produced.counts.values()):,}" in result.stdout
            elif args[0] == "list":
                assert backup_doc["backup_id"] in result.stdout
            elif args[0] == "restore" and "--dry-run" in args:
                for p, n in produced.counts[renamed].items():
                    assert any(f"{renamed}-{p} " in line and f" {n:,} " in line for line in result.stdout.splitlines())
                assert target not in AdminClient({"bootstrap.servers": kafka.bootstrap}).list_topics(timeout=10).topics
            elif args[0] == "restore":
                self.check_restored(kafka.bootstrap, renamed, target)
                if "--reset-consumer-groups" in args:
                    self.check_translated(kafka.bootstrap, group, halfway, renamed, target)

    @staticmethod
    def check_restored(bootstrap: str, source: str, target: str) -> None:
        """The target holds the source's records: per partition, in order, keys, values and timestamps."""

        def records(topic: str) -> list[tuple[int, int, bytes | None, bytes | None]]:
            return [(r[1], r[3], r[5], r[6]) for r in read_topic(bootstrap, topic)]

        assert records(target) == records(source)

    @staticmethod
    def check_translated(bootstrap: str, group: str, committed: dict[int, int], source: str, target: str) -> None:
        """The group's offsets on the target point at the target copy of the first record it had not consumed."""
        rows = read_topic(bootstrap, source), read_topic(bootstrap, target)
        expected = {}
        for p, offset in committed.items():
            source_offsets, target_offsets = ([r[2] for r in side if r[1] == p] for side in rows)
            expected[p] = target_offsets[next(i for i, o in enumerate(source_offsets) if o >= offset)]
        assert committed_offsets(bootstrap, group, target, sorted(committed)) == expected
