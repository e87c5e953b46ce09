"""Building the restore plan: from the backup's manifests, the config and the target's topic list.

Segments outside the offset ranges or the time window are skipped by their manifest entry (first/last offset,
min/max timestamp — the same facts as the Parquet column statistics of the one row group) and never read. Segments
the selection cuts through are read and filtered; the dry run counts their matching records from the offset and
timestamp columns alone (:func:`refine_estimates`), so a windowed plan is exact in records and close in bytes.

The completeness :func:`gate` runs while planning, before anything is created or produced.
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pyarrow as pa
import pyarrow.compute as pc

from kafka_backup.engine.catalog.completeness import Assessment, Shortfall, assess, count_mismatches
from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.errors import BackupIncompleteError, ConfigError, IntegrityError
from kafka_backup.engine.format.manifest import BackupManifest, PartitionManifest, TopicInfo
from kafka_backup.engine.format.segment import read_columns
from kafka_backup.engine.kafka.admin import Cluster
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.restore.plan import Occupied, PartitionPlan, RestorePlan, SegmentPlan, TopicPlan
from kafka_backup.engine.restore.preflight import PREFLIGHT_THREADS, check_segments
from kafka_backup.engine.restore.selection import RecordSelection, check_selection, selection_for
from kafka_backup.engine.store import Store


def build_plan(
    config: RestoreConfig, store: Store, existing: dict[str, int], backup: BackupManifest | None = None
) -> RestorePlan:
    """The restore plan: reads the manifests, and the footer of each selected segment (the gate's record counts).
    ``existing`` is the target's topic → partition count."""
    backup = backup or Repository(store).require_backup(config.backup_id)
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
        selected = [(p, sel) for p in range(info.partitions) if (sel := selection_for(config, source, p)) is not None]
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
    sel: RecordSelection,
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


def refine_estimates(plan: RestorePlan, config: RestoreConfig, store: Store) -> RestorePlan:
    """The plan with exact record counts, offsets and times for the segments the selection cuts through, read from
    their ``offset`` and ``timestamp`` columns alone (ranged gets of the footer and those two column chunks; keys,
    values and headers are not read, nor is the checksum verified). Their bytes are estimated pro rata."""
    cut = [(p, s) for p in plan.partitions for s in p.segments if s.partial]
    if not cut:
        return plan

    def kept(p: PartitionPlan, s: SegmentPlan) -> pa.Table:
        sel = selection_for(config, p.source_topic, p.source_partition)
        assert sel is not None
        e = s.entry

        def read_range(start: int, end: int) -> bytes:
            return Repository(store).read_segment(e.key, start=start, end=end)

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
    highs = cluster.watermarks(tps, "high")
    lows = cluster.watermarks(tps, "low")
    return tuple(Occupied(t, p, lows[(t, p)], highs[(t, p)]) for t, p in tps if highs[(t, p)] > lows[(t, p)])


__all__ = ["build_plan", "gate", "refine_estimates", "target_occupancy"]
