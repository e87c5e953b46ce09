"""The tricky data set: every record shape and topic kind a backup must reproduce exactly.

``produce_tricky(bootstrap, prefix)`` creates and fills these topics (names start with ``prefix``):

- ``<p>.shapes`` (3 partitions, CreateTime): null keys, empty keys, tombstones (null values), empty values, binary
  headers with duplicate keys and null values, records with no headers, values near 1 MB;
- ``<p>.compacted`` (1 partition, compacted): offset gaps left by the log cleaner (waited for);
- ``<p>.txn`` (2 partitions): committed and aborted transactions (gaps from markers and aborted records);
- ``<p>.wide`` (12 partitions);
- ``<p>.logappend`` (LogAppendTime).

Ground truth is what the broker serves: :func:`read_topic` consumes a topic completely (read_committed), returning
:data:`Row` tuples in the segment's column order, so a test compares them with a raw Parquet read of the backup.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from kafka_backup.engine.testing import create_topic

Row = tuple[str, int, int, int, int, bytes | None, bytes | None, list[tuple[str, bytes | None]] | None]
"""(topic, partition, offset, timestamp, timestamp_type, key, value, headers)."""

BIG = 900 * 1024

__all__ = ["BIG", "Row", "create_topic", "produce_tricky", "read_topic"]


def _producer(bootstrap: str, **extra: Any) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "message.max.bytes": 2_000_000, **extra})


def _shapes(bootstrap: str, topic: str) -> None:
    create_topic(bootstrap, topic, 3, {"max.message.bytes": "2000000"})
    p = _producer(bootstrap, **{"enable.idempotence": True})
    headers_dup: list[tuple[str, str | bytes | None]] = [("h", b"\x00\x01"), ("h", None), ("h", b""), ("x", b"\xff")]
    for i in range(300):
        part = i % 3
        p.produce(topic, key=None, value=f"null-key-{i}".encode(), partition=part)
        p.produce(topic, key=b"", value=b"", partition=part)
        p.produce(topic, key=f"tomb-{i}".encode(), value=None, partition=part)
        p.produce(topic, key=bytes([i % 256, 0, 255]), value=bytes(range(256)) * (i % 4), headers=headers_dup)
        p.produce(topic, key=b"ts", value=b"explicit-ts", timestamp=1_600_000_000_000 + i, partition=part)
    for i in range(3):
        p.produce(topic, key=f"big-{i}".encode(), value=bytes([i + 1]) * (BIG + i), partition=i)
    assert p.flush(60) == 0


def _compacted(bootstrap: str, topic: str) -> None:
    config = {
        "cleanup.policy": "compact",
        "segment.ms": "200",
        "min.cleanable.dirty.ratio": "0.001",
        "min.compaction.lag.ms": "0",
        "delete.retention.ms": "100",
    }
    create_topic(bootstrap, topic, 1, config)
    p = _producer(bootstrap)
    for round_ in range(5):
        for k in range(20):
            p.produce(topic, key=f"k{k}".encode(), value=f"v{round_}".encode())
        p.flush(30)
        time.sleep(0.3)  # let segment.ms roll the segment so the cleaner can compact it
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        p.produce(topic, key=b"roll", value=str(time.time()).encode())
        p.flush(10)
        offsets = [row[2] for row in read_topic(bootstrap, topic)]
        if len(offsets) < offsets[-1] - offsets[0] + 1 - 10:
            return
        time.sleep(1)
    raise AssertionError(f"the log cleaner left no offset gaps in {topic} within 60 s")


def _transactional(bootstrap: str, topic: str) -> None:
    create_topic(bootstrap, topic, 2)
    p = _producer(bootstrap, **{"transactional.id": f"tx-{topic}"})
    p.init_transactions(30)
    for batch in range(6):
        p.begin_transaction()
        for i in range(50):
            p.produce(topic, key=f"b{batch}-{i}".encode(), value=f"batch{batch}".encode(), partition=i % 2)
        if batch % 3 == 1:
            # the aborted records reach the log first (deterministic shape); aborting with produce requests still in
            # flight made the broker (Kafka 4.x) answer EndTxn with INVALID_TXN_STATE now and then
            p.flush(30)
            p.abort_transaction(30)
        else:
            p.commit_transaction(30)


def _wide(bootstrap: str, topic: str) -> None:
    create_topic(bootstrap, topic, 12)
    p = _producer(bootstrap)
    for i in range(2400):
        p.produce(topic, key=f"w{i}".encode(), value=f"wide-{i}".encode() * 3, headers=[("n", str(i).encode())])
    assert p.flush(30) == 0


def _logappend(bootstrap: str, topic: str) -> None:
    create_topic(bootstrap, topic, 2, {"message.timestamp.type": "LogAppendTime"})
    p = _producer(bootstrap)
    for i in range(400):
        p.produce(topic, key=f"l{i}".encode(), value=b"log-append", timestamp=1_000 + i)
    assert p.flush(30) == 0


def produce_tricky(bootstrap: str, prefix: str) -> list[str]:
    """Create and fill the tricky topics; returns their names."""
    topics = {
        f"{prefix}.shapes": _shapes,
        f"{prefix}.compacted": _compacted,
        f"{prefix}.txn": _transactional,
        f"{prefix}.wide": _wide,
        f"{prefix}.logappend": _logappend,
    }
    for name, fill in topics.items():
        fill(bootstrap, name)
    return sorted(topics)


def read_topic(bootstrap: str, topic: str, isolation: str = "read_committed", timeout: float = 60) -> list[Row]:
    """Every record the broker serves for ``topic`` (all partitions, to the end), sorted by partition and offset."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{topic}-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": isolation,
            "fetch.max.bytes": 50_000_000,
        }
    )
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = sorted(metadata.topics[topic].partitions)
    # from the log start, not offset 0: a truncated (delete-records) or retention-trimmed partition starts later
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    rows: list[Row] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(at_end) < len(partitions):
        if time.monotonic() > deadline:
            raise AssertionError(f"reading {topic} did not reach the end within {timeout}s")
        for msg in consumer.consume(1000, timeout=1):
            err = msg.error()
            partition = msg.partition()
            assert partition is not None
            if err is not None and err.code() == KafkaError._PARTITION_EOF:
                at_end.add(partition)
                continue
            assert err is None, err
            at_end.discard(partition)
            ts_type, ts = msg.timestamp()
            key, value = msg.key(), msg.value()
            assert not isinstance(key, str)
            assert not isinstance(value, str)
            headers = msg.headers()
            rows.append((topic, partition, msg.offset() or 0, ts, ts_type, key, value, headers))  # type: ignore[arg-type]
    consumer.close()
    rows.sort(key=lambda r: (r[1], r[2]))
    return rows
