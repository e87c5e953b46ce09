"""From consumed batches to open segments: each partition's records appended in offset order, cut into segments.

- A segment is handed to the commit protocol when it holds ``segment.max_records`` records or ``segment.max_bytes``
  payload bytes (and by the run when it is ``segment.max_age_s`` old); when the open segments of all partitions
  together pass half of ``MAX_BUFFERED_BYTES``, the largest is handed off early.
- Snapshot mode: the record just below a partition's target (an exclusive end offset) ends the partition at once;
  records past it are not stored. Everything up to the target is committed and the partition paused.
- Records of a partition no longer owned (revoked, lost, finished while in flight) are ignored.
- Retention outran the backup (out of range): what is buffered is committed, the lost range recorded as a gap in the
  manifest, and the partition goes on from the log start.
"""

from __future__ import annotations

import bisect
import time

import pyarrow as pa

from kafka_backup.engine.backup.commit import MAX_BUFFERED_BYTES, Committer
from kafka_backup.engine.backup.context import RunContext
from kafka_backup.engine.backup.partition import OwnedPartition
from kafka_backup.engine.kafka.admin import SETTLING_CODES, Cluster
from kafka_backup.engine.kafka.source import Batch, EndOfPartition, KafkaSource

TP = tuple[str, int]


class Ingest:
    """Appends batches to the open segments of the run's ``owned`` partitions (see the module docstring)."""

    def __init__(
        self,
        ctx: RunContext,
        owned: dict[TP, OwnedPartition],
        commits: Committer,
        source: KafkaSource,
        cluster: Cluster,
    ) -> None:
        self.ctx = ctx
        self.owned = owned
        self.commits = commits
        self.source = source
        self.cluster = cluster

    def ingest(self, batch: Batch) -> None:
        for tp, records in batch.records.items():
            part = self.owned.get(tp)
            if part is None or part.done:
                continue  # revoked or finished while these were in flight
            self._append(part, pa.Table.from_batches([records]))  # no copy: the table holds the batch's buffers
        # end-of-partition and error events after the data of the same batch, which they follow
        for event in batch.events:
            if isinstance(event, EndOfPartition):
                self._on_eof(event.tp, event.offset)
            else:
                self._on_out_of_range(event.tp)
        total = sum(p.buffered_bytes for p in self.owned.values())
        while total > MAX_BUFFERED_BYTES // 2:
            largest = max(self.owned.values(), key=lambda p: p.buffered_bytes)
            total -= largest.buffered_bytes
            self.commits.hand_off(largest, largest.last_offset + 1)

    def _append(self, part: OwnedPartition, table: pa.Table) -> None:
        reached_target = False
        # the target is an end offset (exclusive): the record just below it ends the partition at once, without the
        # end-of-partition event an empty fetch brings only after fetch.wait.max.ms
        last = table.column("offset")[-1].as_py()
        if part.target is not None and last + 1 >= part.target:
            if last >= part.target:
                # offsets increase within a batch: the records below the target are its head
                offsets = table.column("offset")
                table = table.slice(
                    0, bisect.bisect_left(range(len(offsets)), part.target, key=lambda i: offsets[i].as_py())
                )
            reached_target = True
        seg = self.ctx.config.segment
        while table.num_rows:
            room = seg.max_records - part.buffered_records
            head, table = table.slice(0, room), table.slice(room)
            head_bytes = part.add(head, time.monotonic())
            self.ctx.progress.advance(part.key, part.last_offset + 1, head_bytes)
            if part.buffered_bytes >= seg.max_bytes or part.buffered_records >= seg.max_records:
                self.commits.hand_off(part, part.last_offset + 1)
        if reached_target:
            self._finish_partition(part)

    def _on_eof(self, tp: TP, offset: int) -> None:
        part = self.owned.get(tp)
        if part is None or part.done or part.target is None:
            return
        if offset >= part.target:
            self._finish_partition(part)

    def _on_out_of_range(self, tp: TP) -> None:
        """Our position fell below the log start (retention): record the lost range as a gap, go on from there."""
        part = self.owned.get(tp)
        if part is None:
            return
        if part.pending:
            self.commits.commit(part, part.last_offset + 1)
        start = self.cluster.partition_starts([tp], also=SETTLING_CODES)[tp]
        self.commits.record_gap(part, start)
        self.source.seek(tp, part.manifest.next_offset)

    def _finish_partition(self, part: OwnedPartition) -> None:
        """Snapshot target reached: commit everything up to the target, stop fetching this partition."""
        assert part.target is not None
        self.commits.commit(part, max(part.target, part.last_offset + 1))
        part.done = True
        self.ctx.progress.finish(part.key)
        self.source.pause([part.key])
        self.ctx.metrics.lag.update(self.ctx.backup_id, *part.key, part.target, part.manifest.next_offset)
