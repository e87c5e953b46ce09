"""The native producer (kafka_backup.engine._native.NativeProducer, packages/engine/rust/producer.rs) against a real
broker: records read back with confluent-kafka's Consumer are byte-exact, the offsets it reports are the broker's,
skipped rows are not produced, errors are typed, a full queue delays but loses nothing, and the GIL is released. Also
``partitions_for`` against the Python reference partitioner."""

from __future__ import annotations

import os
import random
import time
from typing import Any

import pyarrow as pa
import pytest

from engine.gil import count_while
from engine.restore_support import RECENT_TS, create_topic
from kafka_backup.engine._native import KafkaClientError, NativeProducer, partitions_for
from kafka_backup.engine.format.segment import SCHEMA
from kafka_backup.engine.kafka.partitioner import assign_partitions
from rig.kafka import KafkaEndpoint
from rig.tricky import BIG, read_topic

Headers = list[tuple[str, bytes | None]] | None
Rec = tuple[bytes | None, bytes | None, Headers]


def _conf(bootstrap: str, **extra: str) -> dict[str, str]:
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": "true",
        "acks": "all",
        "linger.ms": "5",
        "compression.type": "lz4",
        "message.max.bytes": str(4 * 1024 * 1024),
        "log_level": "4",
        **extra,
    }


def _batch(records: list[Rec], timestamps: list[int] | None = None) -> pa.RecordBatch:
    n = len(records)
    ts = timestamps if timestamps is not None else [RECENT_TS + i for i in range(n)]
    return pa.RecordBatch.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), pa.array(["src"])),
            pa.array([0] * n, pa.int32()),
            pa.array(range(n), pa.int64()),
            pa.array(ts, pa.int64()),
            pa.array([1] * n, pa.int8()),
            pa.array([r[0] for r in records], pa.binary()),
            pa.array([r[1] for r in records], pa.binary()),
            pa.array([r[2] for r in records], SCHEMA.field("headers").type),
        ],
        schema=SCHEMA,
    )


def _produce_all(
    producer: NativeProducer, topic: str, batch: pa.RecordBatch, partitions: list[int], batch_id: int, **kw: Any
) -> list[Any]:
    """produce() until every row was handled; the events seen."""
    events: list[Any] = []
    start, calls = 0, 0
    while start < batch.num_rows:
        start, _queued, _nbytes, evs = producer.produce(
            topic, batch, pa.array(partitions, pa.int32()), batch_id, start, kw.get("chunk", 1 << 30), 0.2
        )
        events.extend(evs)
        calls += 1
        assert calls < 10_000
    return events


def _delivered(producer: NativeProducer, batch_id: int, timeout: float = 30.0) -> tuple[list[int], list[Any]]:
    deadline = time.monotonic() + timeout
    while producer.outstanding() > 0 and time.monotonic() < deadline:
        producer.flush(1.0)
    offsets, failures = producer.take(batch_id)
    return offsets.to_pylist(), failures


TRICKY: list[Rec] = [
    (None, b"null key", None),
    (b"", b"", None),  # empty key, empty value
    (b"k", None, [("h", b"1"), ("h", None), ("h", b"\x00\xff"), ("a", b"")]),  # tombstone, duplicate/null headers
    (b"\x00\x01\xff", bytes(range(256)) * 4, [("bin", bytes(range(256)))]),
    (None, None, []),  # null key and value, an empty header list (Kafka has no such thing: no headers)
    (b"big", os.urandom(BIG), [("size", str(BIG).encode())]),
    (b"skipped", b"not produced", None),
    (b"\xc3\xa9t\xc3\xa9", "\u00e9t\u00e9 \u2603".encode(), [("\u00fcml\u00e4ut", b"x")]),
]


def test_tricky_records_round_trip_byte_exact_with_the_broker_offsets(kafka: KafkaEndpoint, topic_name: str) -> None:
    create_topic(kafka.bootstrap, topic_name, 2)
    producer = NativeProducer(_conf(kafka.bootstrap))
    partitions = [0, 1, 0, 1, 0, 1, -1, 0]
    batch = _batch(TRICKY)
    events = _produce_all(producer, topic_name, batch, partitions, 7)
    offsets, failures = _delivered(producer, 7)
    producer.close()
    assert failures == []
    assert not [e for e in events if e[0] == "error"], events
    assert offsets == [0, 0, 1, 1, 2, 2, -1, 3]
    got = read_topic(kafka.bootstrap, topic_name)
    expected = sorted(
        (
            (partitions[i], offsets[i], RECENT_TS + i, key, value, headers or None)
            for i, (key, value, headers) in enumerate(TRICKY)
            if partitions[i] >= 0
        ),
        key=lambda r: (r[0], r[1]),
    )
    assert [(r[1], r[2], r[3], r[5], r[6], r[7]) for r in got] == expected
    assert all(r[4] == 1 for r in got)  # CreateTime


def test_a_timestamp_of_zero_is_stamped_by_the_producer(kafka: KafkaEndpoint, topic_name: str) -> None:
    create_topic(kafka.bootstrap, topic_name, 1)
    producer = NativeProducer(_conf(kafka.bootstrap))
    before = int(time.time() * 1000)
    _produce_all(producer, topic_name, _batch([(b"a", b"1", None), (b"b", b"2", None)], [0, -1]), [0, 0], 1)
    offsets, failures = _delivered(producer, 1)
    producer.close()
    assert (offsets, failures) == ([0, 1], [])
    stamps = [r[3] for r in read_topic(kafka.bootstrap, topic_name)]
    assert all(before - 1000 <= t <= int(time.time() * 1000) + 1000 for t in stamps), (before, stamps)


def test_a_full_queue_delays_but_delivers_everything_in_order(kafka: KafkaEndpoint, topic_name: str) -> None:
    create_topic(kafka.bootstrap, topic_name, 1)
    producer = NativeProducer(_conf(kafka.bootstrap, **{"queue.buffering.max.messages": "7"}))
    n = 3000
    values = [f"value-{i:05d}".encode() for i in range(n)]
    batch = _batch([(None, v, None) for v in values])
    calls = 0
    start = 0
    while start < n:
        start, _q, _b, _evs = producer.produce(topic_name, batch, pa.array([0] * n, pa.int32()), 3, start, n, 0.01)
        calls += 1
    offsets, failures = _delivered(producer, 3)
    producer.close()
    assert failures == [] and offsets == list(range(n))
    assert [r[6] for r in read_topic(kafka.bootstrap, topic_name)] == values


def test_chunks_return_counts_and_bytes(kafka: KafkaEndpoint, topic_name: str) -> None:
    create_topic(kafka.bootstrap, topic_name, 1)
    producer = NativeProducer(_conf(kafka.bootstrap))
    batch = _batch([(b"kk", b"vvv", None), (None, b"v", None), (b"k", None, None), (b"", b"", None)])
    parts = pa.array([0, -1, 0, 0], pa.int32())
    assert producer.produce(topic_name, batch, parts, 9, 0, 2, 1.0)[:3] == (2, 1, 5)
    assert producer.produce(topic_name, batch, parts, 9, 2, 2, 1.0)[:3] == (4, 2, 1)
    assert producer.produce(topic_name, batch, parts, 9, 4, 2, 1.0)[:3] == (4, 0, 0)
    offsets, failures = _delivered(producer, 9)
    assert (offsets, failures) == ([0, -1, 1, 2], [])
    with pytest.raises(ValueError, match="no batch"):
        producer.take(9)  # taken once
    producer.close()
    producer.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        producer.produce(topic_name, batch, parts, 10, 0, 4, 1.0)


def test_a_record_over_the_client_limit_is_msg_size_too_large(kafka: KafkaEndpoint, topic_name: str) -> None:
    create_topic(kafka.bootstrap, topic_name, 1)
    producer = NativeProducer(_conf(kafka.bootstrap, **{"message.max.bytes": "10000"}))
    batch = _batch([(b"small", b"x", None), (b"big", b"y" * 20_000, None)])
    with pytest.raises(KafkaClientError) as info:
        producer.produce(topic_name, batch, pa.array([0, 0], pa.int32()), 1, 0, 2, 1.0)
    assert info.value.code == "MSG_SIZE_TOO_LARGE" and info.value.fatal is False
    producer.close()


def test_a_record_over_the_topic_limit_fails_its_delivery_typed(kafka: KafkaEndpoint, topic_name: str) -> None:
    create_topic(kafka.bootstrap, topic_name, 1, {"max.message.bytes": "2000"})
    producer = NativeProducer(_conf(kafka.bootstrap, **{"compression.type": "none"}))
    batch = _batch([(b"big", os.urandom(50_000), None)])
    _produce_all(producer, topic_name, batch, [0], 1)
    offsets, failures = _delivered(producer, 1)
    producer.close()
    assert offsets == [-1]
    assert [(row, code) for row, code, _text in failures] == [(0, "MSG_SIZE_TOO_LARGE")], failures


def test_an_unknown_partition_is_typed(kafka: KafkaEndpoint, topic_name: str) -> None:
    create_topic(kafka.bootstrap, topic_name, 1)
    producer = NativeProducer(_conf(kafka.bootstrap, **{"message.timeout.ms": "5000"}))
    batch = _batch([(b"a", b"1", None)])
    codes: list[str] = []
    try:
        _produce_all(producer, topic_name, batch, [5], 1)
        _offsets, failures = _delivered(producer, 1)
        codes = [code for _row, code, _text in failures]
    except KafkaClientError as exc:  # once the topic's metadata is known, librdkafka refuses it at once
        codes = [exc.code]
    producer.close()
    assert codes and codes[0] in {"_UNKNOWN_PARTITION", "UNKNOWN_TOPIC_OR_PART"}, codes


def test_undeliverable_records_time_out_typed_and_errors_are_events() -> None:
    producer = NativeProducer(
        _conf("127.0.0.1:1", **{"message.timeout.ms": "1500", "reconnect.backoff.max.ms": "200", "log_level": "0"})
    )
    _produce_all(producer, "nowhere", _batch([(b"a", b"1", None)]), [0], 1)
    events = list(producer.flush(5.0))
    events += producer.poll(0.5)
    offsets, failures = producer.take(1)
    producer.close()
    assert offsets.to_pylist() == [-1]
    assert [code for _row, code, _text in failures] == ["_MSG_TIMED_OUT"]
    errors = [e for e in events if e[0] == "error"]
    assert errors and errors[0][1] in {"_TRANSPORT", "_ALL_BROKERS_DOWN"}, events


def test_stats_and_logs_are_events(kafka: KafkaEndpoint) -> None:
    extra = {"statistics.interval.ms": "100", "log_level": "7", "debug": "broker"}
    producer = NativeProducer(_conf(kafka.bootstrap, **extra))
    deadline = time.monotonic() + 5
    events: list[Any] = []
    while time.monotonic() < deadline and not {"stats", "log"} <= {e[0] for e in events}:
        events += producer.poll(0.2)
    producer.close()
    assert {"stats", "log"} <= {e[0] for e in events}
    stats = next(e for e in events if e[0] == "stats")
    assert stats[1].startswith("{")


def test_the_gil_is_released_while_produce_waits_for_room_and_poll_waits() -> None:
    producer = NativeProducer(_conf("127.0.0.1:1", **{"queue.buffering.max.messages": "1", "log_level": "0"}))
    batch = _batch([(b"a", b"1", None), (b"b", b"2", None)])
    result: list[Any] = []
    waited, during = count_while(
        lambda: result.append(producer.produce("nowhere", batch, pa.array([0, 0], pa.int32()), 1, 0, 2, 1.0))
    )
    assert result[0][:3] == (1, 1, 2)  # the second record found no room within 1 s
    assert 0.9 < waited < 2.5 and during > 100_000, (waited, during)
    waited, during = count_while(lambda: producer.poll(1.0))
    assert 0.9 < waited < 2.5 and during > 100_000, (waited, during)
    producer.close()


def test_partitions_for_equals_the_python_partitioner() -> None:
    rng = random.Random(14)  # noqa: S311  # reproducible test data
    keys: list[bytes | None] = [None, b"", b"a", b"ab", b"abc", b"abcd", b"abcde"]
    keys += [None if rng.random() < 0.2 else rng.randbytes(rng.randrange(0, 40)) for _ in range(3000)]
    offsets = [rng.randrange(0, 1 << 40) for _ in keys]
    for n in (1, 2, 3, 7, 12, 100):
        for source_partition in (0, 5):
            expected = assign_partitions(keys, offsets, source_partition, n)
            got = partitions_for(pa.array(keys, pa.binary()), pa.array(offsets, pa.int64()), source_partition, n)
            assert got.type == pa.int32() and got.to_pylist() == expected, n
    large = partitions_for(pa.array(keys, pa.large_binary()), pa.array(offsets, pa.int64()), 1, 6)
    assert large.to_pylist() == assign_partitions(keys, offsets, 1, 6)
    with pytest.raises(ValueError, match="positive"):
        partitions_for(pa.array([b"a"]), pa.array([0], pa.int64()), 0, 0)
