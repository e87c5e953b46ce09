"""The native consumer (kafka_backup.engine._native, packages/engine/rust) against a real broker: records come back
byte-exact (compared with what confluent-kafka reads from the same topic), in the segment schema, with the events,
rebalance handling, commits and GIL release its stub promises."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, cast

import pyarrow as pa
import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from engine.gil import count_while
from engine.restore_support import RECENT_TS, create_topic, produce_records
from kafka_backup.engine._native import KafkaClientError, NativeConsumer
from kafka_backup.engine.format.segment import SCHEMA
from rig.kafka import KafkaEndpoint

TP = tuple[str, int]
Row = tuple[int, int, int, bytes | None, bytes | None, list[tuple[str, bytes | None]] | None]
"""(offset, timestamp, timestamp_type, key, value, headers)."""


class Handler:
    """Records the rebalance calls; starts each partition at ``starts`` (default 0) and keeps ``paused`` paused."""

    def __init__(self, starts: dict[TP, int] | None = None, paused: list[TP] | None = None) -> None:
        self.starts = starts or {}
        self.paused = paused or []
        self.calls: list[tuple[str, list[TP]]] = []
        self.fail: BaseException | None = None

    def assigned(self, partitions: list[TP]) -> tuple[dict[TP, int], list[TP]]:
        self.calls.append(("assigned", partitions))
        if self.fail is not None:
            raise self.fail
        return {tp: self.starts.get(tp, 0) for tp in partitions}, [tp for tp in self.paused if tp in partitions]

    def revoked(self, partitions: list[TP]) -> None:
        self.calls.append(("revoked", partitions))

    def lost(self, partitions: list[TP]) -> None:
        self.calls.append(("lost", partitions))


def _conf(bootstrap: str, **extra: str) -> dict[str, str]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": f"native-{uuid.uuid4().hex[:8]}",
        "partition.assignment.strategy": "cooperative-sticky",
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "enable.partition.eof": "true",
        "log_level": "4",
        **extra,
    }


class Collected:
    """Everything consume() returned so far: rows per partition, events in order."""

    def __init__(self) -> None:
        self.rows: dict[TP, list[Row]] = {}
        self.events: list[tuple[Any, ...]] = []

    def take(self, records: dict[TP, pa.RecordBatch], events: list[Any]) -> None:
        for tp, batch in records.items():
            assert batch.schema.equals(SCHEMA), batch.schema
            self.rows.setdefault(tp, []).extend(_rows(batch))
        self.events.extend(events)

    def eofs(self) -> set[tuple[Any, ...]]:
        return {e for e in self.events if e[0] == "eof"}


def _rows(batch: pa.RecordBatch) -> list[Row]:
    cols = batch.to_pydict()
    return [
        (
            cols["offset"][i],
            cols["timestamp"][i],
            cols["timestamp_type"][i],
            cols["key"][i],
            cols["value"][i],
            None if cols["headers"][i] is None else [(h["key"], h["value"]) for h in cols["headers"][i]],
        )
        for i in range(batch.num_rows)
    ]


def _consume_until(
    consumer: NativeConsumer, done: Callable[[Collected], bool], timeout_s: float = 30, got: Collected | None = None
) -> Collected:
    got = got or Collected()
    deadline = time.monotonic() + timeout_s
    while not done(got):
        assert time.monotonic() < deadline, f"timed out; events so far: {got.events[-5:]}"
        got.take(*consumer.consume(1000, 0.25))
    return got


def _read_to_eof(bootstrap: str, topic: str) -> Collected:
    """Everything a new native consumer of ``topic`` returns until its first end-of-partition event."""
    consumer = NativeConsumer(_conf(bootstrap))
    consumer.subscribe([topic], Handler())
    try:
        return _consume_until(consumer, lambda g: bool(g.eofs()))
    finally:
        consumer.close()


def _reference(bootstrap: str, topic: str, partition: int) -> list[Row]:
    """What confluent-kafka reads from ``topic[partition]``, as rows."""
    consumer = Consumer({**_conf(bootstrap), "enable.partition.eof": True, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, 0)])
    rows: list[Row] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                break  # partition EOF
            ts_type, ts = msg.timestamp()
            key, value = msg.key(), msg.value()
            assert not isinstance(key, str) and not isinstance(value, str)
            headers = cast("list[tuple[str, bytes | None]] | None", msg.headers())  # a list for a consumed record
            rows.append((msg.offset() or 0, ts, ts_type, key, value, headers))
    finally:
        consumer.close()
    return rows


def test_records_round_trip_byte_exact_as_confluent_reads_them(kafka: KafkaEndpoint, topic_name: str) -> None:
    """Null and empty keys and values, tombstones, duplicate and null-valued headers, an empty header list, non-UTF-8
    bytes and a ~1 MB value come back exactly as confluent-kafka reads them, one batch in the segment schema."""
    create_topic(kafka.bootstrap, topic_name, 1)
    big = bytes(range(256)) * 3500  # 896,000 bytes, under the producer's message.max.bytes
    produce_records(
        kafka.bootstrap,
        topic_name,
        [
            (0, (None, None, RECENT_TS, None)),
            (0, (b"", b"", RECENT_TS + 1, None)),
            (0, (b"k", None, RECENT_TS + 2, None)),
            (0, (None, b"v", RECENT_TS + 3, [("h", b"1"), ("h", b"2"), ("n", None), ("h", b"")])),
            (0, (b"\x00\xff\xfe", b"\xc3\x28\x00", RECENT_TS + 4, [("bin", b"\xff\x00")])),
            (0, (b"e", b"e", RECENT_TS + 5, [])),
            (0, (b"big", big, RECENT_TS + 6, None)),
        ],
    )
    got = _read_to_eof(kafka.bootstrap, topic_name)
    expected = _reference(kafka.bootstrap, topic_name, 0)
    assert len(expected) == 7
    assert got.rows[(topic_name, 0)] == expected
    assert expected[0][3:] == (None, None, None) and expected[1][3:5] == (b"", b"")
    assert expected[3][5] == [("h", b"1"), ("h", b"2"), ("n", None), ("h", b"")]
    assert expected[5][5] is None  # librdkafka cannot tell an empty header list from none: both are null
    assert expected[6][4] == big and expected[0][1:3] == (RECENT_TS, 1)
    assert ("eof", topic_name, 0, 7) in got.events


@pytest.mark.parametrize("codec", ["zstd", "lz4", "snappy", "gzip"])
def test_every_compression_codec_is_read(kafka: KafkaEndpoint, topic_name: str, codec: str) -> None:
    """The broker stores the topic's batches in ``codec`` (topic-level compression.type: it recompresses what it is
    sent), so the consumer must decompress each of librdkafka's codecs (zstd and zlib are the system libraries):
    the records come back as confluent-kafka reads them."""
    create_topic(kafka.bootstrap, topic_name, 1, {"compression.type": codec})
    produce_records(
        kafka.bootstrap,
        topic_name,
        [(0, (f"k{i}".encode(), f"value {i} ".encode() * 30, RECENT_TS + i, [("h", b"x")])) for i in range(300)],
    )
    got = _read_to_eof(kafka.bootstrap, topic_name)
    expected = _reference(kafka.bootstrap, topic_name, 0)
    assert len(expected) == 300
    assert got.rows[(topic_name, 0)] == expected


def test_eof_events_carry_topic_and_next_offset(kafka: KafkaEndpoint, topic_name: str) -> None:
    """With two topics subscribed, each partition's EOF names its topic and the next offset to be written."""
    a, b = f"{topic_name}-a", f"{topic_name}-b"
    create_topic(kafka.bootstrap, a, 1)
    create_topic(kafka.bootstrap, b, 2)
    produce_records(kafka.bootstrap, a, [(0, (b"k", b"v", RECENT_TS, None))] * 2)
    produce_records(kafka.bootstrap, b, [(0, (b"k", b"v", RECENT_TS, None))] * 3 + [(1, (b"k", b"v", RECENT_TS, None))])
    handler = Handler()
    consumer = NativeConsumer(_conf(kafka.bootstrap))
    consumer.subscribe([a, b], handler)
    got = _consume_until(consumer, lambda g: len(g.eofs()) >= 3)
    assert got.eofs() == {("eof", a, 0, 2), ("eof", b, 0, 3), ("eof", b, 1, 1)}
    assert {tp: [r[0] for r in rows] for tp, rows in got.rows.items()} == {
        (a, 0): [0, 1],
        (b, 0): [0, 1, 2],
        (b, 1): [0],
    }
    assert sorted(consumer.assignment()) == [(a, 0), (b, 0), (b, 1)]
    assert consumer.high_watermark(b, 0) == 3
    assert consumer.high_watermark("no-such-topic", 0) is None
    consumer.close()
    assert handler.calls[0][0] == "assigned" and handler.calls[-1] == ("revoked", handler.calls[-1][1])
    assert sorted(handler.calls[-1][1]) == [(a, 0), (b, 0), (b, 1)]


def test_start_offsets_honoured_and_pause_resume(kafka: KafkaEndpoint, topic_name: str) -> None:
    """assigned()'s start offsets are where reading begins; a partition it keeps paused delivers nothing until
    resumed."""
    create_topic(kafka.bootstrap, topic_name, 2)
    produce_records(
        kafka.bootstrap, topic_name, [(p, (b"k", b"%d" % i, RECENT_TS, None)) for i in range(5) for p in (0, 1)]
    )
    p0, p1 = (topic_name, 0), (topic_name, 1)
    consumer = NativeConsumer(_conf(kafka.bootstrap))
    consumer.subscribe([topic_name], Handler(starts={p0: 3, p1: 1}, paused=[p1]))
    got = _consume_until(consumer, lambda g: bool(g.eofs()))
    time.sleep(1)
    got.take(*consumer.consume(1000, 0.5))
    assert [r[0] for r in got.rows[p0]] == [3, 4] and p1 not in got.rows
    assert got.eofs() == {("eof", topic_name, 0, 5)}
    consumer.resume([p1])
    got = _consume_until(consumer, lambda g: ("eof", topic_name, 1, 5) in g.events, got=got)
    assert [r[0] for r in got.rows[p1]] == [1, 2, 3, 4]
    consumer.pause([p0])
    consumer.seek(topic_name, 1, 0)
    got = _consume_until(consumer, lambda g: len(g.rows[p1]) >= 9, got=got)
    assert [r[0] for r in got.rows[p1]][4:] == [0, 1, 2, 3, 4]
    consumer.close()


def test_commits_reach_the_group(kafka: KafkaEndpoint, topic_name: str) -> None:
    """A synchronous commit is the group's committed offset at once; an asynchronous one reports a commit event."""
    create_topic(kafka.bootstrap, topic_name, 2)
    produce_records(kafka.bootstrap, topic_name, [(p, (b"k", b"v", RECENT_TS, None)) for p in (0, 1, 1)])
    conf = _conf(kafka.bootstrap)
    consumer = NativeConsumer(conf)
    consumer.subscribe([topic_name], Handler())
    _consume_until(consumer, lambda g: len(g.eofs()) >= 2)
    consumer.commit({(topic_name, 0): 1, (topic_name, 1): 2}, True)
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap, "log_level": 4})

    def committed() -> dict[int, int]:
        request = [ConsumerGroupTopicPartitions(conf["group.id"], [TopicPartition(topic_name, p) for p in (0, 1)])]
        result = admin.list_consumer_group_offsets(request)[conf["group.id"]].result(timeout=30)
        return {tp.partition: tp.offset for tp in result.topic_partitions}

    assert committed() == {0: 1, 1: 2}
    consumer.commit({(topic_name, 1): 1}, False)
    got = _consume_until(consumer, lambda g: any(e[0] == "commit" for e in g.events))
    assert [e for e in got.events if e[0] == "commit"] == [("commit", None, [])]
    assert committed() == {0: 1, 1: 1}
    consumer.close()


def test_a_synchronous_commit_is_bounded() -> None:
    """Without a group coordinator to answer, a synchronous commit raises after its timeout instead of waiting."""
    consumer = NativeConsumer(_conf("127.0.0.1:1"))
    consumer.subscribe(["anything"], Handler())
    started = time.monotonic()
    with pytest.raises(KafkaClientError) as raised:
        consumer.commit({("anything", 0): 1}, True, 0.5)
    assert time.monotonic() - started < 2.0
    assert raised.value.code == "_TIMED_OUT", raised.value


def test_stats_and_log_events(kafka: KafkaEndpoint) -> None:
    """statistics.interval.ms delivers ("stats", json) events; librdkafka's log lines come as ("log", ...) events."""
    consumer = NativeConsumer(
        _conf(kafka.bootstrap, **{"statistics.interval.ms": "100", "log_level": "7", "debug": "broker"})
    )
    consumer.subscribe([f"native-absent-{uuid.uuid4().hex[:8]}"], Handler())
    got = _consume_until(consumer, lambda g: sum(e[0] == "stats" for e in g.events) >= 2, timeout_s=15)
    stats = [e for e in got.events if e[0] == "stats"]
    assert '"type": "consumer"' in stats[0][1] or '"type":"consumer"' in stats[0][1]
    logs = [e for e in got.events if e[0] == "log"]
    assert logs and all(isinstance(e[1], int) and e[2] and e[3] for e in logs)
    consumer.close()


def test_unreachable_bootstrap_is_a_transport_error_event() -> None:
    consumer = NativeConsumer(_conf("127.0.0.1:1"))
    consumer.subscribe(["anything"], Handler())
    got = _consume_until(consumer, lambda g: any(e[0] == "error" for e in g.events), timeout_s=15)
    errors = [e for e in got.events if e[0] == "error"]
    assert errors[0][1] in {"_TRANSPORT", "_ALL_BROKERS_DOWN"} and errors[0][3] is False, errors
    assert isinstance(errors[0][2], str) and errors[0][2]


def test_the_gil_is_released_while_consume_waits(kafka: KafkaEndpoint) -> None:
    """A Python thread keeps running while consume(timeout_s=1) waits on an idle consumer."""
    consumer = NativeConsumer(_conf(kafka.bootstrap, log_level="0"))
    got: list[Any] = []
    waited, during = count_while(lambda: got.append(consumer.consume(100, 1.0)))
    records, events = got[0]
    assert records == {} and events == []
    assert 0.9 < waited < 2.5
    assert during > 100_000, during  # a held GIL would leave the thread a few switch intervals at most


def test_an_exception_in_assigned_resurfaces(kafka: KafkaEndpoint, topic_name: str) -> None:
    """assigned() raising: nothing is assigned and the next consume() raises that exception."""
    create_topic(kafka.bootstrap, topic_name, 1)
    handler = Handler()
    handler.fail = LookupError("no manifest")
    consumer = NativeConsumer(_conf(kafka.bootstrap))
    consumer.subscribe([topic_name], handler)
    deadline = time.monotonic() + 30
    with pytest.raises(LookupError, match="no manifest"):  # noqa: PT012  # consume until the rebalance came
        while time.monotonic() < deadline:
            consumer.consume(100, 0.25)
    assert consumer.assignment() == []
    assert handler.calls == [("assigned", [(topic_name, 0)])]


def test_errors_are_kafka_client_errors(kafka: KafkaEndpoint) -> None:
    """Refused configuration and failed calls raise KafkaClientError with librdkafka's code name."""
    with pytest.raises(KafkaClientError):
        NativeConsumer({"group.id": "g", "no.such.property": "1"})
    with pytest.raises(ValueError, match=r"group\.id"):
        NativeConsumer({"bootstrap.servers": kafka.bootstrap})
    consumer = NativeConsumer(_conf(kafka.bootstrap))
    with pytest.raises(KafkaClientError) as raised:
        consumer.seek("not-assigned", 0, 5)
    assert raised.value.code == "_UNKNOWN_PARTITION" and raised.value.fatal is False
    consumer.close()
    consumer.close()
