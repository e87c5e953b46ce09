"""The backup catalog: list the backups at a storage URL, describe one, and prune by retention.

Prune rules (the order of deletion is the crash-safety argument, as in restic/borg):

- retention applies to whole backups: ``keep_last`` keeps the N newest (by ``created_at``); ``older_than`` only
  removes backups created before that age; given both, a backup goes only when both rules let it go;
- a backup whose ``backup.json`` says ``running`` is never pruned (it may be being written);
- nothing a kept backup's manifests reference is deleted, wherever it lives;
- a backup is deleted manifests first — ``backup.json`` (the commit point of the whole backup), then the snapshot
  checkpoint and partition manifests, then restore checkpoints, then the segments — so a crash mid-prune leaves
  unreferenced data (found by ``list`` as a remnant, removed by ``prune --remnants``), never a manifest that points
  at deleted data;
- ``orphans`` also deletes segment objects that no manifest references, but only in complete backups (in a running
  one a segment is unreferenced between its write and its manifest commit), and only under a partition whose
  manifest is readable: a segment of a partition with a missing or unreadable manifest is *unknown* (it may be the
  only copy of its records), reported and never deleted;
- it is a dry run unless ``execute`` is called.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kafka_backup.engine.catalog.completeness import assess
from kafka_backup.engine.errors import ConfigError, IntegrityError
from kafka_backup.engine.format.layout import ObjectKind, backup_key, object_kind, parse_segment_key
from kafka_backup.engine.format.manifest import BackupManifest, now_ms
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.store import Store

if TYPE_CHECKING:
    import structlog

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def _log() -> structlog.stdlib.BoundLogger:
    """This module's logger; structlog is imported when prune logs, not with ``list``, which logs nothing (and
    configures logging only on its first record: see ``kafka_backup.cli.main``)."""
    import structlog  # noqa: PLC0415

    logger: structlog.stdlib.BoundLogger = structlog.get_logger(__name__)
    return logger


def iso_ms(ms: int | None) -> str:
    """``2026-11-20T22:09:51.123Z`` (or ``-``)."""
    if ms is None or ms < 0:
        return "-"
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``90m``, ``2w``, ``45s``."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"'{text}' is not a duration", hint="write a number and a unit: 45s, 90m, 12h, 30d, 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class BackupListing:
    backup_id: str
    status: str
    """``complete``, ``running``, ``no-manifest`` (objects but no backup.json) or ``unparseable``."""
    created_at: int | None
    completed_at: int | None
    topics: int
    objects: int
    size: int
    verdict: str = "incomplete"
    """``complete`` or ``stopped`` when the completeness model finds nothing short, else ``incomplete``."""
    shortfalls: tuple[str, ...] = ()
    """Why it is incomplete, one line per shortfall (see :mod:`kafka_backup.engine.catalog.completeness`)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "backup_id": self.backup_id,
            "status": self.status,
            "verdict": self.verdict,
            "complete": self.verdict != "incomplete",
            "shortfalls": list(self.shortfalls),
            "created_at": iso_ms(self.created_at) if self.created_at else None,
            "completed_at": iso_ms(self.completed_at) if self.completed_at else None,
            "topics": self.topics,
            "objects": self.objects,
            "size_bytes": self.size,
        }


def _objects_by_backup(store: Store) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for info in store.list(""):
        head, sep, _rest = info.key.partition("/")
        if sep:
            out.setdefault(head, {})[info.key] = info.size
    return out


def _read_backup(store: Store, backup_id: str) -> BackupManifest:
    return Repository(store).require_backup(backup_id)


def list_backups(store: Store) -> list[BackupListing]:
    """Every backup id at the store's root, oldest first (remnants without a manifest last)."""
    out = []
    for backup_id, objects in sorted(_objects_by_backup(store).items()):
        size = sum(objects.values())
        if backup_key(backup_id) not in objects:
            out.append(BackupListing(backup_id, "no-manifest", None, None, 0, len(objects), size))
            continue
        try:
            m = _read_backup(store, backup_id)
        except IntegrityError:
            out.append(BackupListing(backup_id, "unparseable", None, None, 0, len(objects), size))
            continue
        judged = assess(store, backup_id, m)
        out.append(
            BackupListing(
                backup_id,
                m.status,
                m.created_at,
                m.completed_at,
                len(m.topics),
                len(objects),
                size,
                judged.verdict,
                tuple(str(f) for f in judged.shortfalls),
            )
        )
    return sorted(out, key=lambda b: (b.created_at is None, b.created_at or 0, b.backup_id))


def describe_backup(store: Store, backup_id: str) -> dict[str, Any]:
    """Everything a person asks about a backup, as plain data (the CLI renders it as text or JSON)."""
    backup = _read_backup(store, backup_id)
    judged = assess(store, backup_id, backup)
    manifests = [m for _tp, m in sorted(judged.manifests.items())]
    topics: dict[str, dict[str, Any]] = {}
    for topic, info in sorted(backup.topics.items()):
        topics[topic] = {
            "partitions": info.partitions,
            "replication_factor": info.replication_factor,
            "configs": info.configs,
            "records": 0,
            "segments": 0,
            "size_bytes": 0,
            "uncompressed_bytes": 0,
            "min_timestamp": None,
            "max_timestamp": None,
            "partition_details": [],
        }
    for m in manifests:
        t = topics.setdefault(
            m.topic,
            {"records": 0, "segments": 0, "size_bytes": 0, "uncompressed_bytes": 0, "partition_details": []},
        )
        min_ts = min((s.min_timestamp for s in m.segments), default=None)
        max_ts = max((s.max_timestamp for s in m.segments), default=None)
        t["records"] += m.records
        t["segments"] += len(m.segments)
        t["size_bytes"] += m.size
        t["uncompressed_bytes"] += m.uncompressed_bytes
        if min_ts is not None:
            t["min_timestamp"] = min_ts if t.get("min_timestamp") is None else min(t["min_timestamp"], min_ts)
        if max_ts is not None:
            t["max_timestamp"] = max_ts if t.get("max_timestamp") is None else max(t["max_timestamp"], max_ts)
        t["partition_details"].append(
            {
                "partition": m.partition,
                "start_offset": m.start_offset,
                "next_offset": m.next_offset,
                "first_offset": m.segments[0].first_offset if m.segments else None,
                "last_offset": m.segments[-1].last_offset if m.segments else None,
                "records": m.records,
                "segments": len(m.segments),
                "size_bytes": m.size,
                "uncompressed_bytes": m.uncompressed_bytes,
                "min_timestamp": min_ts,
                "max_timestamp": max_ts,
                "gaps": [
                    {"start_offset": g.start_offset, "end_offset": g.end_offset, "reason": g.reason} for g in m.gaps
                ],
            }
        )
    records = sum(t["records"] for t in topics.values())
    size = sum(t["size_bytes"] for t in topics.values())
    raw = sum(t["uncompressed_bytes"] for t in topics.values())
    return {
        "backup_id": backup.backup_id,
        "status": backup.status,
        "verdict": judged.verdict,
        "complete": judged.complete,
        "shortfalls": [f.to_dict() for f in judged.shortfalls],
        "mode": backup.mode,
        "created_at": iso_ms(backup.created_at),
        "completed_at": iso_ms(backup.completed_at) if backup.completed_at else None,
        "stopped_at": iso_ms(backup.stopped_at) if backup.stopped_at else None,
        "source_cluster_id": backup.source_cluster_id,
        "compression": backup.compression,
        "records": records,
        "size_bytes": size,
        "uncompressed_bytes": raw,
        "compression_ratio": round(raw / size, 3) if size else None,
        "min_timestamp": min(
            (t["min_timestamp"] for t in topics.values() if t.get("min_timestamp") is not None), default=None
        ),
        "max_timestamp": max(
            (t["max_timestamp"] for t in topics.values() if t.get("max_timestamp") is not None), default=None
        ),
        "topics": topics,
        "consumer_groups": backup.consumer_groups,
    }


# ---- prune -----------------------------------------------------------------------------------------------------


@dataclass
class PrunePlan:
    delete: list[str] = field(default_factory=list)
    """Backup ids to delete, oldest first."""
    keep: dict[str, str] = field(default_factory=dict)
    """Backup id → why it stays."""
    protected: list[str] = field(default_factory=list)
    """Objects under deleted backups that a kept backup references (left in place)."""
    orphans: list[str] = field(default_factory=list)
    """Segment objects of kept, complete backups that their partition's readable manifest does not reference
    (deleted with ``orphans``)."""
    unknown: list[str] = field(default_factory=list)
    """Unreferenced segment objects of partitions without a readable manifest: possibly the only copy, never
    deleted (reported with ``orphans``)."""
    remnants: list[str] = field(default_factory=list)
    """Backup ids with objects but no backup.json (an interrupted prune; deleted with ``remnants``)."""
    objects: dict[str, list[str]] = field(default_factory=dict)
    """Backup id → its objects in deletion order (manifests before data)."""
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "delete": self.delete,
            "keep": self.keep,
            "protected": self.protected,
            "orphans": self.orphans,
            "unknown": self.unknown,
            "remnants": self.remnants,
            "objects": sum(len(v) for v in self.objects.values()) + len(self.orphans),
            "bytes": self.bytes,
        }


_DELETION_RANK: dict[ObjectKind, int] = {"backup": 0, "manifest": 1, "restore": 2, "segment": 3, "other": 4}
"""The commit point first, then what points at data, then the data (see the module docstring)."""


def _deletion_order(backup_id: str, keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda key: (_DELETION_RANK[object_kind(backup_id, key)], key))


def _retention(
    listings: list[BackupListing], plan: PrunePlan, keep_last: int | None, older_than_s: float | None, now: int
) -> None:
    retention = keep_last is not None or older_than_s is not None
    newest_first = sorted((b for b in listings if b.created_at is not None), key=lambda b: -(b.created_at or 0))
    for rank, b in enumerate(newest_first):
        if b.status == "running":
            plan.keep[b.backup_id] = "running"
        elif not retention:
            plan.keep[b.backup_id] = "no retention rule given"
        elif keep_last is not None and rank < keep_last:
            plan.keep[b.backup_id] = f"among the {keep_last} newest"
        elif older_than_s is not None and (now - (b.created_at or 0)) / 1000 < older_than_s:
            plan.keep[b.backup_id] = "younger than --older-than"
        else:
            plan.delete.append(b.backup_id)
    plan.delete.reverse()  # oldest first


def _referenced(store: Store, backup_ids: list[str], objects: dict[str, dict[str, int]]) -> set[str]:
    """Every segment key the manifests of these backups reference."""
    referenced: set[str] = set()
    for backup_id in backup_ids:
        if backup_key(backup_id) not in objects.get(backup_id, {}):
            continue
        try:
            backup = _read_backup(store, backup_id)
        except IntegrityError:
            continue
        referenced |= {s.key for m in assess(store, backup_id, backup).manifests.values() for s in m.segments}
    return referenced


def _orphans(store: Store, backup_id: str, objects: dict[str, int], referenced: set[str], plan: PrunePlan) -> None:
    """Segments of one complete backup that are provably unreferenced: their partition has a readable manifest
    (of a partition backup.json lists) that does not list them. Any other unreferenced segment is ``unknown``."""
    indexed = assess(store, backup_id).manifests
    for key, size in sorted(objects.items()):
        filed = parse_segment_key(key)
        if filed is None or key in referenced:
            continue
        if (filed.topic, filed.partition) in indexed:
            plan.orphans.append(key)
            plan.bytes += size
        else:
            plan.unknown.append(key)


def plan_prune(
    store: Store,
    *,
    keep_last: int | None = None,
    older_than_s: float | None = None,
    orphans: bool = False,
    remnants: bool = False,
    now: int | None = None,
) -> PrunePlan:
    """What a prune would delete (reads the catalog; deletes nothing)."""
    if keep_last is None and older_than_s is None and not orphans and not remnants:
        raise ConfigError(
            "prune needs a retention rule", hint="give --keep-last N and/or --older-than 30d (or --orphans)"
        )
    if keep_last is not None and keep_last < 0:
        raise ConfigError("--keep-last must be 0 or more")
    objects = _objects_by_backup(store)
    listings = list_backups(store)
    plan = PrunePlan()
    _retention(listings, plan, keep_last, older_than_s, now if now is not None else now_ms())
    for b in listings:
        if b.created_at is None:
            if b.status == "no-manifest" and remnants:
                plan.remnants.append(b.backup_id)
            else:
                plan.keep[b.backup_id] = f"{b.status}: not a readable backup"
    referenced = _referenced(store, list(plan.keep), objects)
    for backup_id in [*plan.delete, *plan.remnants]:
        owned = objects.get(backup_id, {})
        plan.protected += sorted(k for k in owned if k in referenced)
        plan.objects[backup_id] = _deletion_order(backup_id, [k for k in owned if k not in referenced])
        plan.bytes += sum(size for k, size in owned.items() if k not in referenced)
    if orphans:
        complete = {b.backup_id for b in listings if b.status == "complete" and b.backup_id in plan.keep}
        for backup_id in sorted(complete):
            _orphans(store, backup_id, objects.get(backup_id, {}), referenced, plan)
    return plan


def execute_prune(store: Store, plan: PrunePlan) -> int:
    """Delete what the plan says, manifests first within each backup; returns the number of objects deleted."""
    deleted = 0
    for backup_id in [*plan.delete, *plan.remnants]:
        started = time.monotonic()
        for key in plan.objects.get(backup_id, []):
            store.delete(key)
            deleted += 1
        _log().info(
            "backup_pruned",
            backup_id=backup_id,
            objects=len(plan.objects.get(backup_id, [])),
            duration_s=round(time.monotonic() - started, 3),
        )
    for key in plan.orphans:
        store.delete(key)
        deleted += 1
    if plan.orphans:
        _log().info("orphans_pruned", objects=len(plan.orphans))
    return deleted
