"""Manifests: what a backup holds, and the commit point of every write.

Where each object lives is :mod:`kafka_backup.engine.format.layout`; how it is wrapped and checked on read (format
marker, ``MAJOR.MINOR`` version, corruption as ``BACKUP_CORRUPT`` with the key) is
:mod:`kafka_backup.engine.format.envelope`; reading and writing them over a store is
:class:`kafka_backup.engine.repository.Repository`.

A partition manifest covers the offset range ``[start_offset, next_offset)`` completely: its segments and gaps,
in offset order, tile that range without holes or overlaps (segment ``k+1`` starts where ``k`` ends). A segment's
range ``[start_offset, end_offset)`` may hold fewer records than offsets (compaction, transaction markers); a gap is
a range with no records, either ``no_records`` (read, nothing there) or ``retention`` (deleted by the broker before
we read it: data loss, logged and counted).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from kafka_backup.engine.errors import IntegrityError
from kafka_backup.engine.format.envelope import BACKUP_MANIFEST, PARTITION_MANIFEST, SNAPSHOT, Stored

__all__ = [
    "BACKUP_FORMAT", "MANIFEST_FORMAT", "BackupManifest", "BackupStatus", "Gap", "GapReason", "PartitionManifest",
    "SegmentEntry", "Snapshot", "TopicInfo", "now_ms",
]  # fmt: skip

MANIFEST_FORMAT = PARTITION_MANIFEST.marker
BACKUP_FORMAT = BACKUP_MANIFEST.marker

GapReason = Literal["no_records", "retention"]
BackupStatus = Literal["running", "complete", "stopped"]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class SegmentEntry:
    key: str
    start_offset: int
    end_offset: int
    first_offset: int
    last_offset: int
    records: int
    size: int
    uncompressed_bytes: int
    sha256: str
    codec: str
    first_timestamp: int
    last_timestamp: int
    min_timestamp: int
    max_timestamp: int
    created_at: int


@dataclass(frozen=True)
class Gap:
    start_offset: int
    end_offset: int
    reason: GapReason
    detected_at: int


@dataclass(frozen=True)
class PartitionManifest(Stored):
    backup_id: str
    topic: str
    partition: int
    start_offset: int
    next_offset: int
    segments: tuple[SegmentEntry, ...] = ()
    gaps: tuple[Gap, ...] = ()
    updated_at: int = field(default_factory=now_ms)

    @property
    def records(self) -> int:
        return sum(s.records for s in self.segments)

    @property
    def size(self) -> int:
        return sum(s.size for s in self.segments)

    @property
    def uncompressed_bytes(self) -> int:
        return sum(s.uncompressed_bytes for s in self.segments)

    def with_segment(self, entry: SegmentEntry) -> PartitionManifest:
        if entry.start_offset != self.next_offset:
            raise IntegrityError(
                f"segment {entry.key} starts at {entry.start_offset}, manifest ends at {self.next_offset}"
            )
        return replace(self, segments=(*self.segments, entry), next_offset=entry.end_offset, updated_at=now_ms())

    def with_gap(self, end_offset: int, reason: GapReason) -> PartitionManifest:
        gap = Gap(self.next_offset, end_offset, reason, now_ms())
        return replace(self, gaps=(*self.gaps, gap), next_offset=end_offset, updated_at=now_ms())

    FORMAT = PARTITION_MANIFEST
    NAME = "manifest"

    @classmethod
    def _from_body(cls, body: dict[str, Any]) -> PartitionManifest:
        return cls(
            backup_id=body["backup_id"],
            topic=body["topic"],
            partition=int(body["partition"]),
            start_offset=int(body["start_offset"]),
            next_offset=int(body["next_offset"]),
            segments=tuple(SegmentEntry(**s) for s in body["segments"]),
            gaps=tuple(Gap(**g) for g in body["gaps"]),
            updated_at=int(body["updated_at"]),
        )


@dataclass(frozen=True)
class TopicInfo:
    partitions: int
    replication_factor: int
    configs: dict[str, str]


@dataclass(frozen=True)
class BackupManifest(Stored):
    """Backup-level metadata, rewritten at the start and end of each run (last writer wins: all writers agree)."""

    backup_id: str
    created_at: int
    updated_at: int
    topics: dict[str, TopicInfo]
    consumer_groups: dict[str, dict[str, dict[str, int]]]
    """group → topic → partition (as a string) → committed offset, at backup time."""
    compression: str
    status: BackupStatus
    """``running`` (a run is writing, or died), ``complete`` (snapshot reached its targets) or ``stopped``
    (continuous run shut down cleanly at its last commit); see :mod:`kafka_backup.engine.catalog.completeness`."""
    completed_at: int | None = None
    source_cluster_id: str | None = None
    mode: Literal["snapshot", "continuous"] | None = None
    """The mode of the last run (None: written before the field existed)."""
    stopped_at: int | None = None
    """When a continuous run last shut down cleanly (status ``stopped``)."""

    FORMAT = BACKUP_MANIFEST
    NAME = "backup.json"

    @classmethod
    def _from_body(cls, body: dict[str, Any]) -> BackupManifest:
        if body.get("status") not in ("running", "complete", "stopped"):
            raise ValueError(f"unknown status {body.get('status')!r}")
        return cls(
            backup_id=body["backup_id"],
            created_at=int(body["created_at"]),
            updated_at=int(body["updated_at"]),
            topics={k: TopicInfo(**v) for k, v in body["topics"].items()},
            consumer_groups=body["consumer_groups"],
            compression=body["compression"],
            status=body["status"],
            completed_at=body.get("completed_at"),
            source_cluster_id=body.get("source_cluster_id"),
            mode=body.get("mode"),
            stopped_at=body.get("stopped_at"),
        )


@dataclass(frozen=True)
class Snapshot(Stored):
    """Target end offsets captured when a snapshot run starts: topic → partition (string) → end offset."""

    backup_id: str
    started_at: int
    targets: dict[str, dict[str, int]]
    status: Literal["running", "complete"] = "running"

    def target(self, topic: str, partition: int) -> int | None:
        return self.targets.get(topic, {}).get(str(partition))

    def partitions(self) -> list[tuple[str, int]]:
        return [(t, int(p)) for t, parts in sorted(self.targets.items()) for p in sorted(parts, key=int)]

    FORMAT = SNAPSHOT
    NAME = "snapshot.json"

    @classmethod
    def _from_body(cls, body: dict[str, Any]) -> Snapshot:
        status = body["status"]
        if status not in ("running", "complete"):
            raise ValueError(f"unknown status {status!r}")
        targets = {str(t): {str(p): int(end) for p, end in parts.items()} for t, parts in body["targets"].items()}
        return cls(body["backup_id"], int(body["started_at"]), targets, status)
