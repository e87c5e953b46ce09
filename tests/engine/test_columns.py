"""Column-wise helpers of the restore's hot path: header lists for the producer, offset-map runs."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from kafka_backup.engine.format.restore_state import Run, build_runs
from kafka_backup.engine.format.segment import HEADER_TYPE, header_lists

Headers = list[tuple[str, bytes | None]] | None

ROWS: list[Headers] = [
    [("a", b"1"), ("b", None)],
    None,
    [],
    [("c", b"x"), ("c", b"x"), ("dup", b"")],
    None,
    [("d", b"")],
]


def reference(array: pa.Array) -> list[Headers]:
    """What the record-by-record conversion made: Arrow's own ``to_pylist`` turned into pairs."""
    return [None if row is None else [(h["key"], h["value"]) for h in row] for row in array.to_pylist()]


class TestHeaderLists:
    def test_whole_array(self) -> None:
        """Order, duplicates, null header values, empty lists and records without headers survive."""
        assert header_lists(pa.array(ROWS, HEADER_TYPE)) == ROWS

    def test_every_slice(self) -> None:
        """A filtered or sliced column (point-in-time restores) gives exactly the headers of its records."""
        array = pa.array(ROWS, HEADER_TYPE)
        for start in range(len(ROWS)):
            for stop in range(start, len(ROWS) + 1):
                part = array.slice(start, stop - start)
                assert header_lists(part) == reference(part), (start, stop)

    def test_chunked(self) -> None:
        chunked = pa.chunked_array([pa.array(ROWS[:2], HEADER_TYPE), pa.array(ROWS[2:], HEADER_TYPE)])
        assert header_lists(chunked) == ROWS

    def test_null_backed_by_values(self) -> None:
        """A null list whose offsets still span child values (legal Arrow) does not shift the following records."""
        child = pa.array([{"key": f"k{i}", "value": b"v"} for i in range(3)], HEADER_TYPE.value_type)
        offsets = pa.array([0, 1, 2, 3], pa.int32())
        array = pa.ListArray.from_arrays(offsets, child, mask=pa.array([False, True, False]))
        assert header_lists(array) == [[("k0", b"v")], None, [("k2", b"v")]]


def expand(runs: dict[int, tuple[Run, ...]]) -> set[tuple[int, int, int]]:
    triples: set[tuple[int, int, int]] = set()
    for partition, partition_runs in runs.items():
        for run in partition_runs:
            triples |= {(run.source + k, partition, run.target + k) for k in range(run.length)}
    return triples


class TestBuildRuns:
    def test_contiguous_segment_is_one_run(self) -> None:
        runs = build_runs(list(range(100, 200)), [3] * 100, list(range(7, 107)))
        assert expand(runs) == {(100 + k, 3, 7 + k) for k in range(100)}
        assert len(runs[3]) == 1

    @pytest.mark.parametrize("seed", range(20))
    def test_runs_reproduce_every_record(self, seed: int) -> None:
        """Gaps in source or target offsets and several partitions: the runs still map every record exactly."""
        rng = random.Random(seed)  # noqa: S311 - test data
        n = rng.randrange(1, 60)
        sources = sorted(rng.sample(range(1000), n)) if seed % 2 else list(range(50, 50 + n))
        partitions = [rng.randrange(rng.choice((1, 3))) for _ in range(n)]
        nxt: dict[int, int] = {}
        targets = []
        for part in partitions:
            nxt[part] = nxt.get(part, 0) + (rng.randrange(1, 3) if seed % 3 == 0 else 1)
            targets.append(nxt[part])
        runs = build_runs(sources, partitions, targets)
        assert expand(runs) == set(zip(sources, partitions, targets, strict=True))
