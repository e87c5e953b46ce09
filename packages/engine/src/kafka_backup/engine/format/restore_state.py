"""What a restore leaves on storage: its checkpoint and its source→target offset map.

Layout, under the backup it restores (all objects written with ``operation="checkpoint"``)::

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
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from kafka_backup.engine.errors import IntegrityError

STATE_FORMAT = "kafka-backup-restore-state"
MAP_FORMAT = "kafka-backup-restore-offsets"
FORMAT_VERSION = 1


def restores_prefix(backup_id: str) -> str:
    return f"{backup_id}/restores/"


def restore_prefix(backup_id: str, restore_id: str) -> str:
    return f"{backup_id}/restores/{restore_id}/"


def state_key(backup_id: str, restore_id: str) -> str:
    return restore_prefix(backup_id, restore_id) + "state.json"


def offsets_prefix(backup_id: str, restore_id: str) -> str:
    return restore_prefix(backup_id, restore_id) + "offsets/"


def offset_map_key(backup_id: str, restore_id: str, topic: str, partition: int, start: int) -> str:
    return offsets_prefix(backup_id, restore_id) + f"{topic}/{partition}/{start:020d}.json"


@dataclass(frozen=True)
class RestoreState:
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

    def to_json(self) -> bytes:
        return json.dumps({"format": STATE_FORMAT, "version": FORMAT_VERSION, **asdict(self)}, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, name: str = "state.json") -> RestoreState:
        try:
            body: dict[str, Any] = json.loads(data)
            if body.pop("format", None) != STATE_FORMAT:
                raise IntegrityError(f"{name}: not a kafka-backup restore checkpoint")
            body.pop("version", None)
            return cls(**body)
        except (ValueError, TypeError) as exc:
            raise IntegrityError(f"{name}: does not parse ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class Run:
    """Source offsets ``source..source+length-1`` became target offsets ``target..target+length-1``."""

    source: int
    target: int
    length: int


@dataclass(frozen=True)
class OffsetMap:
    """Where one source segment's selected records went: target partition → runs, in source offset order."""

    source_topic: str
    source_partition: int
    segment_start: int
    target_topic: str
    runs: dict[int, tuple[Run, ...]]

    def counts(self) -> dict[int, int]:
        return {p: sum(r.length for r in runs) for p, runs in self.runs.items()}

    def to_json(self) -> bytes:
        body = {
            "format": MAP_FORMAT,
            "version": FORMAT_VERSION,
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "segment_start": self.segment_start,
            "target_topic": self.target_topic,
            "runs": {str(p): [[r.source, r.target, r.length] for r in runs] for p, runs in self.runs.items()},
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes, name: str = "offset map") -> OffsetMap:
        try:
            body = json.loads(data)
            if body.get("format") != MAP_FORMAT:
                raise IntegrityError(f"{name}: not a kafka-backup restore offset map")
            return cls(
                source_topic=body["source_topic"],
                source_partition=int(body["source_partition"]),
                segment_start=int(body["segment_start"]),
                target_topic=body["target_topic"],
                runs={int(p): tuple(Run(*r) for r in runs) for p, runs in body["runs"].items()},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"{name}: does not parse ({type(exc).__name__}: {exc})") from None


def build_runs(sources: list[int], partitions: list[int], targets: list[int]) -> dict[int, tuple[Run, ...]]:
    """Compress per-record (source offset, target partition, target offset) triples into runs per partition."""
    n = len(sources)
    if (
        n
        and partitions.count(partitions[0]) == n
        and sources[-1] - sources[0] == n - 1  # offsets in a segment only grow: consecutive
        and targets == list(range(targets[0], targets[0] + n))
    ):
        return {partitions[0]: (Run(sources[0], targets[0], n),)}
    out: dict[int, list[Run]] = {}
    open_runs: dict[int, list[int]] = {}
    for src, part, tgt in zip(sources, partitions, targets, strict=True):
        current = open_runs.get(part)
        if current is not None and src == current[0] + current[2] and tgt == current[1] + current[2]:
            current[2] += 1
            continue
        if current is not None:
            out.setdefault(part, []).append(Run(*current))
        open_runs[part] = [src, tgt, 1]
    for part, current in open_runs.items():
        out.setdefault(part, []).append(Run(*current))
    return {p: tuple(runs) for p, runs in sorted(out.items())}


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
