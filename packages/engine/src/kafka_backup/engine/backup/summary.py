"""What a backup run reports when it ends: :class:`BackupSummary` and its JSON form (``kafka-backup backup --json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class BackupSummary:
    backup_id: str
    records: int = 0
    uncompressed_bytes: int = 0
    compressed_bytes: int = 0
    segments: int = 0
    partitions: int = 0
    topics: list[str] = field(default_factory=list)
    gaps: int = 0
    duration_s: float = 0.0
    working_s: float = 0.0
    """From the first partition assignment to the end: ``duration_s`` minus start-up and the wait for the group
    (a restarted worker's old session, a rebalance), the time the records/s rate is measured over."""
    status: str = "success"
    codec: str = "zstd"

    @property
    def ratio(self) -> float:
        return self.uncompressed_bytes / self.compressed_bytes if self.compressed_bytes else 0.0

    @property
    def records_per_sec(self) -> float:
        return self.records / self.working_s if self.working_s > 0 else 0.0


def summary_json(summary: BackupSummary) -> str:
    return json.dumps(
        {
            "backup_id": summary.backup_id,
            "status": summary.status,
            "records": summary.records,
            "uncompressed_bytes": summary.uncompressed_bytes,
            "compressed_bytes": summary.compressed_bytes,
            "compression_ratio": round(summary.ratio, 3),
            "segments": summary.segments,
            "partitions": summary.partitions,
            "topics": summary.topics,
            "gaps": summary.gaps,
            "duration_seconds": round(summary.duration_s, 3),
            "working_seconds": round(summary.working_s, 3),
            "records_per_second": round(summary.records_per_sec, 1),
        }
    )
