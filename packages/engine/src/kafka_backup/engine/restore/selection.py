"""What a restore selects: topics (checked against the backup manifest), and per source partition a record filter.

A :class:`RecordSelection` answers twice: from a segment's manifest entry alone (skip it, restore it whole, or read
and filter it) and, for a segment the selection cuts through, per record from its ``offset`` and ``timestamp``
columns. Records without a timestamp (< 0) never match a time window.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.errors import ConfigError
from kafka_backup.engine.format.manifest import BackupManifest, SegmentEntry
from kafka_backup.engine.kafka.admin import Selection, select


@dataclass(frozen=True)
class RecordSelection:
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


def selection_for(config: RestoreConfig, topic: str, partition: int) -> RecordSelection | None:
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
    return RecordSelection(intervals, window.from_, window.to)


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


__all__ = ["RecordSelection", "check_selection", "selection_for"]
