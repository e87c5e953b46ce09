"""The restore's produce loop: segments read (verified), filtered, routed to target partitions and produced through
the idempotent :class:`~kafka_backup.engine.kafka.sink.Sink`; offset maps written after each flush.

Invariants kept here:

- Segments are produced in the order given (chains interleaved one segment at a time, each chain strictly in
  order); every target partition therefore receives a deterministic stream.
- Each segment's SHA-256 is verified when it is read, by the prefetching reader too, before any of its records is
  produced. A segment whose bytes are corrupt is found only then: the segments produced before it are flushed and
  mapped before the error is raised, so a rerun after the repair resumes after them.
- After every ``flush_records`` records the producer is flushed; then, in production order, each finished
  segment's offset map is written. A map's presence proves its segment was fully acknowledged.
- When resuming, the records a partition's stream already has in the target (``ResumePositions.skip``) are not
  produced again; their offsets go into the map as they are.
- A stuck producer (:class:`~kafka_backup.engine.kafka.sink.ProducerStuck`) is replaced in the run: the segments
  since the last checkpoint are produced again through a new one, skipping what the target already holds of them,
  exactly as a rerun would (``reopen``, from :mod:`~kafka_backup.engine.restore.run`, reads the target's ends).
- Records go to the sink as the decoded Arrow batch, target partitions as an Arrow array (``partitions_for`` in
  Rust when repartitioning): no Python object per record on the common path, skips and offset maps column-wise.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import structlog
from opentelemetry import trace

from kafka_backup.engine._native import partitions_for
from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.errors import IntegrityError, KafkaOperationError, KafkaUnavailableError
from kafka_backup.engine.format.manifest import SegmentEntry
from kafka_backup.engine.format.restore_state import OffsetMap, build_runs
from kafka_backup.engine.format.segment import decode, payload_bytes
from kafka_backup.engine.gcpace import GcPacer
from kafka_backup.engine.kafka.sink import ProducerStuck, Sink
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.restore.plan import TP, PartitionPlan, SegmentPlan
from kafka_backup.engine.restore.progress import RestoreTracker
from kafka_backup.engine.restore.resume import ResumePositions, Step
from kafka_backup.engine.restore.selection import selection_for
from kafka_backup.engine.store import Store

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("kafka_backup.engine.restore.run")

PREFETCH_MAX_BYTES = 64 * 1024 * 1024
"""The next segment is read and decoded ahead while the current one is produced, unless it holds more record bytes
than this (memory: a prefetched segment is held beside the one being produced)."""


MAX_PRODUCER_RESTARTS = 5
"""A run replaces a stuck producer at most this many times, then fails (``KAFKA_UNAVAILABLE``; a rerun resumes)."""

Reopen = Callable[[Sink, dict[TP, int]], tuple[Sink, dict[TP, int]]]
"""Replaces a stuck sink: given it and the next target offset of every target partition's stream as of the last
checkpoint, abandons it and returns a new sink and, per target partition whose records since then can be counted
(those empty at the start), how many the target holds beyond that offset."""


def production_order(queues: list[deque[Step]]) -> list[Step]:
    """Round-robin over the chains: one segment of each in turn."""
    return [step for turn in itertools.zip_longest(*queues) for step in turn if step is not None]


@dataclass
class _Pending:
    """A segment whose records were produced but not yet flushed: what its offset map needs."""

    plan: PartitionPlan
    segment: SegmentPlan
    batch_id: int | None
    """The sink's batch (None when nothing of the segment was produced)."""
    sources: Any
    """Source offsets (int64 array)."""
    partitions: Any
    """Target partition of every record (int32 array)."""
    send: Any
    """``partitions`` with -1 for the records found already written (int32 array)."""
    skipped_targets: Any
    """Target offsets of the records found already written, -1 elsewhere (int64 array); None when there are none."""
    produced: int
    skipped: int
    bytes: int

    @property
    def entry(self) -> SegmentEntry:
        return self.segment.entry

    def unread(self, tracker: RestoreTracker) -> None:
        """Undo the counts of producing it (it will be produced again)."""
        tracker.unread(self.entry.records, self.produced + self.skipped, self.skipped)


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    """The table as one record batch (its chunks concatenated only when there are several)."""
    batches = table.combine_chunks().to_batches()
    if len(batches) == 1:
        return batches[0]
    return pa.RecordBatch.from_pylist([], schema=table.schema) if not batches else pa.concat_batches(batches)


class SegmentProducer:
    """Produces a restore's remaining segments through one sink; one per run, not thread-safe."""

    def __init__(
        self,
        config: RestoreConfig,
        store: Store,
        sink: Sink,
        positions: ResumePositions,
        tracker: RestoreTracker,
        stop: threading.Event,
        reopen: Reopen | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.sink = sink
        """The current sink (replaced when it gets stuck: the caller closes this one)."""
        self._skip = positions.skip
        self._next = positions.next
        self._checkpointed = (dict(self._skip), dict(self._next))
        """Skips and next offsets as of the last checkpoint: where a replaced producer resumes."""
        self._reopen = reopen
        self.restarts = 0
        self.tracker = tracker
        self.summary = tracker.summary
        self.metrics = tracker.metrics
        self.stop = stop
        self.backup_id = tracker.summary.backup_id
        self.restore_id = tracker.summary.restore_id

    def run(self, order: Sequence[Step]) -> None:
        """Produce ``order``, checkpointing every ``flush_records`` records and at the end (also when stopped)."""
        pending: list[_Pending] = []
        pending_records = 0
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
                    self._flush(pending)
                    raise
                ahead = None
                if i + 1 < len(order) and order[i + 1][1].entry.uncompressed_bytes <= PREFETCH_MAX_BYTES:
                    # read, verify and decode the next segment (I/O, SHA-256, Parquet: no GIL) while producing
                    following, its_segment = order[i + 1]
                    ahead = reader.submit(contextvars.copy_context().run, self._load_segment, following, its_segment)
                try:
                    pending.append(self._produce_segment(p, s, table))
                except ProducerStuck as stuck:
                    pending = self._replace_sink(stuck, pending, (p, s))
                pending_records = sum(item.produced for item in pending)
                if pending_records >= self.config.flush_records:
                    self._flush(pending)
                    pending = []
            self._flush(pending)

    def _flush(self, pending: list[_Pending]) -> None:
        """:meth:`_checkpoint`, replacing a stuck producer (and producing ``pending`` again) until it goes through."""
        while True:
            try:
                self._checkpoint(pending)
                return
            except ProducerStuck as stuck:
                pending = self._replace_sink(stuck, pending)

    def _replace_sink(
        self, stuck: ProducerStuck, pending: list[_Pending], current: Step | None = None
    ) -> list[_Pending]:
        """The producer is stuck: replace it and produce the segments since the last checkpoint (``pending``, then
        ``current``, whose production it interrupted) again, skipping what the target already holds of them. Returns
        their new pending items."""
        steps = [(item.plan, item.segment) for item in pending] + ([current] if current is not None else [])
        for item in pending:
            item.unread(self.tracker)
        while True:
            self.restarts += 1
            if self._reopen is None or self.restarts > MAX_PRODUCER_RESTARTS:
                raise KafkaUnavailableError(
                    f"the target cluster acknowledged no record for {stuck.seconds:.0f} s "
                    f"({stuck.outstanding} waiting), {self.restarts - 1} times with a new producer",
                    hint="check the target cluster's health (partition leaders, min.insync.replicas); a rerun resumes",
                )
            log.warning(
                "producer_replaced",
                backup_id=self.backup_id,
                restore_id=self.restore_id,
                reason="no delivery report",
                seconds=round(stuck.seconds, 1),
                outstanding=stuck.outstanding,
                segments_again=len(steps),
                restarts=self.restarts,
            )
            self._skip, self._next = dict(self._checkpointed[0]), dict(self._checkpointed[1])
            self.sink, written = self._reopen(self.sink, dict(self._next))
            self._skip.update(written)
            done: list[_Pending] = []
            try:
                for p, s in steps:
                    done.append(self._produce_segment(p, s, self._load_segment(p, s)))
            except ProducerStuck as again:
                for item in done:
                    item.unread(self.tracker)
                stuck = again
                continue
            return done

    def _load_segment(self, p: PartitionPlan, s: SegmentPlan) -> pa.Table:
        """Read, verify (SHA-256) and decode one segment; only the selected records when it is partly selected."""
        data = Repository(self.store).read_segment(s.entry.key)
        table = decode(data, expected_sha256=s.entry.sha256, name=s.entry.key)
        if s.partial:
            sel = selection_for(self.config, p.source_topic, p.source_partition)
            assert sel is not None
            table = table.filter(sel.mask(table))
        return table

    def _produce_segment(self, p: PartitionPlan, s: SegmentPlan, table: pa.Table) -> _Pending:
        entry = s.entry
        with _tracer.start_as_current_span(
            "restore.segment",
            attributes={"backup_id": self.backup_id, "topic": p.source_topic, "partition": p.source_partition},
        ):
            batch = _one_batch(table)
            n = batch.num_rows
            sources = batch.column("offset")
            if len(p.targets) > 1:
                partitions = partitions_for(batch.column("key"), sources, p.source_partition, len(p.targets))
            else:
                partitions = pa.repeat(pa.scalar(p.targets[0], pa.int32()), n)
            topic = p.target_topic
            send, skipped_targets, skipped = self._skip_written(topic, p.targets, partitions)
            batch_id = self.sink.produce_batch(topic, batch, send) if n > skipped else None
            self.summary.segments_read += 1
            nbytes = payload_bytes(table) if n else 0
            self.tracker.segment_read(entry.records, n)
            self.tracker.found_restored(skipped)
            return _Pending(p, s, batch_id, sources, partitions, send, skipped_targets, n - skipped, skipped, nbytes)

    def _skip_written(self, topic: str, targets: Sequence[int], partitions: Any) -> tuple[Any, Any, int]:
        """Resuming: the first ``skip[tp]`` records of each target partition's stream are in the target already. Returns
        the partitions with -1 for them, their target offsets (-1 elsewhere; None when none is skipped) and how many;
        one column-wise step per target partition."""
        skip, nxt = self._skip, self._next
        todo = [t for t in dict.fromkeys(targets) if skip.get((topic, t), 0) > 0]
        if not todo or not len(partitions):
            return partitions, None, 0
        send = partitions
        skipped_targets = pa.repeat(pa.scalar(-1, pa.int64()), len(partitions))
        total = 0
        for t in todo:
            tp = (topic, t)
            mask = pc.equal(partitions, pa.scalar(t, pa.int32()))
            k = min(skip[tp], pc.sum(mask).as_py() or 0)
            if not k:
                continue
            rank = pc.cumulative_sum(pc.cast(mask, pa.int64()))  # 1, 2, ... over the rows of t
            hit = pc.and_(mask, pc.less_equal(rank, k))
            skipped_targets = pc.if_else(hit, pc.add(rank, nxt[tp] - 1), skipped_targets)
            send = pc.if_else(hit, pa.scalar(-1, pa.int32()), send)
            skip[tp] -= k
            nxt[tp] += k
            total += k
        return send, (skipped_targets if total else None), total

    def _checkpoint(self, pending: list[_Pending]) -> None:
        """Flush; then write each segment's offset map in production order (the segment's commit point)."""
        acked = self.sink.flush()
        per_partition: dict[TP, int] = {}
        per_topic_bytes: dict[str, int] = {}
        for item in pending:
            topic = item.plan.target_topic
            targets = self._targets(item, acked, per_partition)
            omap = OffsetMap(
                source_topic=item.plan.source_topic,
                source_partition=item.plan.source_partition,
                segment_start=item.entry.start_offset,
                target_topic=topic,
                runs=build_runs(item.sources, item.partitions, targets),
            )
            Repository(self.store).write_offset_map(self.backup_id, self.restore_id, omap)
            self.tracker.acknowledged(item.produced, item.bytes)
            per_topic_bytes[topic] = per_topic_bytes.get(topic, 0) + (item.bytes if item.produced else 0)
        for (topic, part), n in per_partition.items():
            self.metrics.restore_records_total.add(n, {**self.tracker.labels, "topic": topic, "partition": str(part)})
        for topic, nbytes in per_topic_bytes.items():
            self.metrics.restore_bytes_total.add(nbytes, {**self.tracker.labels, "topic": topic})
        self._checkpointed = (dict(self._skip), dict(self._next))
        self.tracker.report()

    def _targets(self, item: _Pending, acked: dict[int, Any], per_partition: dict[TP, int]) -> Any:
        """The target offset of every record of the segment (int64 array): the acknowledged ones and those found
        written. Checks, per target partition, that the acknowledged ones follow the expected next offset one by one
        (else others wrote to the partition meanwhile: logged), advancing it and the counts."""
        topic = item.plan.target_topic
        if item.batch_id is None:
            return item.skipped_targets if item.skipped_targets is not None else pa.array([], pa.int64())
        offsets = acked.get(item.batch_id)
        if offsets is None:
            raise KafkaOperationError(f"missing delivery reports for {topic}")
        produced_mask = None if item.skipped_targets is None else pc.not_equal(item.send, pa.scalar(-1, pa.int32()))
        targets = offsets if produced_mask is None else pc.if_else(produced_mask, offsets, item.skipped_targets)
        parts = item.plan.targets if len(item.plan.targets) == 1 else pc.unique(item.partitions).to_pylist()
        for part in parts:
            tp = (topic, part)
            if len(parts) == 1 and produced_mask is None:
                acks = offsets
            else:
                mask = pc.equal(item.send, pa.scalar(part, pa.int32()))
                acks = pc.filter(offsets, mask)
            k = len(acks)
            if not k:
                continue
            first, last = acks[0].as_py(), acks[k - 1].as_py()
            if (pc.min(acks).as_py() or 0) < 0:
                raise KafkaOperationError(f"missing delivery report for {topic}-{part}")
            if first == self._next[tp] and last - first == k - 1:  # offsets of one producer only grow
                self._next[tp] = last + 1
            else:
                self._written_by_others(tp, acks.to_pylist())
            per_partition[tp] = per_partition.get(tp, 0) + k
        return targets

    def _written_by_others(self, tp: TP, acks: list[int]) -> None:
        """The acknowledged offsets of ``tp`` did not follow on one by one: one warning per gap (the rare path)."""
        for offset in acks:
            if offset != self._next[tp]:
                log.warning(
                    "target_partition_written_by_others",
                    restore_id=self.restore_id,
                    topic=tp[0],
                    partition=tp[1],
                    expected=self._next[tp],
                    actual=offset,
                )
            self._next[tp] = offset + 1


__all__ = ["PREFETCH_MAX_BYTES", "SegmentProducer", "production_order"]
