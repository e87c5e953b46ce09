"""Completeness: what a backup must hold, what it holds, and every way the two differ.

A backup says what it must hold in three places, all written before the data they describe:

- ``backup.json`` lists the topics with their partition counts: every one of those partitions must have a readable
  partition manifest that belongs to it (for continuous mode this is the partition set the backup owns);
- ``snapshot.json`` (snapshot mode) holds each partition's target end offset: a complete snapshot reached them all
  (one that does not parse is the defective shortfall ``snapshot_unreadable``: nothing can be judged against it);
- ``backup.json``'s ``status`` says how the last run ended: ``complete`` (snapshot mode: every target reached),
  ``stopped`` (continuous mode: shut down cleanly, every record read was committed; ``stopped_at`` says when), or
  ``running`` (a run is in progress, or it died: the two cannot be told apart from storage, so both are judged
  *interrupted*).

:func:`assess` reads the manifests only (never a segment) and returns an :class:`Assessment`: the state and a list
of named :class:`Shortfall` s, per topic/partition where they have one. Every verdict uses it: ``validate`` (each
shortfall is a defect), ``describe``/``list`` (*incomplete* and why), ``drill`` (cannot pass with one), ``restore``
(refuses, unless a partial restore is accepted; a *defective* manifest stops it even then) and ``prune --orphans``
(deletes only under readable manifests of complete backups).

Backups written before these fields existed (no ``mode``, no ``stopped``) are read as they are: ``complete`` stays
complete, and ``running`` is interrupted: an old continuous backup that was stopped cleanly is indistinguishable
from a crashed one, and is judged incomplete (a partial restore still restores everything it committed).
"""

from __future__ import annotations

import io
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from kafka_backup.engine.errors import IntegrityError, StorageError, StorageNotFoundError
from kafka_backup.engine.format.layout import backup_key, manifest_key, snapshot_key
from kafka_backup.engine.format.manifest import BackupManifest, PartitionManifest, SegmentEntry, Snapshot
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.store import Store

TP = tuple[str, int]

ShortfallKind = Literal[
    "not_complete",
    "manifest_missing",
    "manifest_unreadable",
    "wrong_partition",
    "short_of_snapshot",
    "snapshot_unreadable",
    "count_mismatch",
    "segment_unreadable",
]
DEFECTIVE: frozenset[str] = frozenset(
    {"manifest_unreadable", "snapshot_unreadable", "wrong_partition", "count_mismatch", "segment_unreadable"}
)
"""Shortfalls that make a manifest untrustworthy (not merely short): a restore never starts on one of them."""

State = Literal["complete", "stopped", "running"]


@dataclass(frozen=True)
class Shortfall:
    """One way the backup falls short of what it must hold. ``topic``/``partition`` are None for the whole backup."""

    kind: ShortfallKind
    object: str
    """The storage key the shortfall is about (a partition manifest, or ``backup.json``)."""
    detail: str
    topic: str | None = None
    partition: int | None = None
    missing_offsets: int | None = None
    """Offsets the backup should hold here but does not (an upper bound of the records missing), when known."""

    @property
    def defective(self) -> bool:
        return self.kind in DEFECTIVE

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "object": self.object,
            "detail": self.detail,
            "topic": self.topic,
            "partition": self.partition,
            "missing_offsets": self.missing_offsets,
        }

    def __str__(self) -> str:
        where = f"{self.topic}-{self.partition}" if self.topic is not None else "backup"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class Assessment:
    """What :func:`assess` found: the state, the readable partition manifests and every shortfall."""

    backup: BackupManifest
    snapshot: Snapshot | None
    manifests: Mapping[TP, PartitionManifest]
    """Every readable partition manifest of a partition in ``backup.json`` (keyed by topic, partition)."""
    shortfalls: tuple[Shortfall, ...] = field(default=())

    @property
    def backup_id(self) -> str:
        return self.backup.backup_id

    @property
    def state(self) -> str:
        return self.backup.status

    @property
    def complete(self) -> bool:
        return not self.shortfalls

    @property
    def defective(self) -> bool:
        return any(s.defective for s in self.shortfalls)

    @property
    def verdict(self) -> str:
        """``complete``/``stopped`` (the stored state) when nothing falls short, else ``incomplete``."""
        return self.state if self.complete else "incomplete"

    def partitions(self) -> list[TP]:
        """Every partition the backup must hold, in (topic, partition) order."""
        return [(t, p) for t, info in sorted(self.backup.topics.items()) for p in range(info.partitions)]

    def relevant(self, selected: Collection[TP]) -> list[Shortfall]:
        """Shortfalls of the whole backup and of the ``selected`` partitions (a partial selection ignores the rest)."""
        chosen = set(selected)
        return [
            s for s in self.shortfalls if s.topic is None or s.partition is None or (s.topic, s.partition) in chosen
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "verdict": self.verdict,
            "complete": self.complete,
            "shortfalls": [s.to_dict() for s in self.shortfalls],
        }


def read_snapshot(store: Store, backup_id: str) -> Snapshot | None:
    """The snapshot checkpoint, or None when there is none (continuous mode). One that does not parse, or has an
    unknown major version, raises (``CorruptObjectError``/``UnsupportedFormatError``, naming its key)."""
    return Repository(store).read_snapshot(backup_id)


def assess(store: Store, backup_id: str, backup: BackupManifest | None = None) -> Assessment:
    """Judge the backup against what it must hold; reads ``backup.json`` (unless given), the snapshot checkpoint and
    every partition manifest, never a segment. Raises only for ``backup.json`` itself (missing or unparseable); an
    unreadable ``snapshot.json`` is the defective shortfall ``snapshot_unreadable`` (no target can be trusted, so
    none is judged)."""
    repository = Repository(store)
    if backup is None:
        backup = repository.require_backup(backup_id)
    out: list[Shortfall] = []
    try:
        snapshot = repository.read_snapshot(backup_id)
    except IntegrityError as exc:
        snapshot = None
        out.append(Shortfall("snapshot_unreadable", snapshot_key(backup_id), exc.message))
    if backup.status == "running":
        out.append(
            Shortfall(
                "not_complete",
                backup_key(backup_id),
                "the backup never completed: status is 'running' (a run was interrupted, or is still writing)",
            )
        )
    manifests: dict[TP, PartitionManifest] = {}
    for topic, info in sorted(backup.topics.items()):
        for partition in range(info.partitions):
            target = snapshot.target(topic, partition) if snapshot is not None else None
            manifest, problem = _read(repository, backup_id, topic, partition)
            if problem is not None:
                out.append(problem if target is None else replace(problem, missing_offsets=target))
            if manifest is None:
                continue
            manifests[(topic, partition)] = manifest
            out += _consistency(manifest)
            if target is not None and manifest.next_offset < target:
                out.append(
                    Shortfall(
                        "short_of_snapshot",
                        manifest_key(backup_id, topic, partition),
                        f"backed up to offset {manifest.next_offset}, the snapshot target is {target}",
                        topic,
                        partition,
                        target - manifest.next_offset,
                    )
                )
    return Assessment(backup, snapshot, manifests, tuple(out))


def _read(
    repository: Repository, backup_id: str, topic: str, partition: int
) -> tuple[PartitionManifest | None, Shortfall | None]:
    key = manifest_key(backup_id, topic, partition)
    try:
        manifest = repository.read_partition_manifest(backup_id, topic, partition)
    except IntegrityError as exc:
        return None, Shortfall("manifest_unreadable", key, exc.message, topic, partition)
    if manifest is None:
        return None, Shortfall(
            "manifest_missing",
            key,
            f"partition manifest of {topic}-{partition} (listed in backup.json) does not exist: "
            "its records are not in the backup's view (its segments, if any, may be the only copy: kept)",
            topic,
            partition,
        )
    if (manifest.backup_id, manifest.topic, manifest.partition) != (backup_id, topic, partition):
        detail = f"manifest is for {manifest.backup_id}/{manifest.topic}-{manifest.partition}"
        return None, Shortfall("wrong_partition", key, detail, topic, partition)
    return manifest, None


def _consistency(m: PartitionManifest) -> list[Shortfall]:
    """Counts that disagree with the manifest's own segments: segments and gaps must tile ``[start, next_offset)``
    exactly, and every segment's record count must fit its offsets."""
    key = manifest_key(m.backup_id, m.topic, m.partition)
    out: list[Shortfall] = []
    pieces = sorted(
        [(s.start_offset, s.end_offset) for s in m.segments] + [(g.start_offset, g.end_offset) for g in m.gaps]
    )
    position = m.start_offset
    for start, end in pieces:
        if start != position or end <= start:
            detail = f"a segment or gap covers [{start}, {end}) where offset {position} was next: they do not tile"
            out.append(Shortfall("count_mismatch", key, detail, m.topic, m.partition))
            break
        position = end
    else:
        if position != m.next_offset:
            detail = f"next_offset is {m.next_offset}, its segments and gaps end at {position}"
            out.append(Shortfall("count_mismatch", key, detail, m.topic, m.partition))
    for s in m.segments:
        if s.records <= 0 or s.records > s.last_offset - s.first_offset + 1:
            detail = f"segment {s.key} records {s.records}, which offsets {s.first_offset}..{s.last_offset} cannot hold"
            out.append(Shortfall("count_mismatch", key, detail, m.topic, m.partition))
    return out


FOOTER_READ = 16 * 1024
"""Bytes read from a segment's end to find its Parquet footer (a segment's footer is a few KB; a longer one costs
a second read)."""
_MAGIC = b"PAR1"


def footer_rows(store: Store, entry: SegmentEntry) -> int:
    """The record count in the segment's Parquet footer, from one ranged read of its end (not the whole object).

    Raises IntegrityError when the object ends in no Parquet footer (truncated, not Parquet), StorageNotFoundError
    when it does not exist."""
    segments = Repository(store)
    tail = segments.read_segment(entry.key, start=max(0, entry.size - FOOTER_READ), end=entry.size)
    if len(tail) < 12 or tail[-4:] != _MAGIC:
        raise IntegrityError(f"{entry.key}: does not end in a Parquet footer ({len(tail)} bytes read)")
    length = int.from_bytes(tail[-8:-4], "little")
    if length + 8 > len(tail):
        if length + 12 > entry.size:
            raise IntegrityError(f"{entry.key}: Parquet footer of {length} bytes does not fit the object")
        tail = segments.read_segment(entry.key, start=entry.size - 8 - length, end=entry.size)
    import pyarrow.parquet as pq  # noqa: PLC0415 - list and describe read no footer: they start without pyarrow

    try:
        # the metadata parser needs only the footer: give it the footer behind a leading magic
        return int(pq.read_metadata(io.BytesIO(_MAGIC + tail[-(length + 8) :])).num_rows)
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{entry.key}: Parquet footer does not parse ({type(exc).__name__})") from None


def count_mismatches(
    store: Store, backup_id: str, entries: list[tuple[TP, SegmentEntry]], workers: int = 8
) -> list[Shortfall]:
    """Segments whose footer disagrees with their manifest entry's record count (``count_mismatch``), or that have
    no readable footer (``segment_unreadable``): one ranged read per segment, ``workers`` at a time."""

    def check(item: tuple[TP, SegmentEntry]) -> Shortfall | None:
        (topic, partition), entry = item
        key = manifest_key(backup_id, topic, partition)
        try:
            rows = footer_rows(store, entry)
        except StorageNotFoundError:
            return Shortfall("segment_unreadable", key, f"segment {entry.key} does not exist", topic, partition)
        except (IntegrityError, StorageError) as exc:
            return Shortfall("segment_unreadable", key, str(exc), topic, partition)
        if rows == entry.records:
            return None
        detail = f"segment {entry.key} holds {rows} records, the manifest says {entry.records}"
        return Shortfall("count_mismatch", key, detail, topic, partition)

    if not entries:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(entries)))) as pool:
        return [f for f in pool.map(check, entries) if f is not None]
