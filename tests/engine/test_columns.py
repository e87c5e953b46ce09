"""Column-wise helpers of the restore's hot path: offset-map runs."""

from __future__ import annotations

import random

import pytest

from kafka_backup.engine.format.restore_state import Run, build_runs


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
