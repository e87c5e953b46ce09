"""The backup's commit protocol: how records read from a partition become a committed segment.

Write order, for every range of a partition (:meth:`Committer.hand_off`, then :meth:`Committer._commit_oldest`):

1. the segment is encoded (Parquet, checksum) and stored completely (``Store.put``: local files temp + fsync +
   rename, object stores one PUT), on the encoder thread (:func:`write_segment`);
2. then the partition manifest is replaced by one that lists the segment (:meth:`Committer._store_manifest`) —
   the commit point. It is fenced by one conditional write (``Store.put_if``) that expects the version this worker
   read or wrote last (a first manifest: that none exists), decided by the storage service in the write itself (S3
   ``If-Match``/``If-None-Match``, GCS ``ifGenerationMatch``, Azure ETag conditions, a folder ``flock`` for local
   files; :mod:`kafka_backup.engine.store.conditional`). So a worker that lost the partition in a rebalance (and did
   not notice yet) cannot clobber the new owner's commits, even when both write at the same instant: the loser gets
   ``ConcurrentWriterError`` and gives the partition up, its segment left unreferenced. Two workers creating the
   same first manifest at once start from the same offset: the loser carries on from the winner's manifest;
3. only then is the manifest's new position noted for Kafka (:class:`KafkaOffsets`), committed asynchronously at
   most every ``OFFSET_COMMIT_INTERVAL_S`` (synchronously while a partition is revoked or the run closes).

Steps 2 and 3 run on the consuming thread, in hand-off order (per partition too), once step 1 is done
(:meth:`Committer.reap`, without waiting; :meth:`Committer.commit`, waiting for a partition's ranges to settle).

What a crash leaves behind:

- during or after step 1, before step 2: a segment no manifest lists (overwritten by the rerun, which writes the same
  range to the same key, or left unreferenced: ``validate`` reports it, ``prune`` removes it); no reader trusts it;
- after step 2, before step 3: Kafka's committed offset lags the manifest; nothing is lost or stored twice, since a
  run resumes at the manifest's ``next_offset``, never at Kafka's offset;
- a range that fails to commit drops the partition's later ranges and open segment (:meth:`Committer._abandon`), as
  a crash would: nothing after a missing range may be committed, and a rerun reads them again.

The manifest never points at a missing or partial segment, and no record is listed twice.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pyarrow as pa
from opentelemetry import trace

from kafka_backup.engine.backup.context import RunContext
from kafka_backup.engine.backup.partition import Flush, OwnedPartition
from kafka_backup.engine.errors import ConcurrentWriterError, PreconditionFailedError
from kafka_backup.engine.format.layout import manifest_key, segment_key
from kafka_backup.engine.format.manifest import PartitionManifest, SegmentEntry, now_ms
from kafka_backup.engine.format.segment import EncodedSegment, encode
from kafka_backup.engine.kafka.source import KafkaSource
from kafka_backup.engine.repository import Repository

TP = tuple[str, int]
_tracer = trace.get_tracer("kafka_backup.engine.backup.run")

RETENTION_GAP = "OFFSET_OUT_OF_RANGE"
"""``error_type`` counted when records expired before they were backed up (the gap is recorded, the run goes on)."""
MAX_BUFFERED_BYTES = 48 * 1024 * 1024
"""Bound on record bytes held in memory across all partitions, open segments and segments being encoded together.
Open segments past half of it: the largest is handed to the encoder; segments being encoded past the other half: the
consuming thread waits for the oldest."""
RELEASE_ARROW_MEMORY = 1
"""Return Arrow's unused memory to the OS after each segment (see ``write_segment``)."""
OFFSET_COMMIT_INTERVAL_S = 1.0
"""Kafka offsets (informational) are committed asynchronously, at most this often: a synchronous commit per segment
held the consuming thread for a broker round trip each time (5% of a backup of 1 KB records), and commits always in
flight would hold off a cooperative rebalance. Revoked partitions and the final offsets at shutdown are committed
synchronously."""


def _encoders() -> int:
    """One encoder per core this process may run on, less the one the consuming thread (and librdkafka) keeps."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 2
    return max(1, cores - 1)


ENCODER_THREADS = _encoders()
"""Segments of different partitions encode (Parquet, zstd, SHA-256: none of it holds the GIL) on this many threads
beside the consuming thread; the commit order per partition stays the hand-off order (``Committer._encoding`` is
committed from its oldest end). One on a 2-core machine, where a second encoder only competes with the consumer. 0
encodes on the consuming thread (no overlap; the benchmarks' A/B baseline)."""


def write_segment(repo: Repository, key: str, chunks: list[pa.Table], **kwargs: Any) -> tuple[EncodedSegment, int]:
    """Step 1 of the commit protocol: encode the segment and store it; returns it without its bytes, and its size.

    ``chunks`` is emptied here, so the records are freed as soon as they are encoded; then Arrow's freed buffers go
    back to the OS (``RELEASE_ARROW_MEMORY``), which its allocator would otherwise keep on top of the memory bound.
    """
    table = pa.concat_tables(chunks)
    chunks.clear()
    segment = encode(table, **kwargs)
    del table
    if RELEASE_ARROW_MEMORY:
        pa.default_memory_pool().release_unused()
    repo.write_segment(key, segment.data)
    return replace(segment, data=b""), len(segment.data)


class KafkaOffsets:
    """Step 3: manifest positions not yet committed to Kafka (see ``OFFSET_COMMIT_INTERVAL_S``)."""

    def __init__(self, source: KafkaSource) -> None:
        self._source = source
        self._pending: dict[TP, int] = {}
        self._last_commit = 0.0
        self._synchronous = False

    def note(self, tp: TP, offset: int) -> None:
        """``tp``'s manifest now ends at ``offset``: committed at once inside :meth:`synchronously`, else later."""
        self._pending[tp] = offset
        if self._synchronous:
            self.commit(synchronous=True, only=[tp])

    @contextlib.contextmanager
    def synchronously(self) -> Iterator[None]:
        """While partitions are revoked or the run closes: every position noted is committed before going on."""
        before, self._synchronous = self._synchronous, True
        try:
            yield
        finally:
            self._synchronous = before

    def due(self, now: float) -> bool:
        return bool(self._pending) and now - self._last_commit >= OFFSET_COMMIT_INTERVAL_S

    def commit(self, *, synchronous: bool, only: list[TP] | None = None) -> None:
        keys = list(self._pending) if only is None else [k for k in only if k in self._pending]
        offsets = {k: self._pending.pop(k) for k in keys}
        self._last_commit = time.monotonic()
        self._source.commit(offsets, synchronous=synchronous)

    def forget(self, tp: TP) -> None:
        """``tp`` was lost: its new owner commits from now on."""
        self._pending.pop(tp, None)


class Committer:
    """Keeps the commit protocol (module docstring) for the partitions in ``owned``; on the consuming thread only."""

    def __init__(
        self, ctx: RunContext, owned: dict[TP, OwnedPartition], source: KafkaSource, *, started_at: float
    ) -> None:
        self.ctx = ctx
        self.backup_id = ctx.backup_id
        self.repo = ctx.repo
        self.metrics = ctx.metrics
        self._labels = ctx.labels
        self.owned = owned
        self.source = source
        self.offsets = KafkaOffsets(source)
        self._started_at = started_at
        self._encoder = ThreadPoolExecutor(ENCODER_THREADS, "segment-encoder") if ENCODER_THREADS > 0 else None
        self._encoding: deque[tuple[OwnedPartition, Flush]] = deque()
        """Every hand-off not yet committed, oldest first (per partition too, so committing from the left is in
        order)."""
        self._encoding_bytes = 0

    # ---- step 1: hand the open segment to the encoder -----------------------------------------------------------

    def hand_off(self, part: OwnedPartition, end_offset: int) -> None:
        """Queue the open segment (or, with no records, a gap up to ``end_offset``) for committing; returns at once
        unless the segments being encoded already hold half of ``MAX_BUFFERED_BYTES``."""
        start = part.flushed_to
        if part.chunks:
            topic, partition = part.key
            codec = self.ctx.config.compression
            job = functools.partial(
                write_segment,
                self.repo,
                segment_key(self.backup_id, topic, partition, start, end_offset),
                part.chunks,
                topic=topic,
                partition=partition,
                start_offset=start,
                end_offset=end_offset,
                codec=codec.codec,
                level=codec.level,
            )
            if self._encoder is not None:
                # in this thread's context, so the storage span is a child of the backup span as before
                encoded = self._encoder.submit(contextvars.copy_context().run, job)
            else:
                encoded = Future()
                encoded.set_result(job())
            flush = Flush(start, end_offset, encoded, part.buffered_bytes)
        elif end_offset > start:
            flush = Flush(start, end_offset, None, 0)
        else:
            return
        part.take_open()
        part.flushes.append(flush)
        self._encoding.append((part, flush))
        self._encoding_bytes += flush.bytes
        while self._encoding_bytes > MAX_BUFFERED_BYTES // 2:
            self._commit_oldest(None)

    # ---- steps 2 and 3, in hand-off order -----------------------------------------------------------------------

    def commit(self, part: OwnedPartition, end_offset: int) -> None:
        """Commit everything of ``part`` up to ``end_offset`` and wait until it is (see the module docstring)."""
        self.hand_off(part, end_offset)
        while part.flushes:
            self._commit_oldest(part)

    def reap(self) -> None:
        """Commit the hand-offs whose encoding is done, oldest first, without waiting."""
        while self._encoding:
            _part, flush = self._encoding[0]
            if flush.encoded is not None and not flush.encoded.done():
                return
            self._commit_oldest(None)

    def _commit_oldest(self, settling: OwnedPartition | None) -> None:
        """Wait for the oldest hand-off and commit it, unless its partition was lost or taken over meanwhile (a
        partition being settled by a revoke is committed although it is no longer owned)."""
        part, flush = self._encoding.popleft()
        self._encoding_bytes -= flush.bytes
        part.flushes.popleft()
        if flush.dropped or (part is not settling and self.owned.get(part.key) is not part):
            return
        try:
            written = flush.encoded.result() if flush.encoded is not None else None
            self._commit_unfenced(part, flush, written)
        except ConcurrentWriterError as exc:
            self.ctx.log.warning("partition_taken_over", topic=part.key[0], error=str(exc))
            self._abandon(part)
            self.source.pause([part.key])
        except BaseException:
            # nothing read after a range that failed to commit may be committed (it would start at the wrong
            # offset): drop the partition's later ranges and open segment, as a crash would; a rerun resumes them
            self._abandon(part)
            raise

    def _abandon(self, part: OwnedPartition) -> None:
        for later in part.flushes:
            later.dropped = True
        part.take_open()
        if self.owned.get(part.key) is part:
            self.owned.pop(part.key)

    def _commit_unfenced(self, part: OwnedPartition, flush: Flush, written: tuple[EncodedSegment, int] | None) -> None:
        """Steps 2 and 3 for a range whose segment is stored (step 1, on the encoder thread)."""
        topic, partition = part.key
        manifest = part.manifest
        if written is not None:
            seg, size = written
            with _tracer.start_as_current_span(
                "segment.flush",
                attributes={"backup_id": self.backup_id, "topic": topic, "partition": partition},
            ):
                codec = self.ctx.config.compression
                key = segment_key(self.backup_id, topic, partition, flush.start_offset, flush.end_offset)
                entry = SegmentEntry(
                    key=key,
                    start_offset=flush.start_offset,
                    end_offset=flush.end_offset,
                    first_offset=seg.first_offset,
                    last_offset=seg.last_offset,
                    records=seg.records,
                    size=size,
                    uncompressed_bytes=seg.uncompressed_bytes,
                    sha256=seg.sha256,
                    codec=codec.codec,
                    first_timestamp=seg.first_timestamp,
                    last_timestamp=seg.last_timestamp,
                    min_timestamp=seg.min_timestamp,
                    max_timestamp=seg.max_timestamp,
                    created_at=now_ms(),
                )
                self._store_manifest(part, manifest.with_segment(entry))
            self._count_segment(part, entry)
        else:
            self._store_manifest(part, manifest.with_gap(flush.end_offset, "no_records"))
        self.offsets.note(part.key, part.manifest.next_offset)

    def _store_manifest(self, part: OwnedPartition, new: PartitionManifest) -> None:
        """The commit point: replace the partition manifest only if it is still the version this worker holds, or
        create it only if none exists: one conditional write, so of two racing workers exactly one commits."""
        try:
            version = self.repo.commit_partition_manifest(new, expect=part.version)
        except PreconditionFailedError as exc:
            found = self.repo.read_partition_manifest_versioned(self.backup_id, *part.key)
            creating = part.version is None and new is part.manifest
            if creating and found is not None and found[0].next_offset == part.manifest.next_offset:
                # another worker created the first manifest at the same moment, at the same offset: carry on from
                # its manifest (whoever commits next with its version owns the partition)
                part.manifest, part.version = found
                return
            moved = "was removed" if found is None else f"moved to {found[0].next_offset}"
            raise ConcurrentWriterError(
                f"manifest {manifest_key(self.backup_id, *part.key)} {moved} while this worker was at "
                f"{part.manifest.next_offset}",
                hint="another worker owns this partition now",
            ) from exc
        part.manifest, part.version = new, version
        self.metrics.backup_last_successful_commit.set(time.time(), {**self._labels, **self._tp_labels(part.key)})

    # ---- manifests without a segment ----------------------------------------------------------------------------

    def create_manifest(self, part: OwnedPartition) -> None:
        """The first manifest of a partition no worker backed up before (empty, at its log start)."""
        self._store_manifest(part, part.manifest)

    def record_gap(self, part: OwnedPartition, log_start: int) -> None:
        """Records below ``log_start`` expired before they were backed up: list the lost range in the manifest (and
        count it as ``RETENTION_GAP``); the partition goes on from ``log_start``."""
        if log_start <= part.manifest.next_offset:
            return
        lost = log_start - part.manifest.next_offset
        part.log.error(
            "records_lost_to_retention",
            from_offset=part.manifest.next_offset,
            to_offset=log_start,
            records=lost,
        )
        self.metrics.backup_errors_total.add(1, {**self._labels, "operation": "backup", "error_type": RETENTION_GAP})
        self._store_manifest(part, part.manifest.with_gap(log_start, "retention"))
        self.ctx.summary.gaps += 1

    def close(self) -> None:
        """Stop the encoder: hand-offs not committed by now are dropped (the next run reads them again)."""
        if self._encoder is not None:
            self._encoder.shutdown(wait=True, cancel_futures=True)

    # ---- tallies ------------------------------------------------------------------------------------------------

    def _count_segment(self, part: OwnedPartition, entry: SegmentEntry) -> None:
        labels = {**self._labels, **self._tp_labels(part.key)}
        algo = {**self._labels, "algorithm": entry.codec}
        m = self.metrics
        m.backup_records_total.add(entry.records, labels)
        m.backup_bytes_total.add(entry.uncompressed_bytes, labels)
        m.backup_segments_total.add(1, labels)
        m.backup_compressed_bytes_total.add(entry.size, {**algo, "topic": part.key[0]})
        m.backup_uncompressed_bytes_total.add(entry.uncompressed_bytes, {**algo, "topic": part.key[0]})
        s = self.ctx.summary
        s.records += entry.records
        s.uncompressed_bytes += entry.uncompressed_bytes
        s.compressed_bytes += entry.size
        s.segments += 1
        m.backup_compression_ratio.set(s.ratio, algo)
        elapsed = max(1e-6, time.monotonic() - (self.ctx.progress.started_at or self._started_at))
        topic_labels = {**self._labels, "topic": part.key[0]}
        m.backup_throughput_records_per_sec.set(s.records / elapsed, topic_labels)
        m.backup_throughput_bytes_per_sec.set(s.uncompressed_bytes / elapsed, topic_labels)

    @staticmethod
    def _tp_labels(tp: TP) -> dict[str, str]:
        return {"topic": tp[0], "partition": str(tp[1])}
