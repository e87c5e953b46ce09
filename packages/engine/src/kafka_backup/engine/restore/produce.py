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
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import structlog
from opentelemetry import trace

from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.errors import IntegrityError, KafkaOperationError
from kafka_backup.engine.format.manifest import SegmentEntry
from kafka_backup.engine.format.restore_state import OffsetMap, build_runs
from kafka_backup.engine.format.segment import decode, header_lists, payload_bytes
from kafka_backup.engine.gcpace import GcPacer
from kafka_backup.engine.kafka.partitioner import assign_partitions
from kafka_backup.engine.kafka.sink import Sink
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


def production_order(queues: list[deque[Step]]) -> list[Step]:
    """Round-robin over the chains: one segment of each in turn."""
    return [step for turn in itertools.zip_longest(*queues) for step in turn if step is not None]


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
    ) -> None:
        self.config = config
        self.store = store
        self.sink = sink
        self._skip = positions.skip
        self._next = positions.next
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
                    self._checkpoint(pending)
                    raise
                ahead = None
                if i + 1 < len(order) and order[i + 1][1].entry.uncompressed_bytes <= PREFETCH_MAX_BYTES:
                    # read, verify and decode the next segment (I/O, SHA-256, Parquet: no GIL) while producing
                    following, its_segment = order[i + 1]
                    ahead = reader.submit(contextvars.copy_context().run, self._load_segment, following, its_segment)
                item = self._produce_segment(p, s, table)
                pending.append(item)
                pending_records += item.produced.count(True)
                if pending_records >= self.config.flush_records:
                    self._checkpoint(pending)
                    pending, pending_records = [], 0
            self._checkpoint(pending)

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
            self.sink.produce_columns(
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
            self.tracker.segment_read(entry.records, n)
            self.tracker.found_restored(produced.count(False))
            return _Pending(p, entry, sources, partitions, produced, skipped_targets, nbytes)

    def _checkpoint(self, pending: list[_Pending]) -> None:
        """Flush; then write each segment's offset map in production order (the segment's commit point)."""
        acked = self.sink.flush()
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
            Repository(self.store).write_offset_map(self.backup_id, self.restore_id, omap)
            produced = item.produced.count(True)
            self.tracker.acknowledged(produced, item.bytes)
            per_topic_bytes[topic] = per_topic_bytes.get(topic, 0) + (item.bytes if produced else 0)
        for (topic, part), n in per_partition.items():
            self.metrics.restore_records_total.add(n, {**self.tracker.labels, "topic": topic, "partition": str(part)})
        for topic, nbytes in per_topic_bytes.items():
            self.metrics.restore_bytes_total.add(nbytes, {**self.tracker.labels, "topic": topic})
        self.tracker.report()

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


__all__ = ["PREFETCH_MAX_BYTES", "SegmentProducer", "production_order"]
