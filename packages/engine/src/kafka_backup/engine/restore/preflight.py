"""The pre-flight checks of a restore, run before anything is written (no topic created, no checkpoint, no record).

:func:`check_segments` stats every selected segment still to be produced (exists, with its manifest size);
:func:`verify_checksums` (``verify_first``) reads each and compares its SHA-256 with the manifest entry. Both run in a
thread pool, each call in a copy of the caller's context (bound log context, the current span), and name the first
bad key.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from kafka_backup.engine.errors import IntegrityError, SegmentMissingError, SegmentSizeMismatchError
from kafka_backup.engine.format.manifest import SegmentEntry
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.store import Store

PREFLIGHT_THREADS = 16
"""Concurrent stat calls of the pre-flight check (object stores answer each in a round trip; there may be
thousands of segments)."""


def check_segments(store: Store, segments: Sequence[SegmentEntry]) -> None:
    """The pre-flight check: every segment exists with the size its manifest entry records. One stat per segment,
    ``PREFLIGHT_THREADS`` at a time. Raises SEGMENT_MISSING (or SEGMENT_SIZE_MISMATCH) naming the first bad key."""
    if not segments:
        return
    with ThreadPoolExecutor(min(PREFLIGHT_THREADS, len(segments)), thread_name_prefix="segment-stat") as pool:
        # each stat runs in a copy of the caller's context (bound log context, the current span)
        futures = [pool.submit(contextvars.copy_context().run, store.stat, e.key) for e in segments]
        infos = [f.result() for f in futures]
    missing = [e.key for e, info in zip(segments, infos, strict=True) if info is None]
    wrong = [
        (e, info.size) for e, info in zip(segments, infos, strict=True) if info is not None and info.size != e.size
    ]
    hint = "restore from another copy of the backup, or leave that partition or range out of the selection"
    if missing:
        raise SegmentMissingError(
            f"{len(missing)} of {len(segments)} selected segments are missing from storage, first {missing[0]}; "
            "nothing was written",
            key=missing[0],
            hint=hint,
        )
    if wrong:
        entry, size = wrong[0]
        raise SegmentSizeMismatchError(
            f"{len(wrong)} of {len(segments)} selected segments differ in size from their manifest entries, first "
            f"{entry.key} ({size:,} bytes stored, {entry.size:,} in the manifest); nothing was written",
            key=entry.key,
            hint=hint,
        )


VERIFY_THREADS = 4
"""Concurrent whole-segment reads of ``verify_first`` (each holds one segment in memory while it is hashed)."""


def verify_checksums(store: Store, segments: Sequence[SegmentEntry]) -> None:
    """``verify_first``: read every segment and compare its SHA-256 with the manifest entry (hashlib releases the
    GIL, so reads and hashes overlap). Raises BACKUP_CORRUPT naming the first bad key and how many are bad."""
    if not segments:
        return

    def digest(entry: SegmentEntry) -> str:
        return hashlib.sha256(Repository(store).read_segment(entry.key)).hexdigest()

    with ThreadPoolExecutor(min(VERIFY_THREADS, len(segments)), thread_name_prefix="segment-verify") as pool:
        futures = [pool.submit(contextvars.copy_context().run, digest, e) for e in segments]
        bad = [e.key for e, f in zip(segments, futures, strict=True) if f.result() != e.sha256]
    if bad:
        raise IntegrityError(
            f"{len(bad)} of {len(segments)} selected segments fail their SHA-256 check, first {bad[0]}; "
            "nothing was written",
            hint="restore from another copy of the backup, or leave that partition or range out of the selection",
        )


__all__ = ["PREFLIGHT_THREADS", "VERIFY_THREADS", "check_segments", "verify_checksums"]
