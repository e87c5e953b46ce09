"""The documentation's examples run: docs/format.md's Python queries and the README's usage, against a real backup.

Nothing expected is written down here: every count comes from the records the fixture produced.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.restore_support import RECENT_TS, create_topic, make_backup, produce_records
from rig.kafka import KafkaEndpoint

ROOT = Path(__file__).resolve().parents[2]
FORMAT_MD = ROOT / "docs" / "format.md"
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
