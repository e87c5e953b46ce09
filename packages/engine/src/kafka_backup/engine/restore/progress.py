"""How far a restore run is, and what it did: the :class:`Progress` reports, the :class:`RestoreSummary`, and the
:class:`RestoreTracker` that keeps both and the progress gauges.

Counts are records of the selection: ``done`` grows by the records produced and acknowledged (at each checkpoint)
and by those found already restored by an earlier run; ``total`` shrinks when a segment turns out to hold fewer
selected records than its manifest entry (a segment the selection cuts through). Reported once per checkpoint and
per resumed prefix, never per record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka_backup.engine.catalog.completeness import Shortfall
from kafka_backup.telemetry.catalog import Metrics


@dataclass(frozen=True)
class Progress:
    """Reported after every segment: records restored (or found already restored) over the selection."""

    done: int
    total: int
    bytes: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def percent(self) -> float:
        return 100.0 if self.total <= 0 else min(100.0, 100.0 * self.done / self.total)

    @property
    def eta_s(self) -> float | None:
        if self.done >= self.total:
            return 0.0
        return (self.total - self.done) / self.rate if self.rate > 0 else None


@dataclass
class RestoreSummary:
    restore_id: str
    backup_id: str
    status: str = "success"
    records: int = 0
    """Records produced by this run."""
    resumed_records: int = 0
    """Records found already restored by an earlier run (skipped, not produced again)."""
    bytes: int = 0
    segments_read: int = 0
    segments_skipped: int = 0
    """Segments outside the selection, never read."""
    topics_created: list[str] = field(default_factory=list)
    existing_records: int = 0
    """Records a new restore found in its target partitions (kept with ``append``, deleted with ``truncate``)."""
    truncated_records: int = 0
    duration_s: float = 0.0
    offset_reset: list[dict[str, Any]] = field(default_factory=list)
    left_out: list[Shortfall] = field(default_factory=list)
    """What an incomplete backup lacks for the selection, restored without (``allow_partial``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "restore_id": self.restore_id,
            "backup_id": self.backup_id,
            "status": self.status,
            "complete": not self.left_out,
            "left_out": [f.to_dict() for f in self.left_out],
            "records": self.records,
            "resumed_records": self.resumed_records,
            "bytes": self.bytes,
            "segments_read": self.segments_read,
            "segments_skipped": self.segments_skipped,
            "topics_created": self.topics_created,
            "existing_records": self.existing_records,
            "truncated_records": self.truncated_records,
            "duration_seconds": round(self.duration_s, 3),
            "records_per_second": round(self.records / self.duration_s, 1) if self.duration_s else 0.0,
            "offset_reset": self.offset_reset,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


class RestoreTracker:
    """The run's counts, its summary and its progress gauges; one per run, not thread-safe."""

    def __init__(
        self, summary: RestoreSummary, metrics: Metrics, on_progress: Callable[[Progress], None] | None = None
    ) -> None:
        self.summary = summary
        self.metrics = metrics
        self.on_progress = on_progress
        self.labels = {"restore_id": summary.restore_id, "backup_id": summary.backup_id}
        self.started = time.monotonic()
        self.done = 0
        self.total = 0
        self.bytes_done = 0

    def found_restored(self, records: int) -> None:
        """Records an earlier run already restored: done, not produced again."""
        self.done += records
        self.summary.resumed_records += records

    def restored_before(self, entry_records: int, kept: int, nbytes: int) -> None:
        """A segment an earlier run mapped: its ``kept`` records count as done (see :meth:`segment_read`)."""
        self.segment_read(entry_records, kept)
        self.found_restored(kept)
        self.bytes_done += nbytes

    def acknowledged(self, records: int, nbytes: int) -> None:
        """A produced segment's ``records`` acknowledged and mapped (``nbytes``: its selected payload)."""
        self.done += records
        self.bytes_done += nbytes
        self.summary.records += records
        self.summary.bytes += nbytes if records else 0

    def segment_read(self, entry_records: int, kept: int) -> None:
        """A segment of ``entry_records`` in its manifest entry yields ``kept`` selected records."""
        self.total -= entry_records - kept

    def unread(self, entry_records: int, kept: int, skipped: int) -> None:
        """Undo :meth:`segment_read` and :meth:`found_restored` of a segment that will be produced again (its
        producer was replaced before the segment was acknowledged)."""
        self.total += entry_records - kept
        self.done -= skipped
        self.summary.resumed_records -= skipped
        self.summary.segments_read -= 1

    def report(self, final: bool = False) -> None:
        elapsed = time.monotonic() - self.started
        if final:
            self.done = self.total = max(self.done, self.total)
        progress = Progress(self.done, self.total, self.bytes_done, elapsed)
        m = self.metrics
        m.restore_progress_percent.set(100.0 if final else progress.percent, self.labels)
        m.restore_throughput_records_per_sec.set(self.summary.records / elapsed if elapsed > 0 else 0.0, self.labels)
        eta = progress.eta_s
        if eta is not None:
            m.restore_eta_seconds.set(0.0 if final else eta, self.labels)
        if self.on_progress is not None:
            self.on_progress(progress)


__all__ = ["Progress", "RestoreSummary", "RestoreTracker"]
