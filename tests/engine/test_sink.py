"""The restore's Sink on the native producer against a real broker: offsets per batch, the typed size error with its
hint, the exact rate limit, statistics to ``stats_cb`` (the last one waited for at close) and librdkafka's log lines
to the ``logger``."""

from __future__ import annotations

import json
import logging
import os
import time

import pyarrow as pa
import pytest

from engine.test_native_producer import Rec, _batch
from kafka_backup.engine.config.kafka import KafkaConfig
from kafka_backup.engine.config.restore import RateLimit
from kafka_backup.engine.errors import KafkaOperationError
from kafka_backup.engine.kafka.sink import Sink
from rig.kafka import KafkaEndpoint
from rig.tricky import create_topic, read_topic


def _sink(kafka: KafkaEndpoint, **kw: object) -> Sink:
    return Sink(KafkaConfig(bootstrap_servers=kafka.bootstrap), client_id="test-sink", **kw)  # type: ignore[arg-type]


def test_flush_hands_back_the_offsets_of_every_batch(kafka: KafkaEndpoint, topic_name: str) -> None:
    create_topic(kafka.bootstrap, topic_name, 2)
    sink = _sink(kafka)
    first = sink.produce_batch(topic_name, _batch([(b"a", b"1", None)] * 3), pa.array([0, 1, 0], pa.int32()))
    second = sink.produce_batch(topic_name, _batch([(b"b", b"2", None)] * 2), pa.array([-1, 1], pa.int32()))
    acked = sink.flush()
    sink.close()
    assert {k: v.to_pylist() for k, v in acked.items()} == {first: [0, 0, 1], second: [-1, 1]}
    assert len(read_topic(kafka.bootstrap, topic_name)) == 4


def test_a_record_the_topic_refuses_is_a_typed_error_with_a_hint(kafka: KafkaEndpoint, topic_name: str) -> None:
    create_topic(kafka.bootstrap, topic_name, 1, {"max.message.bytes": "2000"})
    sink = _sink(kafka, extra={"compression.type": "none"})
    sink.produce_batch(topic_name, _batch([(b"big", os.urandom(50_000), None)]), pa.array([0], pa.int32()))
    with pytest.raises(KafkaOperationError, match="larger than the target topic") as info:
        sink.flush()
    sink.close()
    assert "max.message.bytes" in (info.value.hint or "")


def test_the_rate_limit_is_kept(kafka: KafkaEndpoint, topic_name: str) -> None:
    create_topic(kafka.bootstrap, topic_name, 1)
    sink = _sink(kafka, rate=RateLimit(records_per_sec=400))
    started = time.monotonic()
    sink.produce_batch(topic_name, _batch([(None, b"x" * 10, None)] * 800), pa.array([0] * 800, pa.int32()))
    acked = sink.flush()
    took = time.monotonic() - started
    sink.close()
    assert 1.7 < took < 4.0, took  # 800 records at 400/s: 2 s (the last chunk's wait is not needed)
    assert next(iter(acked.values())).to_pylist() == list(range(800))


def test_statistics_and_log_lines_reach_their_callbacks(kafka: KafkaEndpoint, topic_name: str) -> None:
    create_topic(kafka.bootstrap, topic_name, 1)
    stats: list[str] = []
    lines: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record)

    logger = logging.getLogger("test-sink-kafka")
    logger.addHandler(Keep())
    logger.setLevel(logging.DEBUG)
    extra = {"stats_cb": stats.append, "statistics.interval.ms": 300, "logger": logger, "debug": "msg", "log_level": 7}
    sink = _sink(kafka, extra=extra)
    sink.produce_batch(topic_name, _batch([(b"k", b"v", None)]), pa.array([0], pa.int32()))
    sink.flush()
    sink.close(final_stats=True)
    assert stats and json.loads(stats[-1])["txmsgs"] == 1  # the last report, waited for by close, counts it
    assert lines and all("[test-sink]" in r.getMessage() for r in lines)


@pytest.mark.parametrize("codec", ["zstd", "lz4", "snappy", "gzip", "none"])
def test_every_compression_codec_is_written(kafka: KafkaEndpoint, topic_name: str, codec: str) -> None:
    """``client_config`` may choose any of librdkafka's codecs (zstd and zlib are the system libraries): the broker
    accepts the batches and the records read back are the ones sent."""
    create_topic(kafka.bootstrap, topic_name, 1)
    rows: list[Rec] = [(f"k{i}".encode(), f"value {i} ".encode() * 30, None) for i in range(300)]
    sink = _sink(kafka, extra={"compression.type": codec})
    batch_id = sink.produce_batch(topic_name, _batch(rows), pa.array([0] * 300, pa.int32()))
    acked = sink.flush()
    sink.close()
    assert acked[batch_id].to_pylist() == list(range(300))
    assert [(r[5], r[6]) for r in read_topic(kafka.bootstrap, topic_name)] == [(k, v) for k, v, _ in rows]
