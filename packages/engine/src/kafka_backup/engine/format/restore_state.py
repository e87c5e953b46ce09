"""What a restore leaves on storage: its checkpoint and its source→target offset map.

Layout, under the backup it restores (keys built by :mod:`kafka_backup.engine.format.layout`; all objects written
with ``operation="checkpoint"``; format marker and version checked on read by
:mod:`kafka_backup.engine.format.envelope`)::

    <backup_id>/restores/<restore_id>/state.json                                    the restore's checkpoint
    <backup_id>/restores/<restore_id>/offsets/<topic>/<partition>/<start:020>.json  one per source segment

``state.json`` is written once before the first record is produced (target start offsets, routes) and again when the
restore completes (target end offsets). An offset-map object is written after every record of its source segment
was acknowledged by the target cluster, so its presence proves that segment is restored; it lists, per target
partition, runs ``(source offset, target offset, length)`` where both offsets advance together, which is all the
offset translation needs. A crash leaves at most the segments in flight without a map; the rerun recognises what
they already wrote (see :mod:`kafka_backup.engine.restore.run`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from kafka_backup.engine.format.envelope import OFFSET_MAP, RESTORE_STATE, Stored, seal

__all__ = [
    "MAP_FORMAT", "STATE_FORMAT", "OffsetMap", "PartitionTrail", "RestoreState", "Run", "build_runs",
]  # fmt: skip

STATE_FORMAT = RESTORE_STATE.marker
MAP_FORMAT = OFFSET_MAP.marker


@dataclass(frozen=True)
class RestoreState(Stored):
    """The checkpoint of one restore.

    ``routes``: source topic → source partition (string) → target partitions its records may go to.
    ``starts``: target topic → partition (string) → end offset when the restore first began.
    ``empty``: target partitions that were empty then (these get the exact-resume guarantee).
    ``ends``: target end offsets when the restore completed (empty until then).
    """

    restore_id: str
    backup_id: str
    fingerprint: str
    created_at: int
    updated_at: int
    status: Literal["running", "complete"]
    target_bootstrap: str
    topic_map: dict[str, str]
    routes: dict[str, dict[str, list[int]]]
    starts: dict[str, dict[str, int]]
    empty: dict[str, list[int]]
    ends: dict[str, dict[str, int]] = field(default_factory=dict)
    target_cluster_id: str | None = None
    completed_at: int | None = None

    def start(self, topic: str, partition: int) -> int:
        return self.starts[topic][str(partition)]

    def is_empty_at_start(self, topic: str, partition: int) -> bool:
        return partition in self.empty.get(topic, [])

    def target_partitions(self) -> list[tuple[str, int]]:
        return [(t, int(p)) for t, parts in sorted(self.starts.items()) for p in sorted(parts, key=int)]

    FORMAT = RESTORE_STATE
    NAME = "state.json"

    @classmethod
    def _from_body(cls, body: dict[str, Any]) -> RestoreState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in body.items() if k in known})  # a later minor may add fields: ignored


@dataclass(frozen=True)
class Run:
    """Source offsets ``source..source+length-1`` became target offsets ``target..target+length-1``."""

    source: int
    target: int
    length: int


@dataclass(frozen=True)
class OffsetMap(Stored):
    """Where one source segment's selected records went: target partition → runs, in source offset order."""

    source_topic: str
    source_partition: int
    segment_start: int
    target_topic: str
    runs: dict[int, tuple[Run, ...]]

    def counts(self) -> dict[int, int]:
        return {p: sum(r.length for r in runs) for p, runs in self.runs.items()}

    FORMAT = OFFSET_MAP
    NAME = "offset map"

    def to_json(self) -> bytes:
        body = {
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "segment_start": self.segment_start,
            "target_topic": self.target_topic,
            "runs": {str(p): [[r.source, r.target, r.length] for r in runs] for p, runs in self.runs.items()},
        }
        return seal(OFFSET_MAP, body, compact=True)

    @classmethod
    def _from_body(cls, body: dict[str, Any]) -> OffsetMap:
        return cls(
            source_topic=body["source_topic"],
            source_partition=int(body["source_partition"]),
            segment_start=int(body["segment_start"]),
            target_topic=body["target_topic"],
            runs={int(p): tuple(Run(*r) for r in runs) for p, runs in body["runs"].items()},
        )


def build_runs(sources: Any, partitions: Any, targets: Any) -> dict[int, tuple[Run, ...]]:
    """Compress per-record (source offset, target partition, target offset) triples into runs per partition.

    The three are int sequences or pyarrow arrays of equal length (records in source offset order); the work is
    column-wise, one step per target partition and per run, not per record."""
    # imported here: pyarrow.compute's import alone costs a one-shot CLI call (a backup) 0.1-0.3 s of start-up
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    src = sources if isinstance(sources, pa.Array) else pa.array(sources, pa.int64())
    part = partitions if isinstance(partitions, pa.Array) else pa.array(partitions, pa.int32())
    tgt = targets if isinstance(targets, pa.Array) else pa.array(targets, pa.int64())
    if not (len(src) == len(part) == len(tgt)):
        raise ValueError(f"{len(src)} sources, {len(part)} partitions, {len(tgt)} targets")
    if not len(src):
        return {}
    distinct = sorted(pc.unique(part).to_pylist())
    out: dict[int, tuple[Run, ...]] = {}
    for p in distinct:
        if len(distinct) == 1:
            s, t = src, tgt
        else:
            mask = pc.equal(part, p)
            s, t = pc.filter(src, mask), pc.filter(tgt, mask)
        k = len(s)
        starts = [0]
        if k > 1:
            # a run breaks where either offset does not advance by one from the previous record of the partition
            ds = pc.subtract(s.slice(1), s.slice(0, k - 1))
            dt = pc.subtract(t.slice(1), t.slice(0, k - 1))
            breaks = pc.indices_nonzero(pc.or_(pc.not_equal(ds, 1), pc.not_equal(dt, 1))).to_pylist()
            starts += [i + 1 for i in breaks]
        at = pa.array(starts, pa.int64())
        firsts, targets_at = pc.take(s, at).to_pylist(), pc.take(t, at).to_pylist()
        ends = [*starts[1:], k]
        out[p] = tuple(
            Run(first, target, end - begin)
            for first, target, begin, end in zip(firsts, targets_at, starts, ends, strict=True)
        )
    return out


@dataclass
class PartitionTrail:
    """One source partition's records in one target partition, as sorted runs (for the offset translation)."""

    runs: list[Run] = field(default_factory=list)

    def add(self, runs: tuple[Run, ...]) -> None:
        self.runs.extend(runs)

    def finish(self) -> None:
        self.runs.sort(key=lambda r: r.source)

    def first_at_or_after(self, source_offset: int) -> int | None:
        """Target offset of the first record whose source offset is >= ``source_offset``; None when there is none."""
        starts = [r.source for r in self.runs]
        i = bisect.bisect_right(starts, source_offset) - 1
        if i >= 0:
            run = self.runs[i]
            if source_offset < run.source + run.length:
                return run.target + (source_offset - run.source)
        i += 1
        return self.runs[i].target if i < len(self.runs) else None

    def end(self) -> int | None:
        """One past the last target offset written from this source partition."""
        return max((r.target + r.length for r in self.runs), default=None)
