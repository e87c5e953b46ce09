"""The restore plan as values: per target topic, per source partition, per segment; and the chains it runs in.

A plan is computed from the manifests alone (see :mod:`~kafka_backup.engine.restore.planner`) and never changes
during a run; everything here is frozen. :func:`chains` groups source partitions that share a target partition:
within a chain segments are produced strictly in order, chains are independent (the order every target partition's
stream is produced in, which a resumed run relies on).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kafka_backup.engine.catalog.completeness import Shortfall
from kafka_backup.engine.format.manifest import SegmentEntry

TP = tuple[str, int]


@dataclass(frozen=True)
class SegmentPlan:
    entry: SegmentEntry
    partial: bool
    """The selection cuts through this segment: it is read and filtered (otherwise every record is restored)."""


@dataclass(frozen=True)
class PartitionPlan:
    """One source partition: which segments to read, and where its records go."""

    source_topic: str
    source_partition: int
    target_topic: str
    targets: tuple[int, ...]
    """Target partitions its records may go to (one, unless repartitioning)."""
    segments: tuple[SegmentPlan, ...]
    skipped_segments: int
    records: int
    """Records in the selected segments: exact when ``exact``, else an upper bound."""
    exact: bool
    bytes: int
    bytes_exact: bool
    """False when ``bytes`` is estimated: segments the selection cuts through count their payload pro rata."""
    first_offset: int | None
    last_offset: int | None
    min_timestamp: int | None
    max_timestamp: int | None
    lost_ranges: int
    """Ranges the backup lost to retention inside the selection (logged; nothing to restore there)."""

    @property
    def source(self) -> TP:
        return (self.source_topic, self.source_partition)


@dataclass(frozen=True)
class TopicPlan:
    source_topic: str
    target_topic: str
    partitions: int
    """Target partition count (existing topic, or the one it is created with)."""
    create: bool
    replication_factor: int
    configs: dict[str, str]
    repartition: bool


@dataclass(frozen=True)
class RestorePlan:
    restore_id: str
    backup_id: str
    fingerprint: str
    topics: tuple[TopicPlan, ...]
    partitions: tuple[PartitionPlan, ...]
    time_from: int | None = None
    time_to: int | None = None
    existing_data: str = "refuse"
    occupied: tuple[Occupied, ...] = ()
    """Target partitions of existing topics that already hold records (read when planned)."""
    left_out: tuple[Shortfall, ...] = ()
    """What the backup should hold for the selection but does not (only with ``allow_partial``; else refused)."""

    @property
    def records(self) -> int:
        return sum(p.records for p in self.partitions)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.partitions)

    @property
    def exact(self) -> bool:
        return all(p.exact for p in self.partitions)

    @property
    def segments(self) -> int:
        return sum(len(p.segments) for p in self.partitions)

    @property
    def bytes_exact(self) -> bool:
        return all(p.bytes_exact for p in self.partitions)

    def target_partitions(self) -> list[TP]:
        return sorted({(p.target_topic, t) for p in self.partitions for t in p.targets})

    def to_dict(self) -> dict[str, Any]:
        return {
            "restore_id": self.restore_id,
            "backup_id": self.backup_id,
            "records": self.records,
            "records_exact": self.exact,
            "bytes": self.bytes,
            "bytes_exact": self.bytes_exact,
            "segments": self.segments,
            "segments_skipped": sum(p.skipped_segments for p in self.partitions),
            "time_window": {"from": self.time_from, "to": self.time_to},
            "existing_data": {
                "policy": self.existing_data,
                "records": sum(o.records for o in self.occupied),
                "partitions": [o.to_dict() for o in self.occupied],
            },
            "complete": not self.left_out,
            "left_out": [f.to_dict() for f in self.left_out],
            "topics": [
                {
                    "source": t.source_topic,
                    "target": t.target_topic,
                    "partitions": t.partitions,
                    "create": t.create,
                    "replication_factor": t.replication_factor,
                    "repartition": t.repartition,
                }
                for t in self.topics
            ],
            "partitions": [
                {
                    "source_topic": p.source_topic,
                    "source_partition": p.source_partition,
                    "target_topic": p.target_topic,
                    "target_partitions": "murmur2" if len(p.targets) > 1 else p.targets[0],
                    "records": p.records,
                    "records_exact": p.exact,
                    "bytes": p.bytes,
                    "bytes_exact": p.bytes_exact,
                    "segments": len(p.segments),
                    "segments_skipped": p.skipped_segments,
                    "first_offset": p.first_offset,
                    "last_offset": p.last_offset,
                    "min_timestamp": p.min_timestamp,
                    "max_timestamp": p.max_timestamp,
                    "lost_ranges": p.lost_ranges,
                }
                for p in self.partitions
            ],
        }


@dataclass(frozen=True)
class Occupied:
    """A target partition that holds records: offsets ``[low, high)``."""

    topic: str
    partition: int
    low: int
    high: int

    @property
    def records(self) -> int:
        """Offsets held; an upper bound of the records (compaction and transaction markers leave gaps)."""
        return self.high - self.low

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "records": self.records, "low": self.low,
                "high": self.high}  # fmt: skip


def describe_occupancy(occupied: Sequence[Occupied]) -> str:
    """``orders: 2 partitions hold 10 records (0: 7, 1: 3)``, per topic, for messages."""
    by_topic: dict[str, list[Occupied]] = {}
    for o in occupied:
        by_topic.setdefault(o.topic, []).append(o)
    parts = []
    for topic, items in sorted(by_topic.items()):
        total = sum(o.records for o in items)
        each = ", ".join(f"{o.partition}: {o.records:,}" for o in items)
        noun = "partition holds" if len(items) == 1 else "partitions hold"
        parts.append(f"{topic}: {len(items)} {noun} {total:,} record{'' if total == 1 else 's'} ({each})")
    return "; ".join(parts)


def chains(partitions: Iterable[PartitionPlan]) -> list[list[PartitionPlan]]:
    """Groups of source partitions that share target partitions, each in source (topic, partition) order."""
    plans = sorted(partitions, key=lambda p: p.source)
    parent = list(range(len(plans)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[TP, int] = {}
    for i, plan in enumerate(plans):
        for t in plan.targets:
            j = owner.setdefault((plan.target_topic, t), i)
            parent[find(i)] = find(j)
    groups: dict[int, list[PartitionPlan]] = {}
    for i, plan in enumerate(plans):
        groups.setdefault(find(i), []).append(plan)
    return list(groups.values())


__all__ = [
    "TP",
    "Occupied",
    "PartitionPlan",
    "RestorePlan",
    "SegmentPlan",
    "TopicPlan",
    "chains",
    "describe_occupancy",
]
