"""Validate a backup: is everything its manifests promise really on storage, intact?

Checks, each naming the exact object and defect when it fails:

- ``backup.json`` exists and parses (a backup without it is invalid, whatever else is there);
- the completeness model (:func:`~kafka_backup.engine.catalog.completeness.assess`) finds nothing short: the backup
  completed (``not_complete`` when ``backup.json`` still says ``running``: interrupted, or still being written), every
  partition of every backed-up topic has a manifest (``manifest_missing``) that parses (``manifest_unreadable``) and
  belongs to it (``wrong_partition``), and a snapshot backup has a readable ``snapshot.json``
  (``snapshot_unreadable``) and reached its targets (``short_of_snapshot``);
- segments and gaps tile ``[start_offset, next_offset)`` in order: no ``overlap``, no ``unexplained_gap``;
- every segment entry is consistent (``start <= first <= last < end``, records fit the range, a count > 0);
- every segment object exists (``missing``), has the recorded size (``truncated`` when shorter, ``size_mismatch``
  when longer) and SHA-256 (``checksum_mismatch``), and its Parquet footer holds the recorded number of records
  (``count_mismatch``);
- ``deep``: every segment decodes (``unreadable``), its self-description matches the entry, and each record's offset
  lies in the segment's range, strictly increasing, with count, first/last offsets and min/max timestamps as recorded
  (``record_mismatch``).

Segment objects no manifest references (a crash between writing a segment and committing its manifest leaves them)
are warnings, not defects: nothing trusts them. ``prune --orphans`` removes them — but only under a readable
manifest: segments of a partition whose manifest is missing or unreadable are warned about as ``unindexed`` (they
may be the only copy of its records) and no prune deletes them.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import structlog
from opentelemetry import trace

from kafka_backup.engine.catalog.completeness import Assessment, assess
from kafka_backup.engine.errors import BackupError, IntegrityError, StorageError, StorageNotFoundError
from kafka_backup.engine.format.layout import (
    backup_key,
    backup_prefix,
    manifest_key,
    parse_manifest_key,
    parse_segment_key,
)
from kafka_backup.engine.format.manifest import PartitionManifest, SegmentEntry
from kafka_backup.engine.format.segment import decode
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.store import Store
from kafka_backup.telemetry.baseline import zero_errors
from kafka_backup.telemetry.catalog import Metrics

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("kafka_backup.engine.catalog.validate")
DEFECT_KINDS = (
    "bad_entry", "checksum_mismatch", "empty_range", "missing", "overlap", "record_mismatch", "short_of_snapshot",
    "size_mismatch", "snapshot_unreadable", "truncated", "unexplained_gap", "unparseable", "unreadable",
    "wrong_backup", "wrong_partition",
)  # fmt: skip
"""Every defect ``kind`` a validation reports; upper-cased, the ``error_type``s of ``kafka_backup_errors_total``
(operation ``validate``), each created at zero when a validation starts. A kind added to the checks belongs here."""


@dataclass(frozen=True)
class Finding:
    object: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.object}: {self.kind}: {self.detail}"


@dataclass
class ValidationReport:
    backup_id: str
    deep: bool
    defects: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    partitions: int = 0
    segments: int = 0
    records: int = 0
    bytes: int = 0
    duration_s: float = 0.0

    @property
    def valid(self) -> bool:
        return not self.defects

    def defect(self, obj: str, kind: str, detail: str) -> None:
        self.defects.append(Finding(obj, kind, detail))

    def warn(self, obj: str, kind: str, detail: str) -> None:
        self.warnings.append(Finding(obj, kind, detail))

    def to_dict(self) -> dict[str, Any]:
        return {
            "backup_id": self.backup_id,
            "valid": self.valid,
            "deep": self.deep,
            "partitions": self.partitions,
            "segments": self.segments,
            "records": self.records,
            "bytes": self.bytes,
            "defects": [f.__dict__ for f in self.defects],
            "warnings": [f.__dict__ for f in self.warnings],
            "duration_seconds": round(self.duration_s, 3),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def render(self) -> str:
        head = "VALID" if self.valid else "INVALID"
        lines = [
            f"{head}: backup {self.backup_id} ({'deep' if self.deep else 'checksums'}): {self.partitions} partitions, "
            f"{self.segments} segments, {self.records:,} records; {len(self.defects)} defects, "
            f"{len(self.warnings)} warnings"
        ]
        lines += [f"  defect  {f}" for f in self.defects]
        lines += [f"  warning {f}" for f in self.warnings]
        return "\n".join(lines)


def validate_backup(
    store: Store, backup_id: str, *, deep: bool = False, metrics: Metrics | None = None, workers: int = 4
) -> ValidationReport:
    """Check one backup; never raises for a defect of the backup (those go into the report)."""
    metrics = metrics or Metrics()
    error_types = [kind.upper() for kind in DEFECT_KINDS]
    zero_errors(metrics, backup_id=backup_id, operation="validate", error_types=error_types)
    report = ValidationReport(backup_id, deep)
    started = time.monotonic()
    with _tracer.start_as_current_span("validate", attributes={"backup_id": backup_id, "deep": deep}):
        _validate(store, backup_id, report, workers)
    report.duration_s = time.monotonic() - started
    for finding in report.defects:
        metrics.backup_errors_total.add(
            1, {"backup_id": backup_id, "operation": "validate", "error_type": finding.kind.upper()}
        )
    log.info(
        "backup_validated",
        backup_id=backup_id,
        valid=report.valid,
        defects=len(report.defects),
        warnings=len(report.warnings),
        deep=deep,
    )
    return report


def _validate(store: Store, backup_id: str, report: ValidationReport, workers: int) -> None:
    key = backup_key(backup_id)
    objects = {o.key: o.size for o in store.list(backup_prefix(backup_id))}
    if key not in objects:
        what = "the backup has objects but no manifest" if objects else "no object exists under this backup id"
        report.defect(key, "missing", f"{what}; a backup without backup.json is not restorable")
        return
    try:
        backup = Repository(store).read_backup(backup_id)
    except IntegrityError as exc:
        report.defect(key, "unparseable", exc.message)
        return
    if backup is None:
        report.defect(key, "missing", "backup.json disappeared while validating")
        return
    if backup.backup_id != backup_id:
        report.defect(key, "wrong_backup", f"manifest names backup '{backup.backup_id}'")
    assessment = assess(store, backup_id, backup)
    for shortfall in assessment.shortfalls:
        # next_offset and record counts are checked in more detail (overlap, unexplained_gap, bad_entry) below
        if shortfall.kind != "count_mismatch":
            report.defect(shortfall.object, shortfall.kind, shortfall.detail)
    referenced: set[str] = set()
    entries: list[SegmentEntry] = []
    for _tp, manifest in sorted(assessment.manifests.items()):
        report.partitions += 1
        _check_tiling(manifest, report)
        for entry in manifest.segments:
            referenced.add(entry.key)
            entries.append(entry)
        report.records += manifest.records
        report.bytes += manifest.size
    report.segments = len(entries)

    def size_of(key: str) -> int | None:
        if key.startswith(backup_prefix(backup_id)):
            return objects.get(key)
        info = store.stat(key)  # referenced from another backup's prefix (shared data)
        return info.size if info else None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for findings in pool.map(lambda e: _check_segment(store, e, size_of(e.key), report.deep), entries):
            report.defects.extend(findings)
    _unreferenced(assessment, objects, referenced, report)


def _unreferenced(
    assessment: Assessment, objects: dict[str, int], referenced: set[str], report: ValidationReport
) -> None:
    backup = assessment.backup
    for obj in sorted(objects):
        filed = parse_segment_key(obj)
        manifest_of = parse_manifest_key(backup.backup_id, obj)
        if filed is not None and obj not in referenced:
            if (filed.topic, filed.partition) in assessment.manifests:
                report.warn(obj, "unreferenced", "segment object no manifest lists (left by a crash); prune --orphans")
            else:
                # no readable manifest for its partition: this may be the only copy of records, never an orphan
                report.warn(
                    obj, "unindexed", "segment of a partition without a readable manifest: maybe the only copy, kept"
                )
        elif manifest_of is not None:
            topic, part = manifest_of
            if topic not in backup.topics or not part.isdigit() or int(part) >= backup.topics[topic].partitions:
                report.warn(obj, "unreferenced", "partition manifest of a topic or partition not in backup.json")


def _check_tiling(m: PartitionManifest, report: ValidationReport) -> None:
    key = manifest_key(m.backup_id, m.topic, m.partition)
    pieces: list[tuple[int, int, str]] = [(s.start_offset, s.end_offset, s.key) for s in m.segments]
    pieces += [(g.start_offset, g.end_offset, f"gap {g.start_offset}-{g.end_offset} ({g.reason})") for g in m.gaps]
    pieces.sort()
    position = m.start_offset
    for start, end, name in pieces:
        if end <= start:
            report.defect(key, "empty_range", f"{name} covers [{start}, {end})")
        if start < position:
            report.defect(key, "overlap", f"{name} starts at {start}, before the previous piece ends at {position}")
        elif start > position:
            report.defect(key, "unexplained_gap", f"offsets [{position}, {start}) are in no segment and no gap")
        position = max(position, end)
    if position != m.next_offset:
        kind = "unexplained_gap" if position < m.next_offset else "overlap"
        report.defect(key, kind, f"segments and gaps end at {position}, the manifest says next_offset {m.next_offset}")
    for s in m.segments:
        problems = []
        if not s.start_offset <= s.first_offset <= s.last_offset < s.end_offset:
            problems.append(
                f"offsets out of order: start {s.start_offset}, first {s.first_offset}, last {s.last_offset}, "
                f"end {s.end_offset}"
            )
        if s.records <= 0 or s.records > s.last_offset - s.first_offset + 1:
            problems.append(f"{s.records} records cannot fit offsets {s.first_offset}..{s.last_offset}")
        if s.min_timestamp > s.max_timestamp:
            problems.append(f"min_timestamp {s.min_timestamp} > max_timestamp {s.max_timestamp}")
        for problem in problems:
            report.defect(s.key, "bad_entry", problem)


def _check_segment(store: Store, e: SegmentEntry, listed_size: int | None, deep: bool) -> list[Finding]:
    if listed_size is None:
        return [Finding(e.key, "missing", f"segment of {e.records} records ({e.size} bytes) does not exist")]
    if listed_size != e.size:
        kind = "truncated" if listed_size < e.size else "size_mismatch"
        return [Finding(e.key, kind, f"object has {listed_size} bytes, the manifest recorded {e.size}")]
    try:
        data = Repository(store).read_segment(e.key)
    except StorageNotFoundError:
        return [Finding(e.key, "missing", "segment disappeared while validating")]
    except StorageError as exc:
        return [Finding(e.key, "unreadable", f"storage error: {exc}")]
    if len(data) != e.size:
        kind = "truncated" if len(data) < e.size else "size_mismatch"
        return [Finding(e.key, kind, f"read {len(data)} bytes, the manifest recorded {e.size}")]
    digest = hashlib.sha256(data).hexdigest()
    if digest != e.sha256:
        return [Finding(e.key, "checksum_mismatch", f"SHA-256 {digest[:16]}…, the manifest recorded {e.sha256[:16]}…")]
    if not deep:
        return _check_count(e, data)
    return _check_records(e, data)


def _check_count(e: SegmentEntry, data: bytes) -> list[Finding]:
    """The record count in the segment's Parquet footer (cheap: the bytes are in memory) against the manifest's."""
    try:
        rows = pq.read_metadata(io.BytesIO(data)).num_rows
    except (OSError, ValueError) as exc:
        return [Finding(e.key, "unreadable", f"Parquet footer does not parse ({type(exc).__name__})")]
    if rows != e.records:
        return [Finding(e.key, "count_mismatch", f"the segment holds {rows} records, the manifest says {e.records}")]
    return []


def _check_records(e: SegmentEntry, data: bytes) -> list[Finding]:
    try:
        table = decode(data, name=e.key)
    except BackupError as exc:
        return [Finding(e.key, "unreadable", exc.message)]
    problems: list[str] = []
    meta = pq.read_metadata(io.BytesIO(data)).metadata or {}
    declared = (meta.get(b"kafka_backup.start_offset"), meta.get(b"kafka_backup.end_offset"))
    if declared != (str(e.start_offset).encode(), str(e.end_offset).encode()):
        problems.append(f"segment describes range {declared}, the manifest [{e.start_offset}, {e.end_offset})")
    offsets = table.column("offset")
    n = table.num_rows
    filed = parse_segment_key(e.key)
    if filed is not None and n:
        topics = pc.unique(table.column("topic").cast("string")).to_pylist()
        partitions = pc.unique(table.column("partition")).to_pylist()
        if topics != [filed.topic] or partitions != [filed.partition]:
            problems.append(f"records of {topics} partitions {partitions}, filed under {filed.topic}-{filed.partition}")
    if n != e.records:
        problems.append(f"{n} records, the manifest recorded {e.records}")
    if n:
        first, last = offsets[0].as_py(), offsets[-1].as_py()
        if (first, last) != (e.first_offset, e.last_offset):
            problems.append(f"offsets {first}..{last}, the manifest recorded {e.first_offset}..{e.last_offset}")
        bounds = pc.min_max(offsets)
        if bounds["min"].as_py() < e.start_offset or bounds["max"].as_py() >= e.end_offset:
            problems.append(f"a record offset lies outside the segment range [{e.start_offset}, {e.end_offset})")
        if n > 1:
            steps = pc.subtract(offsets.slice(1), offsets.slice(0, n - 1))
            if pc.min(steps).as_py() <= 0:
                problems.append("record offsets are not strictly increasing")
        ts = pc.min_max(table.column("timestamp"))
        if (ts["min"].as_py(), ts["max"].as_py()) != (e.min_timestamp, e.max_timestamp):
            problems.append(
                f"timestamps {ts['min'].as_py()}..{ts['max'].as_py()}, the manifest recorded "
                f"{e.min_timestamp}..{e.max_timestamp}"
            )
    return [Finding(e.key, "record_mismatch", p) for p in problems]
