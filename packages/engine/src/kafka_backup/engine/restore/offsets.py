"""Consumer-group offset translation: the group offsets captured at backup time, moved onto the restored topics.

For a group that had committed source offset ``C`` on source partition ``sp``, and a target partition ``P`` that
received ``sp``'s records (renames and partition maps come from the restore's checkpoint, so they are always
honoured), the translated offset is the target offset of the first restored record of ``sp`` in ``P`` whose source
offset is ``>= C``; when every restored record of ``sp`` is before ``C``, it is the offset right after the last of
them. The group therefore resumes on the target with exactly the records it had not consumed on the source.

When several source partitions feed one target partition (partition map merges, repartitioning) one offset cannot
express several positions; the smallest candidate wins, so the group may see some records again but never misses
one (at-least-once). A target partition that only received records from source partitions the group never
committed on is left alone; one whose sources contributed nothing gets the partition's end at restore completion.

``execute`` refuses, before changing anything, when any selected group has active members on the target (they would
overwrite the offsets with their own commits).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from opentelemetry import trace

from kafka_backup.engine.config.names import compile_patterns
from kafka_backup.engine.errors import (
    BackupError,
    BackupNotFoundError,
    ConsumerGroupActiveError,
    KafkaOperationError,
    RestoreStateError,
)
from kafka_backup.engine.format.manifest import BackupManifest
from kafka_backup.engine.format.restore_state import (
    PartitionTrail,
    RestoreState,
)
from kafka_backup.engine.kafka.admin import Cluster
from kafka_backup.engine.kafka.groups import active_members, alter_group_offsets
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.store import Store
from kafka_backup.telemetry.baseline import zero_errors
from kafka_backup.telemetry.catalog import Metrics

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("kafka_backup.engine.restore.offsets")


@dataclass(frozen=True)
class PartitionReset:
    topic: str
    partition: int
    offset: int
    sources: tuple[tuple[str, int, int], ...]
    """(source topic, source partition, committed source offset) that decided this offset."""


@dataclass(frozen=True)
class GroupReset:
    group: str
    partitions: tuple[PartitionReset, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "offset": p.offset,
                    "sources": [{"topic": t, "partition": sp, "offset": o} for t, sp, o in p.sources],
                }
                for p in self.partitions
            ],
        }


@dataclass
class GroupResult:
    group: str
    status: str
    partitions: int
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "status": self.status, "partitions": self.partitions, "failed": self.failed}


def list_restores(store: Store, backup_id: str) -> list[RestoreState]:
    """Every restore checkpoint of the backup, oldest first."""
    return Repository(store).restore_states(backup_id)


def load_state(store: Store, backup_id: str, restore_id: str | None) -> RestoreState:
    """The checkpoint of ``restore_id``, or of the backup's only restore when no id is given."""
    if restore_id is not None:
        state = Repository(store).read_restore_state(backup_id, restore_id)
        if state is None:
            raise BackupNotFoundError(
                f"no restore '{restore_id}' of backup '{backup_id}' at {store.url}",
                hint="the restore command prints its restore id; omit --restore-id to use the only one",
            )
        return state
    restores = list_restores(store, backup_id)
    if len(restores) == 1:
        return restores[0]
    if not restores:
        raise BackupNotFoundError(
            f"backup '{backup_id}' has not been restored yet: there are no offsets to translate",
            hint="run `kafka-backup restore` first (or restore --reset-consumer-groups)",
        )
    raise RestoreStateError(
        f"backup '{backup_id}' has {len(restores)} restores: {', '.join(r.restore_id for r in restores)}",
        hint="choose one with --restore-id",
    )


def load_trails(store: Store, state: RestoreState) -> dict[tuple[str, int, int], PartitionTrail]:
    """(source topic, source partition, target partition) → where that source partition's records went."""
    trails: dict[tuple[str, int, int], PartitionTrail] = {}
    for omap in Repository(store).offset_maps(state.backup_id, state.restore_id):
        for partition, runs in omap.runs.items():
            key = (omap.source_topic, omap.source_partition, partition)
            trails.setdefault(key, PartitionTrail()).add(runs)
    for trail in trails.values():
        trail.finish()
    return trails


def plan_reset(
    store: Store,
    backup: BackupManifest,
    state: RestoreState,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
) -> list[GroupReset]:
    """Translated offsets of every selected captured group (reads the restore's offset maps; no Kafka access)."""
    if state.status != "complete":
        raise RestoreStateError(
            f"restore '{state.restore_id}' is not complete: offsets can only be translated for restored data",
            hint="rerun the restore to finish it",
        )
    inc, exc = compile_patterns(include or ["*"]), compile_patterns(exclude or [])
    trails = load_trails(store, state)
    out: list[GroupReset] = []
    for group in sorted(backup.consumer_groups):
        if not any(p.fullmatch(group) for p in inc) or any(p.fullmatch(group) for p in exc):
            continue
        candidates: dict[tuple[str, int], list[int]] = {}
        sources: dict[tuple[str, int], list[tuple[str, int, int]]] = {}
        for src_topic, parts in sorted(backup.consumer_groups[group].items()):
            target = state.topic_map.get(src_topic)
            routes = state.routes.get(src_topic, {})
            if target is None:
                continue
            for sp_text, committed in sorted(parts.items(), key=lambda kv: int(kv[0])):
                sp = int(sp_text)
                for tp in routes.get(sp_text, []):
                    key = (target, tp)
                    sources.setdefault(key, []).append((src_topic, sp, committed))
                    trail = trails.get((src_topic, sp, tp))
                    if trail is None or not trail.runs:
                        continue
                    found = trail.first_at_or_after(committed)
                    candidates.setdefault(key, []).append(found if found is not None else trail.end() or 0)
        resets = []
        for (topic, partition), srcs in sorted(sources.items()):
            cands = candidates.get((topic, partition))
            if cands:
                offset = min(cands)
            else:
                offset = state.ends.get(topic, {}).get(str(partition), state.start(topic, partition))
            resets.append(PartitionReset(topic, partition, offset, tuple(srcs)))
        if resets:
            out.append(GroupReset(group, tuple(resets)))
    return out


def execute_reset(
    cluster: Cluster, resets: list[GroupReset], *, metrics: Metrics | None = None, backup_id: str = ""
) -> list[GroupResult]:
    """Commit the translated offsets through the AdminClient, one group at a time.

    A failure is counted in ``kafka_backup_errors_total{operation="offset_reset"}`` by its code (every code's
    series exists at zero from the start).
    """
    metrics = metrics or Metrics()
    zero_errors(metrics, backup_id=backup_id, operation="offset_reset", error_types=BackupError.codes())
    try:
        return _execute_reset(cluster, resets, metrics, backup_id)
    except BackupError as exc:
        labels = {"backup_id": backup_id, "operation": "offset_reset", "error_type": exc.code}
        metrics.backup_errors_total.add(1, labels)
        raise


def _execute_reset(cluster: Cluster, resets: list[GroupReset], metrics: Metrics, backup_id: str) -> list[GroupResult]:
    active = {g: n for g, n in active_members(cluster, [r.group for r in resets]).items() if n}
    if active:
        names = ", ".join(f"{g} ({n} members)" for g, n in sorted(active.items()))
        for group in active:
            metrics.offset_reset_partitions_total.add(
                sum(len(r.partitions) for r in resets if r.group == group),
                {"consumer_group": group, "status": "failure"},
            )
        raise ConsumerGroupActiveError(
            f"consumer groups with active members on the target: {names}; no offsets were changed",
            hint="stop their consumers (or wait for the session timeout), then run offset-reset execute again",
        )
    results = []
    for reset in resets:
        results.append(_execute_group(cluster, reset, metrics, backup_id))
    failed = [r for r in results if r.status != "success"]
    if failed:
        raise KafkaOperationError(
            f"offset reset failed for {len(failed)} group(s): "
            + "; ".join(f"{r.group}: {', '.join(r.failed)}" for r in failed),
            hint="check the target cluster's ACLs for the groups, then run offset-reset execute again",
        )
    return results


def _execute_group(cluster: Cluster, reset: GroupReset, metrics: Metrics, backup_id: str) -> GroupResult:
    group = reset.group
    started = time.monotonic()
    with _tracer.start_as_current_span(
        "offset_reset.group", attributes={"consumer_group": group, "backup_id": backup_id}
    ):
        failed = alter_group_offsets(cluster, group, [(p.topic, p.partition, p.offset) for p in reset.partitions])
        elapsed = time.monotonic() - started
    status = "failure" if failed else "success"
    ok = len(reset.partitions) - len(failed)
    if ok:
        metrics.offset_reset_partitions_total.add(ok, {"consumer_group": group, "status": "success"})
    if failed:
        metrics.offset_reset_partitions_total.add(len(failed), {"consumer_group": group, "status": "failure"})
    metrics.offset_reset_duration_seconds.record(elapsed, {"consumer_group": group, "status": status})
    per_partition = elapsed / max(1, len(reset.partitions))
    for _ in reset.partitions:
        metrics.offset_reset_latency_seconds.record(per_partition, {"consumer_group": group})
    log.info("offset_reset_group", consumer_group=group, status=status, partitions=len(reset.partitions))
    return GroupResult(group, status, len(reset.partitions), failed)


def script_lines(resets: list[GroupReset], bootstrap: str) -> list[str]:
    """The same reset as ``kafka-consumer-groups.sh`` commands, one per partition (offsets differ per partition)."""
    lines = []
    for reset in resets:
        for p in reset.partitions:
            args = [
                "kafka-consumer-groups.sh",
                "--bootstrap-server",
                bootstrap,
                "--group",
                reset.group,
                "--topic",
                f"{p.topic}:{p.partition}",
                "--reset-offsets",
                "--to-offset",
                str(p.offset),
                "--execute",
            ]
            lines.append(" ".join(shlex.quote(a) for a in args))
    return lines


def render_table(resets: list[GroupReset]) -> str:
    rows = [("GROUP", "TARGET", "OFFSET", "FROM (source topic-partition@committed)")]
    for reset in resets:
        for p in reset.partitions:
            src = ", ".join(f"{t}-{sp}@{o}" for t, sp, o in p.sources)
            rows.append((reset.group, f"{p.topic}-{p.partition}", str(p.offset), src))
    if len(rows) == 1:
        return "no captured consumer-group offsets apply to the restored topics"
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows)
