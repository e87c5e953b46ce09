"""Restore: manifests → segments (verified) → selection → target partitions → idempotent producer → Kafka.

The plan (:func:`build_plan`) is computed from the manifests alone: segments outside the offset ranges or the time
window are skipped by their manifest entry (first/last offset, min/max timestamp — the same facts as the Parquet
column statistics of the one row group) and never read. Segments the selection cuts through are read and filtered;
the dry run (:meth:`RestoreRun.plan`) counts their matching records from the offset and timestamp columns alone
(:func:`refine_estimates`), so a windowed plan is exact in records and close in bytes.

Order and resume (kept by :class:`RestoreRun`):

1. Every target partition receives a deterministic stream: the selected records destined to it, in source
   (topic, partition) order, then offset order. Source partitions that share no target partition are independent
   chains, interleaved one segment at a time; within a chain segments are produced strictly in order.
2. Verify before writing. Before anything is written (no topic created, no checkpoint, no record), every selected
   segment not yet restored is checked to exist with its manifest size (:func:`check_segments`: one stat each, in
   parallel), and a new restore applies ``existing_data`` to target partitions that already hold records (refuse,
   append after them, or delete them with delete-records). Each segment's SHA-256 is verified when it is read, by
   the prefetching reader too, before any of its records is produced. A segment whose bytes are corrupt but whose
   size is right is found only then: the segments produced before it are flushed and mapped before the error is
   raised, so a rerun after the repair resumes after them. ``verify_first`` moves every checksum check before the
   first write (at the cost of reading the data twice).
3. Before the first record is produced, ``state.json`` records each target partition's end offset (``starts``) and
   whether it was empty. Nothing is produced before that checkpoint exists.
4. After every ``flush_records`` records the producer is flushed; then, in production order, each finished
   segment's offset map is written. A map's presence proves its segment was fully acknowledged.
5. A rerun (same restore id) reads ``state.json``, treats the chain prefix of mapped segments as done, and for a
   partition that was empty at the start counts the records already in it (``end - start``: offsets of a
   non-transactional producer are contiguous, so compaction or retention on the target cannot change this count)
   and skips exactly that many records of its stream before producing again. The restored data of such a
   partition ends up exactly equal to the selection. A partition that held data at the start cannot tell our
   records from others': it resumes after the last mapped segment (at-least-once).

The guarantee assumes nobody else writes to the target partitions during the restore. End offsets are read until
two reads agree, so records of the crashed run still in flight are counted once they are committed.
"""

from __future__ import annotations

import contextvars
import hashlib
import itertools
import json
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import structlog
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic, OffsetSpec
from opentelemetry import trace

from kafka_backup.engine.catalog.completeness import Assessment, Shortfall, assess, count_mismatches
from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.errors import (
    BackupError,
    BackupIncompleteError,
    BackupNotFoundError,
    ConfigError,
    IntegrityError,
    KafkaOperationError,
    RestoreStateError,
    RestoreTargetNotEmptyError,
    SegmentMissingError,
    SegmentSizeMismatchError,
    StorageNotFoundError,
)
from kafka_backup.engine.format.manifest import (
    BackupManifest,
    PartitionManifest,
    SegmentEntry,
    TopicInfo,
    backup_key,
    manifest_key,
    now_ms,
)
from kafka_backup.engine.format.restore_state import (
    OffsetMap,
    RestoreState,
    build_runs,
    offset_map_key,
    offsets_prefix,
    state_key,
)
from kafka_backup.engine.format.segment import decode, header_lists, payload_bytes, read_columns
from kafka_backup.engine.gcpace import GcPacer
from kafka_backup.engine.kafka.admin import SETTLING_CODES, Cluster, Selection, select
from kafka_backup.engine.kafka.outage import run_guard
from kafka_backup.engine.kafka.partitioner import assign_partitions
from kafka_backup.engine.kafka.sink import Sink
from kafka_backup.engine.restore.offsets import execute_reset, plan_reset
from kafka_backup.engine.store import Store
from kafka_backup.telemetry.baseline import zero_errors
from kafka_backup.telemetry.catalog import Metrics

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("kafka_backup.engine.restore.run")

TP = tuple[str, int]
PREFETCH_MAX_BYTES = 64 * 1024 * 1024
"""The next segment is read and decoded ahead while the current one is produced, unless it holds more record bytes
than this (memory: a prefetched segment is held beside the one being produced)."""
PREFLIGHT_THREADS = 16
"""Concurrent stat calls of the pre-flight check (object stores answer each in a round trip; there may be
thousands of segments)."""
UnitKey = tuple[str, int, int]
"""(source topic, source partition, segment start offset): one source segment of the stream."""


# ---- the plan ---------------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class _Selection:
    """The record filter of one source partition: offset intervals (None = all) and the time window."""

    intervals: tuple[tuple[int, int], ...] | None
    time_from: int | None
    time_to: int | None

    def keeps_segment(self, e: SegmentEntry) -> tuple[bool, bool]:
        """(overlaps, partial) from the manifest's facts, without reading the segment."""
        overlaps_offsets = self.intervals is None or any(
            lo <= e.last_offset and e.first_offset <= hi for lo, hi in self.intervals
        )
        lo_t = self.time_from if self.time_from is not None else -(2**63)
        hi_t = self.time_to if self.time_to is not None else 2**63 - 1
        windowed = self.time_from is not None or self.time_to is not None
        overlaps_time = not windowed or (e.min_timestamp <= hi_t and lo_t <= e.max_timestamp)
        if not (overlaps_offsets and overlaps_time):
            return False, False
        inside_offsets = self.intervals is None or any(
            lo <= e.first_offset and e.last_offset <= hi for lo, hi in self.intervals
        )
        inside_time = not windowed or (lo_t <= e.min_timestamp and e.max_timestamp <= hi_t and e.min_timestamp >= 0)
        return True, not (inside_offsets and inside_time)

    def mask(self, table: pa.Table) -> pa.ChunkedArray:
        offsets = table.column("offset")
        keep = pc.greater_equal(offsets, 0)
        if self.intervals is not None:
            any_interval = None
            for lo, hi in self.intervals:
                inside = pc.and_(pc.greater_equal(offsets, lo), pc.less_equal(offsets, hi))
                any_interval = inside if any_interval is None else pc.or_(any_interval, inside)
            keep = pc.and_(keep, any_interval)
        ts = table.column("timestamp")
        if self.time_from is not None or self.time_to is not None:
            keep = pc.and_(keep, pc.greater_equal(ts, 0))
        if self.time_from is not None:
            keep = pc.and_(keep, pc.greater_equal(ts, self.time_from))
        if self.time_to is not None:
            keep = pc.and_(keep, pc.less_equal(ts, self.time_to))
        return keep


def read_backup_manifest(store: Store, backup_id: str) -> BackupManifest:
    key = backup_key(backup_id)
    try:
        data = store.get(key, operation="manifest")
    except StorageNotFoundError:
        raise BackupNotFoundError(
            f"no backup '{backup_id}' at {store.url} ({key} does not exist)",
            hint="check backup_id and storage.url; `kafka-backup list` shows the backups there",
        ) from None
    return BackupManifest.from_json(data, key)


def read_partition_manifest(store: Store, backup_id: str, topic: str, partition: int) -> PartitionManifest | None:
    key = manifest_key(backup_id, topic, partition)
    try:
        return PartitionManifest.from_json(store.get(key, operation="manifest"), key)
    except StorageNotFoundError:
        return None


def _selection_for(config: RestoreConfig, topic: str, partition: int) -> _Selection | None:
    """None when the partition is not selected at all."""
    wanted = config.partitions.get(topic)
    if wanted is not None and partition not in wanted:
        return None
    ranges = [r for r in config.offset_ranges if r.topic == topic]
    intervals: tuple[tuple[int, int], ...] | None = None
    if ranges:
        chosen = [r for r in ranges if r.partitions is None or partition in r.partitions]
        if not chosen:
            return None
        intervals = tuple((r.from_ or 0, r.to if r.to is not None else 2**63 - 1) for r in chosen)
    window = config.time_window
    return _Selection(intervals, window.from_, window.to)


def check_selection(config: RestoreConfig, backup: BackupManifest) -> Selection:
    """The selected topics; a ConfigError when the selection or a mapping names a topic or partition the backup
    does not hold (checked from the backup manifest alone, before any connection to the target)."""
    chosen = select(backup.topics, config.topics.include, config.topics.exclude, include_internal=True)
    held = ", ".join(sorted(backup.topics)) or "nothing"
    if not chosen.topics:
        raise ConfigError(
            f"no topic of backup '{config.backup_id}' matches topics.include={config.topics.include} "
            f"exclude={config.topics.exclude} (it holds: {held})",
            hint="fix topics.include / --topic",
        )
    named: dict[str, list[tuple[str, list[int]]]] = {
        "partitions": list(config.partitions.items()),
        "offset_ranges": [(r.topic, r.partitions or []) for r in config.offset_ranges],
        "topic_map": [(t, []) for t in config.topic_map],
        "partition_map": [(t, list(m)) for t, m in config.partition_map.items()],
    }
    for key, entries in named.items():
        for name, partitions in entries:
            if name not in backup.topics:
                raise ConfigError(
                    f"{key} names topic '{name}', which is not in backup '{config.backup_id}'",
                    hint=f"topics in the backup: {held}",
                )
            count = backup.topics[name].partitions
            absent = sorted(p for p in partitions if not 0 <= p < count)
            if absent:
                raise ConfigError(
                    f"{key} names partition(s) {', '.join(map(str, absent))} of topic '{name}', which the backup "
                    f"does not hold",
                    hint=f"backup '{config.backup_id}' holds partitions 0-{count - 1} of {name}",
                )
    return chosen


def build_plan(
    config: RestoreConfig, store: Store, existing: dict[str, int], backup: BackupManifest | None = None
) -> RestorePlan:
    """The restore plan: reads the manifests, and the footer of each selected segment (the gate's record counts).
    ``existing`` is the target's topic → partition count."""
    backup = backup or read_backup_manifest(store, config.backup_id)
    chosen = check_selection(config, backup)
    assessment = assess(store, config.backup_id, backup)
    topics: list[TopicPlan] = []
    parts: list[PartitionPlan] = []
    targets_seen: dict[str, str] = {}
    for source in chosen.topics:
        info = backup.topics[source]
        target = config.target_topic(source)
        if target in targets_seen and not config.repartition:
            raise ConfigError(f"topics {targets_seen[target]} and {source} would both restore into {target}")
        targets_seen[target] = source
        mapping = config.partition_map.get(source, {})
        selected = [(p, sel) for p in range(info.partitions) if (sel := _selection_for(config, source, p)) is not None]
        needed = max((mapping.get(p, p) + 1 for p, _ in selected), default=0)
        topic_plan = _topic_plan(config, source, target=target, info=info, existing=existing, needed=needed)
        topics.append(topic_plan)
        for partition, sel in selected:
            if topic_plan.repartition:
                tgts: tuple[int, ...] = tuple(range(topic_plan.partitions))
            else:
                tgts = (mapping.get(partition, partition),)
            manifest = assessment.manifests.get((source, partition))
            parts.append(_partition_plan(source, partition, target=target, targets=tgts, manifest=manifest, sel=sel))
    fingerprint = config.fingerprint()
    return RestorePlan(
        restore_id=config.effective_restore_id(),
        backup_id=config.backup_id,
        fingerprint=fingerprint,
        topics=tuple(topics),
        partitions=tuple(parts),
        time_from=config.time_window.from_,
        time_to=config.time_window.to,
        existing_data=config.existing_data,
        left_out=gate(config, store, assessment, parts),
    )


def gate(
    config: RestoreConfig, store: Store, assessment: Assessment, parts: Sequence[PartitionPlan]
) -> tuple[Shortfall, ...]:
    """The completeness gate, before anything is created or produced: a defective manifest of the selection
    (unreadable, or counts that disagree with its segments: next_offset, or a selected segment's footer) stops the
    restore (``BACKUP_CORRUPT``; a selected segment missing or of the wrong size: ``SEGMENT_MISSING``,
    ``SEGMENT_SIZE_MISMATCH``); anything else the backup lacks for it stops it too (``BACKUP_INCOMPLETE``) unless
    ``allow_partial`` accepts it, and is then returned: what the restore leaves out."""
    relevant = assessment.relevant([p.source for p in parts])
    defects = [f for f in relevant if f.defective]
    if not defects:
        # a missing or short segment is named by its own code (one stat each) before the footers are read
        check_segments(store, [s.entry for p in parts for s in p.segments])
        segments = [(p.source, s.entry) for p in parts for s in p.segments]
        defects = count_mismatches(store, config.backup_id, segments)
    if defects:
        raise IntegrityError(
            f"backup '{config.backup_id}' has defective manifests for the selection: "
            + "; ".join(str(f) for f in defects),
            hint="run `kafka-backup validate` for every defect; restore a different backup, or leave these "
            "partitions out (partitions / --topic)",
        )
    if relevant and not config.allow_partial:
        raise BackupIncompleteError(
            f"backup '{config.backup_id}' is incomplete for the selection: " + "; ".join(str(f) for f in relevant),
            hint="restore what it holds with --allow-partial (allow_partial: true), or restore a complete backup",
        )
    return tuple(relevant)


def _topic_plan(
    config: RestoreConfig, source: str, *, target: str, info: TopicInfo, existing: dict[str, int], needed: int
) -> TopicPlan:
    """``needed``: partitions the selected source partitions map to (without repartitioning)."""
    create = target not in existing
    if create and not config.create_topics.enabled:
        raise ConfigError(
            f"target topic {target} does not exist and create_topics.enabled is false",
            hint="create it, or set create_topics.enabled: true",
        )
    if create:
        default = max(info.partitions, needed)
        count = config.create_topics.partitions.get(target, default) if config.repartition else default
    else:
        count = existing[target]
    if not config.repartition and count < needed:
        raise ConfigError(
            f"target topic {target} has {count} partition{'' if count == 1 else 's'}, the restore of {source} "
            f"needs {needed}",
            hint="add partitions to the target topic, map partitions with partition_map, or set repartition: true",
        )
    configs = {**info.configs, **config.create_topics.configs}
    if configs.get("message.timestamp.type") == "LogAppendTime" and "message.timestamp.type" not in (
        config.create_topics.configs
    ):
        # LogAppendTime on the target would replace every original timestamp with the restore time
        configs["message.timestamp.type"] = "CreateTime"
    rf = config.create_topics.replication_factor or info.replication_factor
    return TopicPlan(source, target, count, create, rf, configs, config.repartition)


def _partition_plan(
    topic: str,
    partition: int,
    *,
    target: str,
    targets: tuple[int, ...],
    manifest: PartitionManifest | None,
    sel: _Selection,
) -> PartitionPlan:
    chosen: list[SegmentPlan] = []
    skipped = 0
    for entry in manifest.segments if manifest else ():
        overlaps, partial = sel.keeps_segment(entry)
        if overlaps:
            chosen.append(SegmentPlan(entry, partial))
        else:
            skipped += 1
    lost = 0
    for gap in manifest.gaps if manifest else ():
        if gap.reason == "retention" and (
            sel.intervals is None or any(lo < gap.end_offset and gap.start_offset <= hi for lo, hi in sel.intervals)
        ):
            lost += 1
    entries = [s.entry for s in chosen]
    first = entries[0].first_offset if entries else None
    last = entries[-1].last_offset if entries else None
    if sel.intervals is not None and first is not None and last is not None:
        first = max(first, min(lo for lo, _ in sel.intervals))
        last = min(last, max(hi for _, hi in sel.intervals))
    min_ts = min((e.min_timestamp for e in entries), default=None)
    max_ts = max((e.max_timestamp for e in entries), default=None)
    if min_ts is not None and sel.time_from is not None:
        min_ts = max(min_ts, sel.time_from)
    if max_ts is not None and sel.time_to is not None:
        max_ts = min(max_ts, sel.time_to)
    return PartitionPlan(
        source_topic=topic,
        source_partition=partition,
        target_topic=target,
        targets=targets,
        segments=tuple(chosen),
        skipped_segments=skipped,
        records=sum(e.records for e in entries),
        exact=not any(s.partial for s in chosen),
        bytes=sum(e.uncompressed_bytes for e in entries),
        bytes_exact=not any(s.partial for s in chosen),
        first_offset=first,
        last_offset=last,
        min_timestamp=min_ts,
        max_timestamp=max_ts,
        lost_ranges=lost,
    )


def check_segments(store: Store, segments: Sequence[SegmentEntry]) -> None:
    """The pre-flight check: every segment exists with the size its manifest entry records. One stat per segment,
    ``PREFLIGHT_THREADS`` at a time. Raises SEGMENT_MISSING (or SEGMENT_SIZE_MISMATCH) naming the first bad key."""
    if not segments:
        return
    with ThreadPoolExecutor(min(PREFLIGHT_THREADS, len(segments)), thread_name_prefix="segment-stat") as pool:
        # each stat runs in a copy of the caller's context (bound log context, the current span)
        futures = [pool.submit(contextvars.copy_context().run, store.stat, e.key) for e in segments]
        infos = [f.result() for f in futures]
    missing = [e.key for e, info in zip(segments, infos, strict=True) if info is None]
    wrong = [
        (e, info.size) for e, info in zip(segments, infos, strict=True) if info is not None and info.size != e.size
    ]
    hint = "restore from another copy of the backup, or leave that partition or range out of the selection"
    if missing:
        raise SegmentMissingError(
            f"{len(missing)} of {len(segments)} selected segments are missing from storage, first {missing[0]}; "
            "nothing was written",
            key=missing[0],
            hint=hint,
        )
    if wrong:
        entry, size = wrong[0]
        raise SegmentSizeMismatchError(
            f"{len(wrong)} of {len(segments)} selected segments differ in size from their manifest entries, first "
            f"{entry.key} ({size:,} bytes stored, {entry.size:,} in the manifest); nothing was written",
            key=entry.key,
            hint=hint,
        )


VERIFY_THREADS = 4
"""Concurrent whole-segment reads of ``verify_first`` (each holds one segment in memory while it is hashed)."""


def verify_checksums(store: Store, segments: Sequence[SegmentEntry]) -> None:
    """``verify_first``: read every segment and compare its SHA-256 with the manifest entry (hashlib releases the
    GIL, so reads and hashes overlap). Raises BACKUP_CORRUPT naming the first bad key and how many are bad."""
    if not segments:
        return

    def digest(entry: SegmentEntry) -> str:
        return hashlib.sha256(store.get(entry.key, operation="segment")).hexdigest()

    with ThreadPoolExecutor(min(VERIFY_THREADS, len(segments)), thread_name_prefix="segment-verify") as pool:
        futures = [pool.submit(contextvars.copy_context().run, digest, e) for e in segments]
        bad = [e.key for e, f in zip(segments, futures, strict=True) if f.result() != e.sha256]
    if bad:
        raise IntegrityError(
            f"{len(bad)} of {len(segments)} selected segments fail their SHA-256 check, first {bad[0]}; "
            "nothing was written",
            hint="restore from another copy of the backup, or leave that partition or range out of the selection",
        )


def refine_estimates(plan: RestorePlan, config: RestoreConfig, store: Store) -> RestorePlan:
    """The plan with exact record counts, offsets and times for the segments the selection cuts through, read from
    their ``offset`` and ``timestamp`` columns alone (ranged gets of the footer and those two column chunks; keys,
    values and headers are not read, nor is the checksum verified). Their bytes are estimated pro rata."""
    cut = [(p, s) for p in plan.partitions for s in p.segments if s.partial]
    if not cut:
        return plan

    def kept(p: PartitionPlan, s: SegmentPlan) -> pa.Table:
        sel = _selection_for(config, p.source_topic, p.source_partition)
        assert sel is not None
        e = s.entry

        def read_range(start: int, end: int) -> bytes:
            return store.get(e.key, operation="segment", start=start, end=end)

        table = read_columns(read_range, e.size, ["offset", "timestamp"], name=e.key)
        return table.filter(sel.mask(table))

    with ThreadPoolExecutor(min(PREFLIGHT_THREADS, len(cut)), thread_name_prefix="segment-estimate") as pool:
        futures = {(p.source, s.entry.key): pool.submit(contextvars.copy_context().run, kept, p, s) for p, s in cut}
        tables = {k: f.result() for k, f in futures.items()}
    refined = []
    for p in plan.partitions:
        records = nbytes = 0
        offsets: list[int] = []
        times: list[int] = []
        for s in p.segments:
            e = s.entry
            if not s.partial:
                records += e.records
                nbytes += e.uncompressed_bytes
                offsets += [e.first_offset, e.last_offset]
                times += [e.min_timestamp, e.max_timestamp]
                continue
            table = tables[(p.source, e.key)]
            n = table.num_rows
            records += n
            nbytes += e.uncompressed_bytes * n // max(1, e.records)
            if n:
                for name, out in (("offset", offsets), ("timestamp", times)):
                    bounds = pc.min_max(table.column(name))
                    out += [bounds["min"].as_py(), bounds["max"].as_py()]
        refined.append(
            replace(
                p,
                records=records,
                exact=True,
                bytes=nbytes,
                first_offset=min(offsets, default=None),
                last_offset=max(offsets, default=None),
                min_timestamp=min(times, default=None),
                max_timestamp=max(times, default=None),
            )
        )
    return replace(plan, partitions=tuple(refined))


def target_occupancy(cluster: Cluster, plan: RestorePlan) -> tuple[Occupied, ...]:
    """Target partitions of existing topics (``create`` false) that hold records: low and high watermarks."""
    existing = {t.target_topic for t in plan.topics if not t.create}
    tps = [tp for tp in plan.target_partitions() if tp[0] in existing]
    if not tps:
        return ()
    highs = list_offsets(cluster, tps, OffsetSpec.latest())  # type: ignore[no-untyped-call]
    lows = list_offsets(cluster, tps, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
    return tuple(Occupied(t, p, lows[(t, p)], highs[(t, p)]) for t, p in tps if highs[(t, p)] > lows[(t, p)])


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


def list_offsets(cluster: Cluster, tps: list[TP], spec: OffsetSpec) -> dict[TP, int]:
    """ListOffsets (read_uncommitted), retried while the partitions' leaders settle (fresh topics say NOT_LEADER) and
    through outages (see :mod:`~kafka_backup.engine.kafka.outage`)."""
    return cluster.offsets([TopicPartition(*tp) for tp in tps], spec, read_committed=False, also=SETTLING_CODES)


# ---- the run ----------------------------------------------------------------------------------------------------


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


@dataclass
class _Pending:
    """A segment whose records were produced but not yet flushed: what its offset map needs."""

    plan: PartitionPlan
    entry: SegmentEntry
    sources: list[int]
    partitions: list[int]
    produced: list[bool]
    skipped_targets: list[int]
    """Target offsets of records found already written (for the map); -1 for records produced now."""
    bytes: int


class RestoreRun:
    """One restore run. Not thread-safe."""

    def __init__(
        self,
        config: RestoreConfig,
        *,
        metrics: Metrics | None = None,
        store: Store | None = None,
        stop: threading.Event | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        client_extra: Mapping[str, Any] | None = None,
        final_client_stats: bool | None = None,
    ) -> None:
        """``client_extra``: librdkafka settings for this run's clients (``stats_cb``, ``logger``) from the CLI.

        ``final_client_stats``: before closing the producer, wait (one ``statistics.interval.ms`` at most) for a last
        statistics report, so the client families include the final records; the CLI asks for it when the run's
        metrics are read after it (metrics file, endpoint, OTLP). Default: whenever a ``stats_cb`` is given."""
        self.config = config
        self.client_extra = dict(client_extra or {})
        self.final_client_stats = "stats_cb" in self.client_extra if final_client_stats is None else final_client_stats
        self.backup_id = config.backup_id
        self.restore_id = config.effective_restore_id()
        self.metrics = metrics or Metrics()
        self.store = store or config.storage.open(metrics=self.metrics, backup_id=self.backup_id)
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.summary = RestoreSummary(self.restore_id, self.backup_id)
        self.guard = run_guard(
            config.target, "target", self.metrics, backup_id=self.backup_id, stop=self.stop, restore_id=self.restore_id
        )
        """Rides out broker restarts and stalls: shared by the admin calls and the producer (one outage, one log)."""
        self._labels = {"restore_id": self.restore_id, "backup_id": self.backup_id}
        self._started = time.monotonic()
        self._done = 0
        self._total = 0
        self._bytes_done = 0

    def _admin_extra(self) -> dict[str, Any]:
        return {k: v for k, v in self.client_extra.items() if k == "logger"}

    # ---- entry points ---------------------------------------------------------------------------------------

    def plan(self) -> RestorePlan:
        """The plan (reads manifests and the target's topic list; writes nothing)."""
        backup = read_backup_manifest(self.store, self.backup_id)
        check_selection(self.config, backup)  # what the backup alone refutes fails before connecting
        cluster = Cluster(self.config.target, self._admin_extra(), guard=self.guard)
        plan = build_plan(self.config, self.store, cluster.topic_partitions(), backup)  # its gate stats segments
        plan = refine_estimates(plan, self.config, self.store)
        return replace(plan, occupied=target_occupancy(cluster, plan))

    def run(self) -> RestoreSummary:
        self._started = time.monotonic()
        status = "failure"
        zero_errors(self.metrics, backup_id=self.backup_id, operation="restore", error_types=BackupError.codes())
        with _tracer.start_as_current_span(
            "restore", attributes={"backup_id": self.backup_id, "restore_id": self.restore_id}
        ):
            try:
                self._run()
                status = "success" if not self.stop.is_set() else "stopped"
            except BackupError as exc:
                self.metrics.backup_errors_total.add(
                    1, {"backup_id": self.backup_id, "operation": "restore", "error_type": exc.code}
                )
                raise
            finally:
                self.guard.close()
                self.summary.duration_s = time.monotonic() - self._started
                self.summary.status = status
                self.metrics.restore_duration_seconds.record(
                    self.summary.duration_s, {"backup_id": self.backup_id, "status": status}
                )
        return self.summary

    # ---- phases -----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        cfg = self.config
        backup = read_backup_manifest(self.store, self.backup_id)
        check_selection(cfg, backup)  # what the backup alone refutes fails before connecting
        cluster = Cluster(cfg.target, self._admin_extra(), guard=self.guard)
        plan = build_plan(cfg, self.store, cluster.topic_partitions(), backup)
        self.summary.segments_skipped = sum(p.skipped_segments for p in plan.partitions)
        self._record_left_out(plan)
        log.info(
            "restore_planned",
            backup_id=self.backup_id,
            restore_id=self.restore_id,
            partitions=len(plan.partitions),
            segments=plan.segments,
            records=plan.records,
        )
        state = self._read_state()
        if state is not None and state.fingerprint != plan.fingerprint:
            raise RestoreStateError(
                f"restore '{self.restore_id}' was started with a different selection or mapping",
                hint="rerun it with the original settings, or choose a new --restore-id",
            )
        if state is None or state.status != "complete":
            self._check_unmapped_segments(plan)
        if state is None:
            # a new restore: the records in the target are not ours (a resumed one's are: it ignores the policy)
            self._existing_data(cluster, plan)
        self._create_topics(cluster, plan)
        fresh_ends: dict[TP, int] | None = None
        if state is None:
            state, fresh_ends = self._start_state(cluster, plan)
        elif state.status == "complete":
            log.info("restore_already_complete", backup_id=self.backup_id, restore_id=self.restore_id)
        self._total = plan.records
        if state.status != "complete":
            self._restore(cluster, plan, state, fresh_ends)
            if self.stop.is_set():
                return
            state = self._complete_state(cluster, state)
        else:
            self._done = self._total = plan.records
        self._report_progress(final=True)
        if cfg.consumer_groups.reset:
            resets = plan_reset(self.store, backup, state, cfg.consumer_groups.include, cfg.consumer_groups.exclude)
            results = execute_reset(cluster, resets, metrics=self.metrics, backup_id=self.backup_id)
            self.summary.offset_reset = [r.to_dict() for r in results]

    def _check_unmapped_segments(self, plan: RestorePlan) -> None:
        """Pre-flight: every segment still to be produced (no offset map yet) exists with its manifest size (and,
        with ``verify_first``, has its manifest SHA-256)."""
        done = {o.key for o in self.store.list(offsets_prefix(self.backup_id, self.restore_id))}
        todo = [
            s.entry
            for p in plan.partitions
            for s in p.segments
            if offset_map_key(self.backup_id, self.restore_id, p.source_topic, p.source_partition, s.entry.start_offset)
            not in done
        ]
        check_segments(self.store, todo)
        if self.config.verify_first:
            verify_checksums(self.store, todo)

    def _existing_data(self, cluster: Cluster, plan: RestorePlan) -> None:
        """Apply ``existing_data`` to target partitions that already hold records, before anything is written."""
        occupied = target_occupancy(cluster, plan)
        if not occupied:
            return
        policy = self.config.existing_data
        what = describe_occupancy(occupied)
        self.summary.existing_records = sum(o.records for o in occupied)
        if policy == "refuse":
            raise RestoreTargetNotEmptyError(
                f"the target already holds records: {what}; nothing was written",
                hint="choose --existing-data append (after them; a resumed run may duplicate records there) or "
                "--existing-data truncate (delete them first), or restore into another topic with --topic-map",
            )
        if policy == "append":
            log.warning(
                "restore_appending_to_existing_records",
                restore_id=self.restore_id,
                partitions=len(occupied),
                records=self.summary.existing_records,
            )
            return
        try:
            lows = cluster.delete_records({(o.topic, o.partition): o.high for o in occupied})
        except KafkaOperationError as exc:
            # typically a compacted topic: Kafka deletes records only under cleanup.policy=delete
            raise KafkaOperationError(
                f"{exc.message} (the target holds: {what}; nothing was written)",
                hint="--existing-data append writes after them; or delete and recreate the topic",
            ) from None
        left = [o for o in occupied if lows[(o.topic, o.partition)] < o.high]
        if left:
            raise KafkaOperationError(f"delete-records left records below the end of {describe_occupancy(left)}")
        self.summary.truncated_records = self.summary.existing_records
        log.info(
            "target_truncated",
            restore_id=self.restore_id,
            partitions=len(occupied),
            records=self.summary.truncated_records,
        )

    def _record_left_out(self, plan: RestorePlan) -> None:
        """A partial restore (``allow_partial``) says what it leaves out: summary, log, metric."""
        self.summary.left_out = list(plan.left_out)
        for f in plan.left_out:
            log.warning(
                "restore_leaves_out",
                backup_id=self.backup_id,
                restore_id=self.restore_id,
                topic=f.topic,
                partition=f.partition,
                reason=f.kind,
                detail=f.detail,
            )
            labels = {"topic": f.topic or "", "partition": "" if f.partition is None else str(f.partition)}
            self.metrics.restore_left_out_total.add(1, {**self._labels, **labels, "reason": f.kind})

    def _read_state(self) -> RestoreState | None:
        key = state_key(self.backup_id, self.restore_id)
        try:
            return RestoreState.from_json(self.store.get(key, operation="checkpoint"), key)
        except StorageNotFoundError:
            return None

    def _create_topics(self, cluster: Cluster, plan: RestorePlan) -> None:
        missing = [t for t in plan.topics if t.create and t.target_topic not in cluster.topic_partitions()]
        if not missing:
            return
        new = [
            NewTopic(
                t.target_topic, num_partitions=t.partitions, replication_factor=t.replication_factor, config=t.configs
            )
            for t in missing
        ]

        def create() -> list[str]:
            # retried as a whole through an outage: a topic our earlier attempt created already exists now
            futures = cluster.admin.create_topics(new, request_timeout=cluster.timeout)
            for future in futures.values():
                try:
                    future.result(timeout=cluster.timeout)
                except KafkaException as exc:
                    if "TOPIC_ALREADY_EXISTS" not in str(exc):
                        raise
            return list(futures)

        for name in cluster.call("create_topics", create):
            self.summary.topics_created.append(name)
            log.info("topic_created", restore_id=self.restore_id, topic=name)
        wanted = {t.target_topic: t.partitions for t in missing}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            metadata = cluster.metadata()
            ready = all(
                name in metadata.topics
                and len(metadata.topics[name].partitions) >= count
                and all(p.leader >= 0 for p in metadata.topics[name].partitions.values())
                for name, count in wanted.items()
            )
            if ready:
                return
            time.sleep(0.05)
        raise KafkaOperationError(f"created topics {sorted(wanted)} have no leaders after 30 s")

    def _start_state(self, cluster: Cluster, plan: RestorePlan) -> tuple[RestoreState, dict[TP, int]]:
        """The state of a new restore, written before anything is produced; also the end offsets it records.

        No run of this restore has produced yet (the state is written first), so nothing of ours can be in flight:
        one read of the end offsets is enough."""
        tps = plan.target_partitions()
        ends = list_offsets(cluster, tps, OffsetSpec.latest())  # type: ignore[no-untyped-call]
        starts_log = list_offsets(cluster, tps, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
        starts: dict[str, dict[str, int]] = {}
        empty: dict[str, list[int]] = {}
        for tp in tps:
            starts.setdefault(tp[0], {})[str(tp[1])] = ends[tp]
            if ends[tp] == starts_log[tp]:
                empty.setdefault(tp[0], []).append(tp[1])
        routes: dict[str, dict[str, list[int]]] = {}
        for p in plan.partitions:
            routes.setdefault(p.source_topic, {})[str(p.source_partition)] = list(p.targets)
        state = RestoreState(
            restore_id=self.restore_id,
            backup_id=self.backup_id,
            fingerprint=plan.fingerprint,
            created_at=now_ms(),
            updated_at=now_ms(),
            status="running",
            target_bootstrap=self.config.target.bootstrap_servers,
            topic_map={t.source_topic: t.target_topic for t in plan.topics},
            routes=routes,
            starts=starts,
            empty=empty,
            target_cluster_id=cluster.cluster_id(),
        )
        self.store.put(state_key(self.backup_id, self.restore_id), state.to_json(), operation="checkpoint")
        log.info(
            "restore_started",
            backup_id=self.backup_id,
            restore_id=self.restore_id,
            target_partitions=len(tps),
            empty_partitions=sum(len(v) for v in empty.values()),
        )
        return state, ends

    def _complete_state(self, cluster: Cluster, state: RestoreState) -> RestoreState:
        # every record of this run was acknowledged (acks=all) before this: the end offsets already include them
        tps = state.target_partitions()
        ends = list_offsets(cluster, tps, OffsetSpec.latest())  # type: ignore[no-untyped-call]
        body: dict[str, dict[str, int]] = {}
        for (topic, partition), end in ends.items():
            body.setdefault(topic, {})[str(partition)] = end
        done = replace(state, status="complete", ends=body, completed_at=now_ms(), updated_at=now_ms())
        self.store.put(state_key(self.backup_id, self.restore_id), done.to_json(), operation="checkpoint")
        log.info("restore_complete", backup_id=self.backup_id, restore_id=self.restore_id)
        return done

    @staticmethod
    def _stable_ends(cluster: Cluster, tps: list[TP]) -> dict[TP, int]:
        """End offsets, read until two reads agree: when resuming, records of the crashed run may still be being
        committed."""
        previous = list_offsets(cluster, tps, OffsetSpec.latest())  # type: ignore[no-untyped-call]
        for _ in range(20):
            time.sleep(0.25)
            current = list_offsets(cluster, tps, OffsetSpec.latest())  # type: ignore[no-untyped-call]
            if current == previous:
                return current
            previous = current
        return previous

    # ---- producing ----------------------------------------------------------------------------------------------

    def _restore(
        self, cluster: Cluster, plan: RestorePlan, state: RestoreState, fresh_ends: dict[TP, int] | None
    ) -> None:
        """Produce every segment not mapped yet; ``fresh_ends`` are the end offsets read when this run created the
        state (None when resuming: then they are read again, and allowed to settle)."""
        queues = [deque((p, s) for p in chain for s in p.segments) for chain in chains(plan.partitions)]
        mapped = self._drop_mapped_prefix(queues)
        ends = fresh_ends if fresh_ends is not None else self._stable_ends(cluster, state.target_partitions())
        self._skip: dict[TP, int] = {}
        self._next: dict[TP, int] = {}
        for tp in state.target_partitions():
            start = state.start(*tp)
            already = mapped.get(tp, 0)
            self._next[tp] = start + already
            if state.is_empty_at_start(*tp):
                written = ends[tp] - start
                if written < already:
                    raise RestoreStateError(
                        f"target partition {tp[0]}-{tp[1]} holds {written} records of restore '{self.restore_id}' "
                        f"but {already} were acknowledged before: it was deleted or truncated since",
                        hint="start over with a new --restore-id (and an empty topic)",
                    )
                self._skip[tp] = written - already
            else:
                self._skip[tp] = 0
        resumed = sum(self._skip.values())
        if mapped or resumed:
            log.info(
                "restore_resumed",
                backup_id=self.backup_id,
                restore_id=self.restore_id,
                mapped_records=sum(mapped.values()),
                unmapped_records_found=resumed,
            )
        self._report_progress()
        sink = Sink(
            self.config.target,
            client_id=f"kafka-backup-restore-{socket.gethostname()}-{os.getpid()}",
            rate=self.config.rate_limit,
            extra=self.client_extra,
            guard=self.guard,
        )
        pending: list[_Pending] = []
        pending_records = 0
        # round-robin over the chains: one segment of each in turn
        order = [step for turn in itertools.zip_longest(*queues) for step in turn if step is not None]
        try:
            with GcPacer() as gc_pacer, ThreadPoolExecutor(1, thread_name_prefix="segment-reader") as reader:
                ahead: Future[pa.Table] | None = None
                for i, (p, s) in enumerate(order):
                    if self.stop.is_set():
                        break
                    gc_pacer.tick()
                    try:
                        table = ahead.result() if ahead is not None else self._load_segment(p, s)
                    except IntegrityError:
                        # map what was produced before the bad segment, so a rerun after the repair resumes after it
                        self._checkpoint(sink, pending)
                        raise
                    ahead = None
                    if i + 1 < len(order) and order[i + 1][1].entry.uncompressed_bytes <= PREFETCH_MAX_BYTES:
                        # read, verify and decode the next segment (I/O, SHA-256, Parquet: no GIL) while producing
                        ahead = reader.submit(contextvars.copy_context().run, self._load_segment, *order[i + 1])
                    item = self._produce_segment(sink, p, s, table)
                    pending.append(item)
                    pending_records += item.produced.count(True)
                    if pending_records >= self.config.flush_records:
                        self._checkpoint(sink, pending)
                        pending, pending_records = [], 0
                self._checkpoint(sink, pending)
        finally:
            sink.close(final_stats=self.final_client_stats)

    def _drop_mapped_prefix(self, queues: list[deque[tuple[PartitionPlan, SegmentPlan]]]) -> dict[TP, int]:
        """Drop each chain's prefix of segments with offset maps (done); their record counts per target partition."""
        done_maps = {o.key for o in self.store.list(offsets_prefix(self.backup_id, self.restore_id))}
        mapped: dict[TP, int] = {}
        for queue in queues:
            while queue:
                p, s = queue[0]
                key = offset_map_key(
                    self.backup_id, self.restore_id, p.source_topic, p.source_partition, s.entry.start_offset
                )
                if key not in done_maps:
                    break
                queue.popleft()
                counts = OffsetMap.from_json(self.store.get(key, operation="checkpoint"), key).counts()
                for t, n in counts.items():
                    mapped[(p.target_topic, t)] = mapped.get((p.target_topic, t), 0) + n
                self._account_done(s.entry, sum(counts.values()), s.entry.uncompressed_bytes)
                self.summary.resumed_records += sum(counts.values())
        return mapped

    def _account_done(self, entry: SegmentEntry, kept: int, nbytes: int) -> None:
        self._done += kept
        self._total -= entry.records - kept
        self._bytes_done += nbytes

    def _load_segment(self, p: PartitionPlan, s: SegmentPlan) -> pa.Table:
        """Read, verify (SHA-256) and decode one segment; only the selected records when it is partly selected."""
        data = self.store.get(s.entry.key, operation="segment")
        table = decode(data, expected_sha256=s.entry.sha256, name=s.entry.key)
        if s.partial:
            sel = _selection_for(self.config, p.source_topic, p.source_partition)
            assert sel is not None
            table = table.filter(sel.mask(table))
        return table

    def _produce_segment(self, sink: Sink, p: PartitionPlan, s: SegmentPlan, table: pa.Table) -> _Pending:
        entry = s.entry
        with _tracer.start_as_current_span(
            "restore.segment",
            attributes={"backup_id": self.backup_id, "topic": p.source_topic, "partition": p.source_partition},
        ):
            self.summary.segments_read += 1
            n = table.num_rows
            sources: list[int] = table.column("offset").to_pylist()
            keys: list[bytes | None] = table.column("key").to_pylist()
            if len(p.targets) > 1:
                partitions = assign_partitions(keys, sources, p.source_partition, len(p.targets))
            else:
                partitions = [p.targets[0]] * n
            topic = p.target_topic
            produced = [True] * n
            skipped_targets = [-1] * n
            skip, nxt = self._skip, self._next
            send: Sequence[int] = range(n)
            if any(skip[(topic, t)] > 0 for t in p.targets):  # resuming: records already in the target are skipped
                for i in range(n):
                    tp = (topic, partitions[i])
                    if skip[tp] > 0:
                        skip[tp] -= 1
                        produced[i] = False
                        skipped_targets[i] = nxt[tp]
                        nxt[tp] += 1
                send = [i for i in range(n) if produced[i]]
            sink.produce_columns(
                topic,
                send,
                partitions=partitions,
                keys=keys,
                values=table.column("value").to_pylist(),
                # <= 0 (no timestamp) lets the producer stamp the current time
                timestamps=pc.max_element_wise(table.column("timestamp"), 0).to_pylist(),
                headers=header_lists(table.column("headers")),
                sizes=pc.add(
                    pc.fill_null(pc.binary_length(table.column("key")), 0),
                    pc.fill_null(pc.binary_length(table.column("value")), 0),
                ).to_pylist(),
            )
            nbytes = payload_bytes(table) if n else 0
            self._total -= entry.records - n
            resumed = produced.count(False)
            self._done += resumed
            self.summary.resumed_records += resumed
            return _Pending(p, entry, sources, partitions, produced, skipped_targets, nbytes)

    def _checkpoint(self, sink: Sink, pending: list[_Pending]) -> None:
        """Flush; then write each segment's offset map in production order (the segment's commit point)."""
        acked = sink.flush()
        cursor = dict.fromkeys(acked, 0)
        per_partition: dict[TP, int] = {}
        per_topic_bytes: dict[str, int] = {}
        for item in pending:
            topic = item.plan.target_topic
            targets = self._contiguous_targets(item, acked, cursor, per_partition)
            if targets is None:
                targets = self._targets_one_by_one(item, acked, cursor, per_partition)
            omap = OffsetMap(
                source_topic=item.plan.source_topic,
                source_partition=item.plan.source_partition,
                segment_start=item.entry.start_offset,
                target_topic=topic,
                runs=build_runs(item.sources, item.partitions, targets),
            )
            key = offset_map_key(
                self.backup_id,
                self.restore_id,
                item.plan.source_topic,
                item.plan.source_partition,
                item.entry.start_offset,
            )
            self.store.put(key, omap.to_json(), operation="checkpoint")
            produced = item.produced.count(True)
            self._done += produced
            self._bytes_done += item.bytes
            self.summary.records += produced
            self.summary.bytes += item.bytes if produced else 0
            per_topic_bytes[topic] = per_topic_bytes.get(topic, 0) + (item.bytes if produced else 0)
        for (topic, part), n in per_partition.items():
            self.metrics.restore_records_total.add(n, {**self._labels, "topic": topic, "partition": str(part)})
        for topic, nbytes in per_topic_bytes.items():
            self.metrics.restore_bytes_total.add(nbytes, {**self._labels, "topic": topic})
        self._report_progress()

    def _contiguous_targets(
        self, item: _Pending, acked: dict[TP, list[int]], cursor: dict[TP, int], per_partition: dict[TP, int]
    ) -> list[int] | None:
        """The common case in one step: every record of the segment produced to one target partition and
        acknowledged at the offsets right after the previous ones. Returns their target offsets (advancing
        ``cursor``, the next expected offset and the counts), or None for the record-by-record path."""
        n = len(item.partitions)
        if not n or not all(item.produced) or item.partitions.count(item.partitions[0]) != n:
            return None
        tp = (item.plan.target_topic, item.partitions[0])
        offsets = acked.get(tp)
        start, at = self._next[tp], cursor.get(tp, 0)
        expected = list(range(start, start + n))
        if offsets is None or offsets[at : at + n] != expected:
            return None
        cursor[tp] = at + n
        self._next[tp] = start + n
        per_partition[tp] = per_partition.get(tp, 0) + n
        return expected

    def _targets_one_by_one(
        self, item: _Pending, acked: dict[TP, list[int]], cursor: dict[TP, int], per_partition: dict[TP, int]
    ) -> list[int]:
        """Target offsets record by record: skipped records, several target partitions, or others writing too."""
        topic = item.plan.target_topic
        targets: list[int] = []
        for i, part in enumerate(item.partitions):
            tp = (topic, part)
            if not item.produced[i]:
                targets.append(item.skipped_targets[i])
                continue
            offsets = acked.get(tp)
            if offsets is None or cursor[tp] >= len(offsets):
                raise KafkaOperationError(f"missing delivery report for {topic}-{part}")
            offset = offsets[cursor[tp]]
            cursor[tp] += 1
            if offset != self._next[tp]:
                log.warning(
                    "target_partition_written_by_others",
                    restore_id=self.restore_id,
                    topic=topic,
                    partition=part,
                    expected=self._next[tp],
                    actual=offset,
                )
            self._next[tp] = offset + 1
            targets.append(offset)
            per_partition[tp] = per_partition.get(tp, 0) + 1
        return targets

    def _report_progress(self, final: bool = False) -> None:
        elapsed = time.monotonic() - self._started
        if final:
            self._done = self._total = max(self._done, self._total)
        progress = Progress(self._done, self._total, self._bytes_done, elapsed)
        m = self.metrics
        m.restore_progress_percent.set(100.0 if final else progress.percent, self._labels)
        m.restore_throughput_records_per_sec.set(self.summary.records / elapsed if elapsed > 0 else 0.0, self._labels)
        eta = progress.eta_s
        if eta is not None:
            m.restore_eta_seconds.set(0.0 if final else eta, self._labels)
        if self.on_progress is not None:
            self.on_progress(progress)


def run_restore(config: RestoreConfig, **kwargs: Any) -> RestoreSummary:
    """Restore what ``config`` selects; returns the summary. Library entry point of ``kafka-backup restore``."""
    return RestoreRun(config, **kwargs).run()


__all__ = [
    "Occupied",
    "PartitionPlan",
    "Progress",
    "RestorePlan",
    "RestoreRun",
    "RestoreSummary",
    "TopicPlan",
    "build_plan",
    "chains",
    "run_restore",
]
