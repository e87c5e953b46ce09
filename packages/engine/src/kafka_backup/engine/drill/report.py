"""The drill's report (per partition checks, deductions, what the backup lacks, the scratch topics' fate), its
JSON form, and the score and result (defined in ``docs/drill.md``).

Invariant: the score only ever falls for a reason the report names (bad records, defects, a missed RTO target), and
a drill that could not run to the end, or drilled an incomplete backup, fails whatever its score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from kafka_backup.engine.catalog.completeness import Shortfall
from kafka_backup.engine.catalog.validate import Finding
from kafka_backup.engine.errors import BackupError
from kafka_backup.engine.format.manifest import now_ms

DATA_WEIGHT = 100.0
DEFECT_POINTS = 5.0
DEFECT_CAP = 50.0
RTO_CAP = 25.0

Result = Literal["pass", "fail", "partial"]


@dataclass
class PartitionCheck:
    """One source partition: the backup's records against what its scratch partition serves."""

    topic: str
    partition: int
    scratch_topic: str
    expected: int = 0
    """Records the backup holds for the drilled segments (restorable or not)."""
    restored: int = 0
    """Records read back from the scratch partition."""
    matched: int = 0
    missing: int = 0
    unexpected: int = 0
    misordered: int = 0
    unrestorable_segments: int = 0
    backup_digest: str = ""
    restored_digest: str = ""

    @property
    def ok(self) -> bool:
        return self.expected == self.matched == self.restored and not self.misordered

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "scratch_topic": self.scratch_topic,
            "expected": self.expected,
            "restored": self.restored,
            "matched": self.matched,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "misordered": self.misordered,
            "unrestorable_segments": self.unrestorable_segments,
            "backup_digest": self.backup_digest,
            "restored_digest": self.restored_digest,
            "ok": self.ok,
        }


@dataclass
class Deductions:
    data: float = 0.0
    integrity: float = 0.0
    rto: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {"data": round(self.data, 4), "integrity": round(self.integrity, 4), "rto": round(self.rto, 4)}


@dataclass
class DrillReport:
    drill: str
    backup_id: str
    restore_id: str
    scratch_prefix: str
    min_score: float
    rto_target_s: float | None
    started_at: int = field(default_factory=now_ms)
    score: float = 0.0
    result: Result = "fail"
    stopped: bool = False
    error: str | None = None
    """Why the drill could not run to the end (the score is then 0)."""
    failure: BackupError | None = field(default=None, repr=False, compare=False)
    """The error behind ``error``, for the CLI's error line (code, message, hint); not part of the report's JSON."""
    backup_completed_at: int | None = None
    backup_age_s: float | None = None
    backup_status: str | None = None
    rto_s: float | None = None
    """Restore duration; None when the restore did not complete."""
    duration_s: float = 0.0
    records_restored: int = 0
    segments_skipped: int = 0
    """Unrestorable segments the restore went around."""
    defects: list[Finding] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)
    """What the backup should hold for the drilled topics but does not: the drill cannot pass with any."""
    partitions: list[PartitionCheck] = field(default_factory=list)
    deductions: Deductions = field(default_factory=Deductions)
    scratch_topics: list[str] = field(default_factory=list)
    scratch_deleted: bool = False
    cleanup_error: str | None = None

    @property
    def passed(self) -> bool:
        return self.result == "pass"

    def total(self, name: str) -> int:
        return sum(int(getattr(p, name)) for p in self.partitions)

    def settle(self) -> None:
        """Score and classify the finished drill (a drill that could not run to the end scores 0)."""
        bad = self.total("missing") + self.total("unexpected") + self.total("misordered")
        self.score, self.deductions = score(
            expected=self.total("expected"),
            bad_records=bad,
            defects=len(self.defects),
            rto_s=self.rto_s,
            rto_target_s=self.rto_target_s,
        )
        if self.error is not None:
            self.score = 0.0
        self.result = classify(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "drill": self.drill,
            "backup_id": self.backup_id,
            "restore_id": self.restore_id,
            "result": self.result,
            "passed": self.passed,
            "score": self.score,
            "min_score": self.min_score,
            "deductions": self.deductions.to_dict(),
            "error": self.error,
            "stopped": self.stopped,
            "records": {name: self.total(name) for name in ("expected", "restored", "matched", "missing", "unexpected")}
            | {"misordered": self.total("misordered"), "produced": self.records_restored},
            "rto_seconds": None if self.rto_s is None else round(self.rto_s, 3),
            "rto_target_seconds": self.rto_target_s,
            "duration_seconds": round(self.duration_s, 3),
            "backup": {
                "status": self.backup_status,
                "completed_at": self.backup_completed_at,
                "age_seconds": None if self.backup_age_s is None else round(self.backup_age_s, 3),
            },
            "completeness": {
                "complete": not self.shortfalls,
                "shortfalls": [f.to_dict() for f in self.shortfalls],
            },
            "validation": {
                "defects": [f.__dict__ for f in self.defects],
                "segments_skipped": self.segments_skipped,
            },
            "partitions": [p.to_dict() for p in self.partitions],
            "scratch": {
                "prefix": self.scratch_prefix,
                "topics": self.scratch_topics,
                "deleted": self.scratch_deleted,
                "cleanup_error": self.cleanup_error,
            },
            "started_at": self.started_at,
        }


# ---- the score ---------------------------------------------------------------------------------------------------


def score(
    *,
    expected: int,
    bad_records: int,
    defects: int,
    rto_s: float | None,
    rto_target_s: float | None,
) -> tuple[float, Deductions]:
    """``100 - data - integrity - rto``, floored to 0.01 and to [0, 100] (documented in docs/drill.md).

    - data: ``100 * bad_records / max(expected, 1)`` (missing + unexpected + misordered records), at most 100;
    - integrity: 5 points per validation defect of the drilled topics, at most 50;
    - rto: with a target, ``25 * (rto - target) / target`` when the restore took longer, at most 25.

    Flooring (not rounding) keeps any defect below 100: one bad record in ten million still fails ``min_score 100``.
    """
    d = Deductions()
    d.data = min(DATA_WEIGHT, DATA_WEIGHT * bad_records / max(expected, 1))
    d.integrity = min(DEFECT_CAP, DEFECT_POINTS * defects)
    if rto_target_s is not None and rto_s is not None and rto_s > rto_target_s:
        d.rto = min(RTO_CAP, RTO_CAP * (rto_s - rto_target_s) / rto_target_s)
    raw = 100.0 - d.data - d.integrity - d.rto
    return max(0.0, math.floor(raw * 100) / 100), d


def classify(report: DrillReport) -> Result:
    """pass: score >= min_score; partial: below it, but every record verified and no defect (only the RTO missed);
    fail: anything else (records missing or wrong, defects, an incomplete backup, or the drill could not run to the
    end)."""
    if report.error is not None or report.shortfalls:
        return "fail"
    if report.score >= report.min_score:
        return "pass"
    data_intact = report.deductions.data == 0 and report.deductions.integrity == 0
    return "partial" if data_intact else "fail"
