"""Comparing a restored partition with the backup, record by record.

A record is compared as a 16-byte BLAKE2b of (key, value, headers) and its timestamp; timestamps the backup does not
have (<= 0) are not compared, since the restore lets the producer stamp them. Each side also gets a SHA-256 over its
record sequence, so two reports can be compared without the records.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from kafka_backup.engine.drill.report import PartitionCheck
from kafka_backup.engine.format.manifest import SegmentEntry
from kafka_backup.engine.format.segment import decode
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.store import Store

_NULL = b"\xff\xff\xff\xff"
_NO_TS = -1


def _field(h: Any, data: bytes | None) -> None:
    if data is None:
        h.update(_NULL)
    else:
        h.update(len(data).to_bytes(4, "big"))
        h.update(data)


def record_hash(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes | None]] | None) -> bytes:
    """16 bytes over key, value and headers (in order; null and empty distinct; no headers == an empty list)."""
    h = hashlib.blake2b(digest_size=16)
    _field(h, key)
    _field(h, value)
    hs = headers or []
    h.update(len(hs).to_bytes(4, "big"))
    for hk, hv in hs:
        _field(h, hk.encode())
        _field(h, hv)
    return h.digest()


Rec = tuple[bytes, int]
"""(record hash, timestamp); a backup timestamp <= 0 is stored as -1: any restored timestamp matches it."""


def _sequence_digest(records: list[Rec]) -> str:
    h = hashlib.sha256()
    for digest, ts in records:
        h.update(digest)
        h.update(ts.to_bytes(8, "big", signed=True))
    return h.hexdigest()


def compare(expected: list[Rec], restored: list[Rec], check: PartitionCheck) -> None:
    """Fill ``check``: matched (same content, in any order), missing, unexpected, misordered, both digests."""
    check.restored = len(restored)
    # what the restored side is compared as: a record aligned with a timestamp-less backup record drops its timestamp
    aligned = [(r[0], _NO_TS) if i < len(expected) and expected[i][1] == _NO_TS else r for i, r in enumerate(restored)]
    check.backup_digest = _sequence_digest(expected)
    check.restored_digest = _sequence_digest(aligned)
    if aligned == expected:
        check.matched = len(expected)
        return
    available = Counter(expected)
    got: list[Rec] = []
    for digest, ts in restored:
        if available[(digest, ts)] > 0:
            key = (digest, ts)
        elif available[(digest, _NO_TS)] > 0:
            key = (digest, _NO_TS)
        else:
            check.unexpected += 1
            continue
        available[key] -= 1
        got.append(key)
    check.matched = len(got)
    used = Counter(got)
    wanted: list[Rec] = []
    for rec in expected:
        if used[rec] > 0:
            used[rec] -= 1
            wanted.append(rec)
    check.missing += len(expected) - check.matched
    check.misordered = sum(1 for a, b in zip(wanted, got, strict=True) if a != b)


def backup_records(store: Store, entries: list[SegmentEntry]) -> list[Rec]:
    """The records of ``entries`` in offset order (checksums verified)."""
    out: list[Rec] = []
    for entry in entries:
        table = decode(Repository(store).read_segment(entry.key), expected_sha256=entry.sha256, name=entry.key)
        keys = table.column("key").to_pylist()
        values = table.column("value").to_pylist()
        headers = table.column("headers").to_pylist()
        stamps = table.column("timestamp").to_pylist()
        for k, v, hs, ts in zip(keys, values, headers, stamps, strict=True):
            pairs = None if hs is None else [(x["key"], x["value"]) for x in hs]
            out.append((record_hash(k, v, pairs), ts if ts > 0 else _NO_TS))
    return out
