"""The backup's manifest fence under a race, on every backend: two workers that both believe they own a partition
commit through the real commit protocol (:class:`~kafka_backup.engine.backup.commit.Committer`) at the same instant;
exactly one commit lands, the other worker gets ``CONCURRENT_WRITER`` and the manifest is the winner's.

The Kafka source is not used by the manifest commit (only by the offset commit after it), so the committers get none.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest

from kafka_backup.engine.backup.commit import Committer
from kafka_backup.engine.backup.context import RunContext
from kafka_backup.engine.backup.partition import OwnedPartition
from kafka_backup.engine.backup.progress import ProgressTracker
from kafka_backup.engine.backup.summary import BackupSummary
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.config.base import parse_config
from kafka_backup.engine.errors import ConcurrentWriterError
from kafka_backup.engine.format.manifest import PartitionManifest, SegmentEntry
from kafka_backup.engine.kafka.source import KafkaSource
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.store import Store
from kafka_backup.telemetry.catalog import Metrics
from rig.storage_fixtures import StorageTarget

BID = "fence"
TP = ("orders", 0)
ROUNDS = 10


class Worker:
    """One worker's view of partition ``TP``: its own store instance, run context and committer."""

    def __init__(self, store: Store, url: str) -> None:
        config = parse_config(
            BackupConfig,
            {
                "backup_id": BID,
                "source": {"bootstrap_servers": "127.0.0.1:9"},
                "topics": {"include": [TP[0]]},
                "storage": {"url": url},
            },
            "test",
            {},
        )
        metrics = Metrics()
        progress = ProgressTracker(None, snapshot=False)
        self.ctx = RunContext(config, store, metrics, "test.fence", BackupSummary(backup_id=BID), progress)
        self.owned: dict[tuple[str, int], OwnedPartition] = {}
        self.committer = Committer(self.ctx, self.owned, cast("KafkaSource", None), started_at=0.0)
        self.part: OwnedPartition | None = None

    def take(self) -> OwnedPartition:
        """Assignment: read the manifest with its version (or start an empty one at offset 0)."""
        found = self.ctx.repo.read_partition_manifest_versioned(BID, *TP)
        manifest = found[0] if found is not None else PartitionManifest(BID, *TP, 0, 0)
        self.part = OwnedPartition(
            manifest=manifest,
            target=None,
            log=self.ctx.partition_log(TP),
            version=found[1] if found is not None else None,
        )
        self.owned[TP] = self.part
        return self.part

    def commit_next(self, records: int, tag: str) -> None:
        """Commit a manifest that lists one more segment of ``records`` records (the segment itself is not needed
        by the fence)."""
        part = self.part
        assert part is not None
        start = part.manifest.next_offset
        entry = SegmentEntry(
            key=f"{tag}-{start}",
            start_offset=start,
            end_offset=start + records,
            first_offset=start,
            last_offset=start + records - 1,
            records=records,
            size=1,
            uncompressed_bytes=1,
            sha256="0" * 64,
            codec="zstd",
            first_timestamp=0,
            last_timestamp=0,
            min_timestamp=0,
            max_timestamp=0,
            created_at=0,
        )
        self.committer._store_manifest(part, part.manifest.with_segment(entry))


def _at_once(*calls: Any) -> list[BaseException | None]:
    """Run every call at the same instant (one thread each); the exception each raised, or None."""
    barrier = threading.Barrier(len(calls))

    def run(call: Any) -> BaseException | None:
        barrier.wait()
        try:
            call()
        except Exception as exc:
            return exc
        return None

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_two_workers_committing_at_once_one_wins(storage_target: StorageTarget) -> None:
    """Both workers hold the same manifest version and commit a different next segment at the same instant, round
    after round: one commit lands, the other is CONCURRENT_WRITER, and storage holds the winner's segment list."""
    a, b = Worker(storage_target.store(), storage_target.url), Worker(storage_target.store(), storage_target.url)
    a.take()
    a.committer.create_manifest(a.part)  # type: ignore[arg-type]
    for n in range(ROUNDS):
        a.take()
        b.take()
        assert a.part is not None and b.part is not None and a.part.version == b.part.version
        errors = _at_once(functools.partial(a.commit_next, 10, f"a{n}"), functools.partial(b.commit_next, 20, f"b{n}"))
        lost = [e for e in errors if e is not None]
        assert len(lost) == 1 and isinstance(lost[0], ConcurrentWriterError), f"round {n}: {errors}"
        assert lost[0].code == "CONCURRENT_WRITER"
        winner = a if errors[0] is None else b
        stored = Repository(storage_target.store()).read_partition_manifest(BID, *TP)
        assert stored is not None and winner.part is not None
        assert stored.segments == winner.part.manifest.segments


def test_a_stale_worker_cannot_overwrite_a_newer_manifest(storage_target: StorageTarget) -> None:
    """A worker that lost the partition (and did not notice) commits after the new owner did: it is refused and the
    new owner's manifest stays (a read-then-put fence catches this case too; the race above only a conditional
    write catches)."""
    a, b = Worker(storage_target.store(), storage_target.url), Worker(storage_target.store(), storage_target.url)
    a.take()
    a.committer.create_manifest(a.part)  # type: ignore[arg-type]
    a.take()
    b.take()
    b.commit_next(5, "b")
    with pytest.raises(ConcurrentWriterError, match="moved to 5"):
        a.commit_next(7, "a")
    stored = Repository(storage_target.store()).read_partition_manifest(BID, *TP)
    assert stored is not None and [s.records for s in stored.segments] == [5]


def test_two_workers_creating_the_first_manifest_share_it(storage_target: StorageTarget) -> None:
    """Both create the partition's first manifest at the same instant: one creates it, the other carries on from it
    (same start offset), and from then on their commits are fenced against each other."""
    a, b = Worker(storage_target.store(), storage_target.url), Worker(storage_target.store(), storage_target.url)
    a.take()
    b.take()
    pa_, pb = a.part, b.part
    assert pa_ is not None and pb is not None and (pa_.version, pb.version) == (None, None)
    errors = _at_once(lambda: a.committer.create_manifest(pa_), lambda: b.committer.create_manifest(pb))
    assert errors == [None, None]
    versions = {w.part.version for w in (a, b) if w.part is not None}
    assert len(versions) == 1 and None not in versions
    errors = _at_once(lambda: a.commit_next(3, "a"), lambda: b.commit_next(4, "b"))
    assert sum(e is None for e in errors) == 1
    assert all(isinstance(e, ConcurrentWriterError) for e in errors if e is not None)
