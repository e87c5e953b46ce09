"""Restore drill: prove that a backup really restores, by restoring it into scratch topics and reading it back.

One drill (:func:`run_drill`):

1. reads ``backup.json`` (the backup's age is ``now - completed_at``), the selected topics' partition manifests, and
   validates the backup (:func:`~kafka_backup.engine.catalog.validate.validate_backup`; defects of topics outside the
   selection are ignored);
2. restores the selection with the restore engine into scratch topics ``<scratch prefix><source topic>`` (prefix
   ``drill-<name>-<UTC time>-<random>.``), skipping segments validation found unrestorable (missing, truncated,
   checksum mismatch, unreadable): a real restore stops at the first of them, the drill measures everything else.
   Its checkpoints live in memory: the drill never writes to the backup storage (read access suffices);
3. reads every scratch partition back (``read_committed``) and compares it with the backup's segments, record by
   record: a 16-byte BLAKE2b of (key, value, headers) and the timestamp. Timestamps the backup does not have (<= 0)
   are not compared: the restore lets the producer stamp them. Per partition it reports the record counts and a
   SHA-256 over the record sequence of each side;
4. deletes the scratch topics, also when a step failed (unless ``keep``).

The score (0-100) and the result are defined in ``docs/drill.md`` and :func:`score`.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from opentelemetry import trace
from pydantic import Field

from kafka_backup.engine.catalog.completeness import Shortfall, assess
from kafka_backup.engine.catalog.validate import Finding, validate_backup
from kafka_backup.engine.config.backup import KafkaConfig, StorageConfig, _Model
from kafka_backup.engine.config.names import Id
from kafka_backup.engine.config.restore import RestoreConfig, RestoreTopicSelection
from kafka_backup.engine.errors import (
    BackupError,
    ConfigError,
    KafkaConnectionError,
    KafkaOperationError,
    NothingToVerifyError,
    StorageNotFoundError,
)
from kafka_backup.engine.format.manifest import BackupManifest, PartitionManifest, SegmentEntry, now_ms
from kafka_backup.engine.format.restore_state import restore_prefix
from kafka_backup.engine.format.segment import decode
from kafka_backup.engine.kafka.admin import Cluster, select, translate
from kafka_backup.engine.restore.run import RestoreRun, read_backup_manifest
from kafka_backup.engine.store import Backend, ObjectInfo, Operation, Store, Version
from kafka_backup.telemetry.catalog import Metrics

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("kafka_backup.engine.drill.run")

_TOPIC_MAX = 249
UNRESTORABLE = frozenset({"missing", "truncated", "size_mismatch", "checksum_mismatch", "unreadable"})
"""Validation defects of a segment that make the restore engine stop at it: the drill restores around them."""

DATA_WEIGHT = 100.0
DEFECT_POINTS = 5.0
DEFECT_CAP = 50.0
RTO_CAP = 25.0

Result = Literal["pass", "fail", "partial"]


class DrillConfig(_Model):
    """A restore drill (``drill.yaml``)."""

    drill: str | None = Field(
        None, min_length=1, max_length=200, description="Drill name: the `drill` metric label (default: backup_id)."
    )
    backup_id: Id = Field(description="The backup to drill.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Where the backup lives.")
    target: KafkaConfig = Field(description="The cluster the scratch topics are created on.")
    topics: RestoreTopicSelection = Field(default_factory=RestoreTopicSelection, description="Topic selection.")
    sample_records: int | None = Field(
        None,
        gt=0,
        description="Per partition, drill only the newest whole segments holding at least this many records.",
    )
    rto_target_s: float | None = Field(None, gt=0, description="Restore duration above which the score is reduced.")
    min_score: float = Field(100.0, ge=0, le=100, description="The drill passes with a score at least this high.")
    deep: bool = Field(False, description="Validate deeply (decode every segment, check every record).")
    keep: bool = Field(False, description="Keep the scratch topics (for inspection); delete them yourself.")
    replication_factor: int | None = Field(
        None, ge=1, description="Replication factor of the scratch topics (default: the backed-up one)."
    )
    verify_timeout_s: float = Field(
        120.0, gt=0, description="Reading a scratch topic back fails after this long without a new record."
    )

    @property
    def name(self) -> str:
        return self.drill or self.backup_id

    def secrets(self) -> list[str]:
        return [*self.target.secrets(), *self.storage.secrets()]


# ---- the report --------------------------------------------------------------------------------------------------


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


# ---- record digests ----------------------------------------------------------------------------------------------

_NULL = b"\xff\xff\xff\xff"
_NO_TS = -1


def _field(h: Any, data: bytes | None) -> None:
    if data is None:
        h.update(_NULL)
    else:
        h.update(len(data).to_bytes(4, "big"))
        h.update(data)


def record_hash(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes | None]] | None) -> bytes:
    """16 bytes over key, value and headers (in order; null and empty distinct; no headers == an empty list)."""
    h = hashlib.blake2b(digest_size=16)
    _field(h, key)
    _field(h, value)
    hs = headers or []
    h.update(len(hs).to_bytes(4, "big"))
    for hk, hv in hs:
        _field(h, hk.encode())
        _field(h, hv)
    return h.digest()


Rec = tuple[bytes, int]
"""(record hash, timestamp); a backup timestamp <= 0 is stored as -1: any restored timestamp matches it."""


def _sequence_digest(records: list[Rec]) -> str:
    h = hashlib.sha256()
    for digest, ts in records:
        h.update(digest)
        h.update(ts.to_bytes(8, "big", signed=True))
    return h.hexdigest()


def compare(expected: list[Rec], restored: list[Rec], check: PartitionCheck) -> None:
    """Fill ``check``: matched (same content, in any order), missing, unexpected, misordered, both digests."""
    check.restored = len(restored)
    # what the restored side is compared as: a record aligned with a timestamp-less backup record drops its timestamp
    aligned = [(r[0], _NO_TS) if i < len(expected) and expected[i][1] == _NO_TS else r for i, r in enumerate(restored)]
    check.backup_digest = _sequence_digest(expected)
    check.restored_digest = _sequence_digest(aligned)
    if aligned == expected:
        check.matched = len(expected)
        return
    available = Counter(expected)
    got: list[Rec] = []
    for digest, ts in restored:
        if available[(digest, ts)] > 0:
            key = (digest, ts)
        elif available[(digest, _NO_TS)] > 0:
            key = (digest, _NO_TS)
        else:
            check.unexpected += 1
            continue
        available[key] -= 1
        got.append(key)
    check.matched = len(got)
    used = Counter(got)
    wanted: list[Rec] = []
    for rec in expected:
        if used[rec] > 0:
            used[rec] -= 1
            wanted.append(rec)
    check.missing += len(expected) - check.matched
    check.misordered = sum(1 for a, b in zip(wanted, got, strict=True) if a != b)


def backup_records(store: Store, entries: list[SegmentEntry]) -> list[Rec]:
    """The records of ``entries`` in offset order (checksums verified)."""
    out: list[Rec] = []
    for entry in entries:
        table = decode(store.get(entry.key, operation="segment"), expected_sha256=entry.sha256, name=entry.key)
        keys = table.column("key").to_pylist()
        values = table.column("value").to_pylist()
        headers = table.column("headers").to_pylist()
        stamps = table.column("timestamp").to_pylist()
        for k, v, hs, ts in zip(keys, values, headers, stamps, strict=True):
            pairs = None if hs is None else [(x["key"], x["value"]) for x in hs]
            out.append((record_hash(k, v, pairs), ts if ts > 0 else _NO_TS))
    return out


# ---- the checkpoint overlay --------------------------------------------------------------------------------------


class CheckpointOverlay:
    """The backup store for reading; the drill's restore checkpoints (under ``prefix``) in memory, never on storage."""

    def __init__(self, inner: Store, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix
        self.objects: dict[str, bytes] = {}

    @property
    def backend(self) -> Backend:
        return self.inner.backend

    @property
    def url(self) -> str:
        return self.inner.url

    def _ours(self, key: str) -> bool:
        return key.startswith(self.prefix)

    def put(self, key: str, data: bytes, *, operation: Operation) -> None:
        if not self._ours(key):
            raise RuntimeError(f"the drill writes nothing to the backup storage, yet was asked to put {key}")
        self.objects[key] = data

    def get(self, key: str, *, operation: Operation, start: int | None = None, end: int | None = None) -> bytes:
        if not self._ours(key):
            return self.inner.get(key, operation=operation, start=start, end=end)
        if key not in self.objects:
            raise StorageNotFoundError(f"{key} does not exist", key=key)
        return self.objects[key][start:end]

    def get_versioned(self, key: str, *, operation: Operation) -> tuple[bytes, Version] | None:
        if not self._ours(key):
            return self.inner.get_versioned(key, operation=operation)
        raise RuntimeError(f"the drill's restore checkpoints are not versioned, yet {key} was read with its version")

    def put_if(self, key: str, data: bytes, *, operation: Operation, expect: Version | None) -> Version:
        raise RuntimeError(f"the drill makes no conditional writes, yet was asked to write {key} conditionally")

    def stat(self, key: str) -> ObjectInfo | None:
        if not self._ours(key):
            return self.inner.stat(key)
        data = self.objects.get(key)
        return None if data is None else ObjectInfo(key, len(data))

    def list(self, prefix: str) -> list[ObjectInfo]:
        mine = [ObjectInfo(k, len(v)) for k, v in self.objects.items() if k.startswith(prefix)]
        theirs = [] if prefix.startswith(self.prefix) else self.inner.list(prefix)
        return sorted([*theirs, *mine], key=lambda o: o.key)

    def delete(self, key: str) -> None:
        if not self._ours(key):
            raise RuntimeError(f"the drill removes nothing from the backup storage, yet was asked to remove {key}")
        self.objects.pop(key, None)


# ---- the run -----------------------------------------------------------------------------------------------------


def scratch_names(name: str, when: datetime | None = None, token: str | None = None) -> tuple[str, str]:
    """(restore id, scratch topic prefix): ``drill-<name>-<UTC yyyymmddHHMMSS>-<4 hex>`` and that plus a dot."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "-", name)[:48].strip(".") or "drill"
    stamp = (when or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    restore_id = f"drill-{clean}-{stamp}-{token or secrets.token_hex(2)}"
    return restore_id, restore_id + "."


def scratch_topic(prefix: str, source: str) -> str:
    name = prefix + source
    if len(name) <= _TOPIC_MAX:
        return name
    tail = hashlib.sha256(source.encode()).hexdigest()[:8]
    return name[: _TOPIC_MAX - 9] + "-" + tail


@dataclass(frozen=True)
class _Target:
    """One drilled source partition: which segments the restore reads, and which it cannot."""

    topic: str
    partition: int
    restorable: list[SegmentEntry]
    unrestorable: list[SegmentEntry]
    all_segments: int


class DrillRun:
    """One drill. Not thread-safe."""

    def __init__(
        self,
        config: DrillConfig,
        *,
        metrics: Metrics | None = None,
        store: Store | None = None,
        stop: threading.Event | None = None,
        client_extra: Mapping[str, Any] | None = None,
    ) -> None:
        """``client_extra``: librdkafka settings for the restore's clients (``stats_cb``, ``logger``) from the CLI."""
        self.config = config
        self.metrics = metrics or Metrics()
        self.store = store or config.storage.open(metrics=self.metrics, backup_id=config.backup_id)
        self.stop = stop or threading.Event()
        self.client_extra = dict(client_extra or {})
        restore_id, prefix = scratch_names(config.name)
        self._short: dict[tuple[str, int], int] = {}
        """Records the backup lacks per drilled partition (from the completeness model)."""
        self.report = DrillReport(
            drill=config.name,
            backup_id=config.backup_id,
            restore_id=restore_id,
            scratch_prefix=prefix,
            min_score=config.min_score,
            rto_target_s=config.rto_target_s,
        )

    def run(self) -> DrillReport:
        """Run the drill; records the metrics unless it was stopped. Raises only ConfigError (bad usage)."""
        r = self.report
        started = time.monotonic()
        labels = {"drill": r.drill}
        with _tracer.start_as_current_span(
            "drill", attributes={"drill": r.drill, "backup_id": r.backup_id, "restore_id": r.restore_id}
        ) as span:
            log.info("drill_started", drill=r.drill, backup_id=r.backup_id, scratch_prefix=r.scratch_prefix)
            try:
                self._run()
            except ConfigError:
                raise
            except BackupError as exc:
                r.error = f"{exc.code}: {exc}"
                r.failure = exc
                log.error("drill_step_failed", drill=r.drill, backup_id=r.backup_id, error=r.error)
            finally:
                r.duration_s = time.monotonic() - started
                self._cleanup()
            if r.stopped:
                log.warning("drill_stopped", drill=r.drill, backup_id=r.backup_id)
                span.set_attribute("stopped", True)
                return r
            bad = r.total("missing") + r.total("unexpected") + r.total("misordered")
            r.score, r.deductions = score(
                expected=r.total("expected"),
                bad_records=bad,
                defects=len(r.defects),
                rto_s=r.rto_s,
                rto_target_s=r.rto_target_s,
            )
            if r.error is not None:
                r.score = 0.0
            r.result = classify(r)
            span.set_attributes({"score": r.score, "result": r.result})
            m = self.metrics
            m.restore_drill_runs_total.add(1, {**labels, "result": r.result})
            m.restore_drill_score.set(r.score, labels)
            m.restore_drill_duration_seconds.record(r.duration_s, labels)
            if r.rto_s is not None:
                m.restore_drill_rto_seconds.set(r.rto_s, labels)
            if r.backup_age_s is not None:
                m.restore_drill_backup_age_seconds.set(r.backup_age_s, labels)
            log.info(
                "drill_finished",
                drill=r.drill,
                backup_id=r.backup_id,
                result=r.result,
                score=r.score,
                records=r.total("expected"),
                missing=r.total("missing"),
                unexpected=r.total("unexpected"),
                misordered=r.total("misordered"),
                defects=len(r.defects),
                rto_s=r.rto_s,
                duration_s=round(r.duration_s, 3),
                error=r.error,
            )
        return r

    # ---- steps ---------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        cfg, r = self.config, self.report
        backup = read_backup_manifest(self.store, cfg.backup_id)
        r.backup_status = backup.status
        topics = select(backup.topics, cfg.topics.include, cfg.topics.exclude, include_internal=True).topics
        if not topics:
            raise ConfigError(
                f"no topic of backup '{cfg.backup_id}' matches topics.include={cfg.topics.include} "
                f"exclude={cfg.topics.exclude} (it holds: {', '.join(sorted(backup.topics)) or 'nothing'})",
                hint="fix topics.include / --topic",
            )
        assessment = assess(self.store, cfg.backup_id, backup)
        manifests = {
            (t, p): assessment.manifests.get((t, p)) for t in topics for p in range(backup.topics[t].partitions)
        }
        self._backup_age(backup, manifests)
        r.shortfalls = assessment.relevant(list(manifests))
        self._short = _missing_records(r.shortfalls, manifests)
        for f in r.shortfalls:
            log.warning("drill_backup_incomplete", drill=r.drill, backup_id=r.backup_id, shortfall=str(f))
        unrestorable = self._validate(topics)
        targets = self._targets(manifests, unrestorable)
        r.segments_skipped = sum(len(t.unrestorable) for t in targets)
        if self.stop.is_set():
            r.stopped = True
            return
        self._restore(backup, topics, targets)
        if self.stop.is_set():
            r.stopped = True
            return
        self._verify(targets)
        if r.stopped:
            return
        if r.total("expected") == 0 and r.total("restored") == 0:
            raise NothingToVerifyError(
                f"the drilled selection of backup '{cfg.backup_id}' holds no records: the drill proved nothing",
                hint="drill topics that hold data (--topic), or check that the backup captured any",
            )

    def _backup_age(self, backup: BackupManifest, manifests: Mapping[Any, PartitionManifest | None]) -> None:
        """Age of the data: since ``completed_at``; for a backup that never completed (continuous), since its newest
        segment (or its last manifest update)."""
        r = self.report
        newest = backup.completed_at
        if newest is None:
            created = [s.created_at for m in manifests.values() if m is not None for s in m.segments]
            newest = max(created, default=backup.updated_at)
        r.backup_completed_at = backup.completed_at
        r.backup_age_s = max(0.0, (now_ms() - newest) / 1000)

    def _validate(self, topics: list[str]) -> set[str]:
        """Validation defects of the drilled topics (and of the backup as a whole); the unrestorable segment keys."""
        cfg, r = self.config, self.report
        report = validate_backup(self.store, cfg.backup_id, deep=cfg.deep, metrics=self.metrics)
        topic_prefixes = tuple(f"{cfg.backup_id}/topics/{t}/" for t in topics)
        all_topics = f"{cfg.backup_id}/topics/"
        r.defects = [
            f for f in report.defects if f.object.startswith(topic_prefixes) or not f.object.startswith(all_topics)
        ]
        for f in r.defects:
            log.warning("drill_backup_defect", drill=r.drill, object=f.object, kind=f.kind, detail=f.detail)
        return {f.object for f in r.defects if f.kind in UNRESTORABLE and f.object.endswith(".parquet")}

    def _targets(
        self, manifests: Mapping[tuple[str, int], PartitionManifest | None], unrestorable: set[str]
    ) -> list[_Target]:
        out: list[_Target] = []
        limit = self.config.sample_records
        for (topic, partition), manifest in sorted(manifests.items()):
            segments = list(manifest.segments) if manifest else []
            if limit is not None:
                chosen: list[SegmentEntry] = []
                for entry in reversed(segments):
                    if sum(e.records for e in chosen) >= limit:
                        break
                    chosen.insert(0, entry)
                segments = chosen
            good = [s for s in segments if s.key not in unrestorable]
            bad = [s for s in segments if s.key in unrestorable]
            total = len(manifest.segments) if manifest else 0
            out.append(_Target(topic, partition, good, bad, total))
        return out

    def _restore_config(self, backup: BackupManifest, topics: list[str], targets: list[_Target]) -> RestoreConfig:
        cfg, r = self.config, self.report
        ranges: list[dict[str, Any]] = []
        restricted = {t.topic for t in targets if t.unrestorable or len(t.restorable) != t.all_segments}
        for t in targets:
            if t.topic not in restricted:
                continue
            run: list[SegmentEntry] = []
            wanted = {s.key for s in t.restorable}
            manifest_order = [*t.restorable, *t.unrestorable]
            manifest_order.sort(key=lambda s: s.start_offset)
            for entry in [*manifest_order, None]:
                if entry is not None and entry.key in wanted:
                    run.append(entry)
                    continue
                if run:
                    ranges.append(
                        {
                            "topic": t.topic,
                            "partitions": [t.partition],
                            "from": run[0].start_offset,
                            "to": run[-1].end_offset - 1,
                        }
                    )
                    run = []
        # a topic whose every segment is skipped (or sampled away) gets no range at all: restore nothing from it,
        # but still create its scratch topic, so reading it back finds it empty rather than absent
        for name in sorted(restricted):
            if not any(rg["topic"] == name for rg in ranges):
                ranges.append({"topic": name, "partitions": [], "from": 0, "to": 0})
        # scratch topics keep every record until the drill has read them back: no retention, no compaction
        configs = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
        backed_up = [backup.topics[t].configs for t in topics]
        for limit in (
            "message.timestamp.difference.max.ms",
            "message.timestamp.before.max.ms",
            "message.timestamp.after.max.ms",
        ):
            if any(limit in c for c in backed_up):
                configs[limit] = str(2**63 - 1)  # old records must not be refused for their age
        rf = cfg.replication_factor
        if rf is not None and any(int(c.get("min.insync.replicas", "1")) > rf for c in backed_up):
            configs["min.insync.replicas"] = str(rf)
        body: dict[str, Any] = {
            "backup_id": cfg.backup_id,
            "restore_id": r.restore_id,
            "storage": cfg.storage,
            "target": cfg.target,
            "topics": {"include": topics, "exclude": []},
            "offset_ranges": ranges,
            "topic_map": {t: scratch_topic(r.scratch_prefix, t) for t in topics},
            "create_topics": {"enabled": True, "replication_factor": rf, "configs": configs},
            # an incomplete backup is drilled for what it holds; what it lacks is scored as missing (and fails)
            "allow_partial": True,
        }
        return RestoreConfig.model_validate(body)

    def _restore(self, backup: BackupManifest, topics: list[str], targets: list[_Target]) -> None:
        r = self.report
        config = self._restore_config(backup, topics, targets)
        r.scratch_topics = sorted(config.topic_map.values())
        overlay = CheckpointOverlay(self.store, restore_prefix(config.backup_id, r.restore_id))
        run = RestoreRun(config, metrics=self.metrics, store=overlay, stop=self.stop, client_extra=self.client_extra)
        summary = run.run()
        r.records_restored = summary.records
        if summary.status == "success":
            r.rto_s = summary.duration_s
        log.info(
            "drill_restored",
            drill=r.drill,
            backup_id=r.backup_id,
            records=summary.records,
            rto_s=round(summary.duration_s, 3),
            segments_skipped=r.segments_skipped,
        )

    def _verify(self, targets: list[_Target]) -> None:
        r = self.report
        by_topic: dict[str, list[_Target]] = {}
        for t in targets:
            by_topic.setdefault(t.topic, []).append(t)
        with _tracer.start_as_current_span("drill.verify", attributes={"drill": r.drill}):
            for topic, parts in by_topic.items():
                scratch = scratch_topic(r.scratch_prefix, topic)
                restored = self._read_back(scratch)
                if r.stopped:
                    return
                checks = {t.partition: t for t in parts}
                for partition in sorted(set(checks) | set(restored)):
                    check = PartitionCheck(topic, partition, scratch)
                    expected: list[Rec] = []
                    target = checks.get(partition)
                    if target is not None:
                        check.expected = sum(s.records for s in (*target.restorable, *target.unrestorable))
                        check.unrestorable_segments = len(target.unrestorable)
                        check.missing = sum(s.records for s in target.unrestorable)
                        expected = backup_records(self.store, target.restorable)
                    compare(expected, restored.get(partition, []), check)
                    # records the backup should hold here but does not: missing, like records that did not restore
                    short = self._short.get((topic, partition), 0)
                    check.expected += short
                    check.missing += short
                    r.partitions.append(check)
                    if not check.ok:
                        log.warning("drill_partition_mismatch", drill=r.drill, **check.to_dict())
        log.info(
            "drill_verified",
            drill=r.drill,
            partitions=len(r.partitions),
            matched=r.total("matched"),
            expected=r.total("expected"),
        )

    def _read_back(self, topic: str) -> dict[int, list[Rec]]:
        """Every record of ``topic`` (read_committed), per partition in offset order."""
        cfg = self.config
        conf: dict[str, Any] = {
            **cfg.target.librdkafka(),
            **{k: v for k, v in self.client_extra.items() if k == "logger"},
            "group.id": f"kafka-backup-{self.report.restore_id}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
        consumer = Consumer(conf)
        out: dict[int, list[Rec]] = {}
        try:
            metadata = consumer.list_topics(topic, timeout=cfg.target.connect_timeout_s)
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                raise KafkaOperationError(
                    f"scratch topic {topic} cannot be read back: {meta.error if meta else 'absent'}"
                )
            partitions = sorted(meta.partitions)
            out = {p: [] for p in partitions}
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
            at_end: set[int] = set()
            last_progress = time.monotonic()
            while len(at_end) < len(partitions):
                if self.stop.is_set():
                    self.report.stopped = True
                    return out
                if time.monotonic() - last_progress > cfg.verify_timeout_s:
                    raise KafkaOperationError(
                        f"reading scratch topic {topic} back made no progress for {cfg.verify_timeout_s:.0f} s "
                        f"({len(at_end)}/{len(partitions)} partitions at their end)"
                    )
                for msg in consumer.consume(1000, timeout=0.5):
                    err = msg.error()
                    partition = msg.partition()
                    if err is not None and err.code() == KafkaError._PARTITION_EOF and partition is not None:
                        at_end.add(partition)
                        last_progress = time.monotonic()
                        continue
                    if err is not None:
                        raise KafkaOperationError(f"reading scratch topic {topic} back failed: {err.str()}")
                    assert partition is not None
                    last_progress = time.monotonic()
                    at_end.discard(partition)
                    key, value = msg.key(), msg.value()
                    raw = msg.headers()
                    pairs = list(raw.items()) if isinstance(raw, dict) else raw
                    headers = None if pairs is None else [(k, _bytes(v)) for k, v in pairs]
                    _, ts = msg.timestamp()
                    out[partition].append((record_hash(_bytes(key), _bytes(value), headers), ts))
        except KafkaException as exc:
            raise translate(exc, None, f"read scratch topic {topic}", cfg.target.bootstrap_servers) from None
        finally:
            consumer.close()
        return out

    def _cleanup(self) -> None:
        """Delete every topic with the scratch prefix (those the restore created, and any it created before failing)."""
        r, cfg = self.report, self.config
        if cfg.keep:
            log.info("drill_scratch_kept", drill=r.drill, topics=r.scratch_topics)
            return
        if isinstance(r.failure, KafkaConnectionError):
            # the cluster was unreachable a moment ago: a second attempt would only wait out another connect timeout
            r.cleanup_error = (
                f"skipped: the target cluster could not be reached; delete any topic named {r.scratch_prefix}* "
                "once it is back"
            )
        else:
            self._delete_scratch()
        if r.cleanup_error is not None:
            log.error(
                "drill_scratch_cleanup_failed",
                drill=r.drill,
                prefix=r.scratch_prefix,
                topics=r.scratch_topics,
                error=r.cleanup_error,
            )

    def _delete_scratch(self) -> None:
        """Delete the scratch topics and wait until the cluster no longer lists them; failures go to cleanup_error."""
        r, cfg = self.report, self.config
        with _tracer.start_as_current_span("drill.cleanup", attributes={"drill": r.drill}):
            try:
                cluster = Cluster(cfg.target, {k: v for k, v in self.client_extra.items() if k == "logger"})
                present = [t for t in cluster.topic_partitions() if t.startswith(r.scratch_prefix)]
                r.scratch_topics = sorted(set(r.scratch_topics) | set(present))
                if present:
                    futures = cluster.admin.delete_topics(present, request_timeout=cluster.timeout)
                    for future in futures.values():
                        try:
                            future.result(timeout=cluster.timeout)
                        except KafkaException as exc:
                            if "UNKNOWN_TOPIC" not in str(exc):
                                raise
                    deadline = time.monotonic() + 30
                    while any(t.startswith(r.scratch_prefix) for t in cluster.topic_partitions()):
                        if time.monotonic() > deadline:
                            raise KafkaOperationError(f"scratch topics {present} still exist 30 s after deletion")
                        time.sleep(0.2)
                r.scratch_deleted = True
                log.info("drill_scratch_deleted", drill=r.drill, topics=present)
            except KafkaException as exc:
                r.cleanup_error = str(translate(exc, None, "delete scratch topics", cfg.target.bootstrap_servers))
            except BackupError as exc:
                r.cleanup_error = f"{exc.code}: {exc}"


def _missing_records(
    shortfalls: list[Shortfall], manifests: Mapping[tuple[str, int], PartitionManifest | None]
) -> dict[tuple[str, int], int]:
    """Per partition, how many records the backup lacks: the offsets short of the snapshot target (an upper bound:
    compaction leaves offsets without records); for a partition without a manifest and no target, the mean of the
    topic's readable partitions (at least 1), since nothing else says what it held."""
    out: dict[tuple[str, int], int] = {}
    for f in shortfalls:
        if f.topic is None or f.partition is None:
            continue
        tp = (f.topic, f.partition)
        if f.missing_offsets is not None:
            out[tp] = out.get(tp, 0) + f.missing_offsets
        elif f.kind in ("manifest_missing", "manifest_unreadable", "wrong_partition") and manifests.get(tp) is None:
            known = [m.records for (t, _p), m in manifests.items() if t == f.topic and m is not None]
            out[tp] = max(1, sum(known) // len(known) if known else 1)
    return out


def _bytes(data: str | bytes | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


def run_drill(config: DrillConfig, **kwargs: Any) -> DrillReport:
    """Run one restore drill; library entry point of ``kafka-backup drill``."""
    return DrillRun(config, **kwargs).run()


__all__ = [
    "CheckpointOverlay",
    "DrillConfig",
    "DrillReport",
    "DrillRun",
    "PartitionCheck",
    "classify",
    "compare",
    "record_hash",
    "run_drill",
    "score",
]
