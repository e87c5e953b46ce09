"""Kafka's default partitioner, as the Java client computes it, for restores that repartition.

A keyed record goes to ``toPositive(murmur2(key)) % num_partitions`` (``Utils.murmur2`` with seed ``0x9747b28c``,
``toPositive`` = ``& 0x7fffffff``), exactly like ``org.apache.kafka.clients.producer.internals.BuiltInPartitioner``
and librdkafka's ``murmur2_random`` partitioner. Records with a null key have no "right" partition (the Java client
spreads them in sticky batches); a restore must be deterministic so that a rerun after a crash can recognise what
it already wrote, and must not depend on records it skipped reading, so a null-key record goes to
``(source_partition + source_offset) % num_partitions``: evenly spread, and a function of the record alone.

The restore computes this column-wise in Rust (``kafka_backup.engine._native.partitions_for``); this module is its
reference: the tests pin :func:`murmur2` to the Java client's values and check that the two agree on random keys.
"""

from __future__ import annotations

from collections.abc import Sequence

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Java's ``Utils.murmur2``: a signed 32-bit int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length & ~3
    for i in range(0, whole, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length & 3
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(n: int) -> int:
    return n & 0x7FFFFFFF


def partition_for_key(key: bytes, num_partitions: int) -> int:
    """Where the Java default partitioner puts a record with this (non-null) key."""
    return to_positive(murmur2(key)) % num_partitions


def null_key_partition(source_partition: int, source_offset: int, num_partitions: int) -> int:
    return (source_partition + source_offset) % num_partitions


def assign_partitions(
    keys: Sequence[bytes | None], offsets: Sequence[int], source_partition: int, num_partitions: int
) -> list[int]:
    """Target partition of every record: murmur2 for keys, the stateless spread for null keys."""
    if num_partitions <= 0:
        raise ValueError("num_partitions must be positive")
    n = num_partitions
    return [
        (source_partition + offset) % n if key is None else (murmur2(key) & 0x7FFFFFFF) % n
        for key, offset in zip(keys, offsets, strict=True)
    ]
