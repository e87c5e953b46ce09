"""What a drill restores: scratch topic names, the segments drilled per partition, and the restore job for them.

Invariants: scratch topics are ``<scratch prefix><source topic>`` (shortened with a hash past Kafka's 249
characters), so one prefix finds every topic a drill created; segments validation found unrestorable are left out
of the restore (a real restore would stop at them) and counted as missing; scratch topics keep every record until
they are read back (no retention, no compaction, no age limit).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka_backup.engine.catalog.completeness import Shortfall
from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.drill.config import DrillConfig
from kafka_backup.engine.format.manifest import BackupManifest, PartitionManifest, SegmentEntry

_TOPIC_MAX = 249
UNRESTORABLE = frozenset({"missing", "truncated", "size_mismatch", "checksum_mismatch", "unreadable"})
"""Validation defects of a segment that make the restore engine stop at it: the drill restores around them."""


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
class Target:
    """One drilled source partition: which segments the restore reads, and which it cannot."""

    topic: str
    partition: int
    restorable: list[SegmentEntry]
    unrestorable: list[SegmentEntry]
    all_segments: int


def choose_targets(
    manifests: Mapping[tuple[str, int], PartitionManifest | None], unrestorable: set[str], sample_records: int | None
) -> list[Target]:
    """Per partition, the drilled segments (with ``sample_records``, the newest whole segments holding at least that
    many records), split into restorable and unrestorable."""
    out: list[Target] = []
    for (topic, partition), manifest in sorted(manifests.items()):
        segments = list(manifest.segments) if manifest else []
        if sample_records is not None:
            chosen: list[SegmentEntry] = []
            for entry in reversed(segments):
                if sum(e.records for e in chosen) >= sample_records:
                    break
                chosen.insert(0, entry)
            segments = chosen
        good = [s for s in segments if s.key not in unrestorable]
        bad = [s for s in segments if s.key in unrestorable]
        total = len(manifest.segments) if manifest else 0
        out.append(Target(topic, partition, good, bad, total))
    return out


def restore_config(
    cfg: DrillConfig,
    restore_id: str,
    scratch_prefix: str,
    backup: BackupManifest,
    topics: list[str],
    targets: list[Target],
) -> RestoreConfig:
    """The restore job of the drill: ``topics`` into their scratch topics, around the unrestorable segments."""
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
        "restore_id": restore_id,
        "storage": cfg.storage,
        "target": cfg.target,
        "topics": {"include": topics, "exclude": []},
        "offset_ranges": ranges,
        "topic_map": {t: scratch_topic(scratch_prefix, t) for t in topics},
        "create_topics": {"enabled": True, "replication_factor": rf, "configs": configs},
        # an incomplete backup is drilled for what it holds; what it lacks is scored as missing (and fails)
        "allow_partial": True,
    }
    return RestoreConfig.model_validate(body)


def missing_records(
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
