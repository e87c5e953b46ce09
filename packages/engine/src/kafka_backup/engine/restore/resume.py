"""The restore's checkpoint: ``state.json`` (written before the first record, completed at the end) and resuming
from it and the offset maps (see :mod:`kafka_backup.engine.format.restore_state` for both formats).

Invariants kept here:

- A new restore's state records each target partition's end offset (``starts``) and whether it was empty; it is
  written before anything is produced, so no record of this restore can be in flight when those ends are read.
- A segment's offset map is its commit point (written by :mod:`~kafka_backup.engine.restore.produce` after the
  producer's flush): a rerun treats each chain's prefix of mapped segments as done (:func:`drop_mapped_prefix`).
- For a target partition that was empty at the start, the records already in it are counted (``end - start``:
  offsets of a non-transactional producer are contiguous, so compaction or retention on the target cannot change
  this count) and exactly that many records of its stream beyond the mapped ones are skipped
  (:func:`resume_positions`); the restored data ends up exactly equal to the selection. A partition that held data
  at the start cannot tell our records from others': it resumes after the last mapped segment (at-least-once).
- When resuming, end offsets are read until two reads agree (:func:`stable_ends`), so records of the crashed run
  still in flight are counted once they are committed.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace

import structlog

from kafka_backup.engine.errors import RestoreStateError
from kafka_backup.engine.format.manifest import SegmentEntry, now_ms
from kafka_backup.engine.format.restore_state import RestoreState
from kafka_backup.engine.kafka.admin import Cluster
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.restore.plan import TP, PartitionPlan, RestorePlan, SegmentPlan
from kafka_backup.engine.restore.progress import RestoreTracker
from kafka_backup.engine.store import Store

log = structlog.get_logger(__name__)

Step = tuple[PartitionPlan, SegmentPlan]
"""One segment of a source partition's stream, in production order."""


def read_state(store: Store, backup_id: str, restore_id: str) -> RestoreState | None:
    """The restore's checkpoint, or None for a new restore."""
    return Repository(store).read_restore_state(backup_id, restore_id)


def start_state(
    store: Store, cluster: Cluster, plan: RestorePlan, target_bootstrap: str
) -> tuple[RestoreState, dict[TP, int]]:
    """The state of a new restore, written before anything is produced; also the end offsets it records.

    No run of this restore has produced yet (the state is written first), so nothing of ours can be in flight:
    one read of the end offsets is enough."""
    tps = plan.target_partitions()
    ends = cluster.watermarks(tps, "high")
    starts_log = cluster.watermarks(tps, "low")
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
        restore_id=plan.restore_id,
        backup_id=plan.backup_id,
        fingerprint=plan.fingerprint,
        created_at=now_ms(),
        updated_at=now_ms(),
        status="running",
        target_bootstrap=target_bootstrap,
        topic_map={t.source_topic: t.target_topic for t in plan.topics},
        routes=routes,
        starts=starts,
        empty=empty,
        target_cluster_id=cluster.cluster_id(),
    )
    Repository(store).write_restore_state(state)
    log.info(
        "restore_started",
        backup_id=plan.backup_id,
        restore_id=plan.restore_id,
        target_partitions=len(tps),
        empty_partitions=sum(len(v) for v in empty.values()),
    )
    return state, ends


def complete_state(store: Store, cluster: Cluster, state: RestoreState) -> RestoreState:
    """Mark the restore complete, with the target's end offsets (what offset translation falls back to)."""
    # every record of this run was acknowledged (acks=all) before this: the end offsets already include them
    tps = state.target_partitions()
    ends = cluster.watermarks(tps, "high")
    body: dict[str, dict[str, int]] = {}
    for (topic, partition), end in ends.items():
        body.setdefault(topic, {})[str(partition)] = end
    done = replace(state, status="complete", ends=body, completed_at=now_ms(), updated_at=now_ms())
    Repository(store).write_restore_state(done)
    log.info("restore_complete", backup_id=state.backup_id, restore_id=state.restore_id)
    return done


def stable_ends(cluster: Cluster, tps: list[TP]) -> dict[TP, int]:
    """End offsets, read until two reads agree: when resuming, records of the crashed run may still be being
    committed."""
    previous = cluster.watermarks(tps, "high")
    for _ in range(20):
        time.sleep(0.25)
        current = cluster.watermarks(tps, "high")
        if current == previous:
            return current
        previous = current
    return previous


def _mapped(plan: RestorePlan, p: PartitionPlan, s: SegmentPlan) -> tuple[str, int, int]:
    return (p.source_topic, p.source_partition, s.entry.start_offset)


def unmapped_segments(store: Store, plan: RestorePlan) -> list[SegmentEntry]:
    """Every selected segment still to be produced: no offset map yet."""
    done = Repository(store).mapped_segments(plan.backup_id, plan.restore_id)
    return [s.entry for p in plan.partitions for s in p.segments if _mapped(plan, p, s) not in done]


def drop_mapped_prefix(
    store: Store, plan: RestorePlan, queues: list[deque[Step]], tracker: RestoreTracker
) -> dict[TP, int]:
    """Drop each chain's prefix of segments with offset maps (done); their record counts per target partition."""
    repo = Repository(store)
    done_maps = repo.mapped_segments(plan.backup_id, plan.restore_id)
    mapped: dict[TP, int] = {}
    for queue in queues:
        while queue:
            p, s = queue[0]
            if _mapped(plan, p, s) not in done_maps:
                break
            omap = repo.read_offset_map(plan.backup_id, plan.restore_id, *_mapped(plan, p, s))
            if omap is None:  # removed since the listing: produce the segment again
                break
            queue.popleft()
            counts = omap.counts()
            for t, n in counts.items():
                mapped[(p.target_topic, t)] = mapped.get((p.target_topic, t), 0) + n
            tracker.restored_before(s.entry.records, sum(counts.values()), s.entry.uncompressed_bytes)
    return mapped


@dataclass(frozen=True)
class ResumePositions:
    """Per target partition: records of its stream already in it beyond the mapped ones (to skip), and the offset
    the next record of its stream gets."""

    skip: dict[TP, int]
    next: dict[TP, int]


def resume_positions(state: RestoreState, mapped: dict[TP, int], ends: dict[TP, int]) -> ResumePositions:
    """Where each target partition's stream resumes, from the state, the mapped counts and the end offsets."""
    skip: dict[TP, int] = {}
    nxt: dict[TP, int] = {}
    for tp in state.target_partitions():
        start = state.start(*tp)
        already = mapped.get(tp, 0)
        nxt[tp] = start + already
        if state.is_empty_at_start(*tp):
            written = ends[tp] - start
            if written < already:
                raise RestoreStateError(
                    f"target partition {tp[0]}-{tp[1]} holds {written} records of restore '{state.restore_id}' "
                    f"but {already} were acknowledged before: it was deleted or truncated since",
                    hint="start over with a new --restore-id (and an empty topic)",
                )
            skip[tp] = written - already
        else:
            skip[tp] = 0
    return ResumePositions(skip, nxt)


def written_since(state: RestoreState, nxt: dict[TP, int], ends: dict[TP, int]) -> dict[TP, int]:
    """Per target partition empty at the start: how many records the target holds beyond ``nxt`` (the next offset
    of its stream as of a checkpoint of this run), i.e. what a replaced producer wrote since."""
    written: dict[TP, int] = {}
    for tp in state.target_partitions():
        if not state.is_empty_at_start(*tp):
            continue
        extra = ends[tp] - nxt[tp]
        if extra < 0:
            raise RestoreStateError(
                f"target partition {tp[0]}-{tp[1]} ends at {ends[tp]}, before offset {nxt[tp]} that this restore "
                "had already written: it was deleted or truncated meanwhile",
                hint="start over with a new --restore-id (and an empty topic)",
            )
        written[tp] = extra
    return written


__all__ = [
    "ResumePositions",
    "Step",
    "complete_state",
    "drop_mapped_prefix",
    "read_state",
    "resume_positions",
    "stable_ends",
    "start_state",
    "unmapped_segments",
    "written_since",
]
