"""A partition this worker owns during a backup: its committed manifest, the ranges handed to the encoder, and the
records read since (the open segment).

Invariants: ``flushes`` are contiguous and in offset order, the first starting at ``manifest.next_offset``; the open
segment (``chunks``) starts at :attr:`OwnedPartition.flushed_to` and ends at ``last_offset``; ``manifest`` is always
the manifest this worker last stored (or read), never one it has not written yet, and ``version`` the stored version
of it that the next (conditional) manifest write expects.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

import pyarrow as pa
import structlog

from kafka_backup.engine.format.manifest import PartitionManifest
from kafka_backup.engine.format.segment import EncodedSegment, payload_bytes
from kafka_backup.engine.store import Version

TP = tuple[str, int]


@dataclass
class Flush:
    """A range of a partition handed to the encoder, committed (segment, manifest, offset) once it is encoded."""

    start_offset: int
    end_offset: int
    encoded: Future[tuple[EncodedSegment, int]] | None
    """The segment (without its bytes) and its stored size, once written; None: no records, only a gap to record."""
    bytes: int
    dropped: bool = False


@dataclass
class OwnedPartition:
    """A partition this worker owns (see the module docstring)."""

    manifest: PartitionManifest
    target: int | None
    log: structlog.stdlib.BoundLogger
    """The run's logger bound to this partition's ``topic`` and ``partition``."""
    version: Version | None = None
    """The stored version of :attr:`manifest` (None: none stored yet): the next manifest write expects it."""
    flushes: deque[Flush] = field(default_factory=deque)
    chunks: list[pa.Table] = field(default_factory=list)
    buffered_records: int = 0
    buffered_bytes: int = 0
    opened_at: float = 0.0
    last_offset: int = -1
    last_timestamp: int | None = None
    avg_record_bytes: float | None = None
    """Moving average of record payload size, for the bytes-lag estimate."""
    done: bool = False

    @property
    def key(self) -> TP:
        return (self.manifest.topic, self.manifest.partition)

    @property
    def flushed_to(self) -> int:
        """Where the next hand-off starts: the end of the last range handed to the encoder, else of the manifest."""
        return self.flushes[-1].end_offset if self.flushes else self.manifest.next_offset

    @property
    def pending(self) -> bool:
        """Records read or ranges handed off that the manifest does not list yet."""
        return bool(self.chunks or self.flushes)

    def add(self, head: pa.Table, opened_at: float) -> int:
        """Append ``head`` (at most the room left in the segment) to the open segment; returns its payload bytes."""
        if not self.chunks:
            self.opened_at = opened_at
        self.chunks.append(head)
        self.buffered_records += head.num_rows
        head_bytes = payload_bytes(head)
        self.buffered_bytes += head_bytes
        batch_avg = head_bytes / head.num_rows
        self.avg_record_bytes = (
            batch_avg if self.avg_record_bytes is None else 0.8 * self.avg_record_bytes + 0.2 * batch_avg
        )
        self.last_offset = head.column("offset")[-1].as_py()
        self.last_timestamp = head.column("timestamp")[-1].as_py()
        return head_bytes

    def take_open(self) -> list[pa.Table]:
        """Empty the open segment; returns its chunks."""
        chunks = self.chunks
        self.chunks, self.buffered_records, self.buffered_bytes = [], 0, 0
        return chunks
