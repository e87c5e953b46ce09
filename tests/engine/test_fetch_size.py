"""The backup's per-partition fetch size shares one budget between the partitions, within its bounds."""

from __future__ import annotations

import itertools

from kafka_backup.engine.kafka.source import FETCH_BUDGET_BYTES, PARTITION_FETCH_BYTES, partition_fetch_bytes


def test_the_fetch_size_shrinks_with_partitions_within_its_bounds() -> None:
    low, high = PARTITION_FETCH_BYTES
    sizes = [partition_fetch_bytes(n) for n in range(1, 2001)]
    assert all(low <= s <= high for s in sizes)
    assert all(a >= b for a, b in itertools.pairwise(sizes))  # more partitions, never bigger fetches
    assert sizes[0] == high and sizes[-1] == low  # few partitions fetch big, many small
    assert all(s * n <= FETCH_BUDGET_BYTES for n, s in enumerate(sizes, 1) if s > low)  # the budget holds
    assert partition_fetch_bytes(None) == low  # unknown: the memory-safe size
