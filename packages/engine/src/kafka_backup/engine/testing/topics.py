"""Topics on a real broker for tests, benchmarks and the demo: create, fill with a data set, produce exact records,
count, delete. Admin calls fail loudly (a test must not run against a topic it did not get)."""

from __future__ import annotations

import random
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_backup.engine.testing.data import HEADERS, DataSet, key, value

Record = tuple[bytes | None, bytes | None, int, list[tuple[str, str | bytes | None]] | None]
"""(key, value, timestamp, headers) as produced."""

_QUIET = {"log_level": 4}
"""librdkafka warnings and errors only: a test's output is not the place for its debug lines."""


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, **_QUIET})


def create_topic(
    bootstrap: str, name: str, partitions: int, config: dict[str, str] | None = None, *, exist_ok: bool = False
) -> None:
    """Create ``name`` with replication factor 1; an existing topic is an error unless ``exist_ok``."""
    admin = _admin(bootstrap)  # kept referenced until the result: a destroyed client fails its futures
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]
    )
    try:
        futures[name].result(timeout=60)
    except KafkaException as exc:
        if not (exist_ok and "TOPIC_ALREADY_EXISTS" in str(exc)):
            raise


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    """Delete topics (ignoring missing ones), e.g. so the broker's disk does not fill up across benchmark rounds."""
    admin = _admin(bootstrap)
    existing = set(admin.list_topics(timeout=10).topics)
    doomed = [t for t in topics if t in existing]
    if not doomed:
        return
    for future in admin.delete_topics(doomed, operation_timeout=60).values():
        future.result(timeout=60)


def topic_records(bootstrap: str, topic: str) -> int | None:
    """Records in ``topic`` (end minus start offsets over its partitions), or None when it does not exist."""
    meta = _admin(bootstrap).list_topics(timeout=10).topics.get(topic)
    if meta is None or meta.error is not None:
        return None
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "kafka-backup-testing-probe", **_QUIET})
    try:
        total = 0
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def fill(bootstrap: str, data: DataSet) -> bool:
    """Create and fill the data set's topic unless it already holds exactly its records; True when it produced."""
    have = topic_records(bootstrap, data.topic)
    if have == data.records:
        return False
    if have is not None:
        delete_topics(bootstrap, [data.topic])
    create_topic(bootstrap, data.topic, data.partitions, exist_ok=True)
    produce(bootstrap, data)
    got = topic_records(bootstrap, data.topic)
    if got != data.records:
        raise RuntimeError(f"{data.topic}: produced {data.records} records but the topic holds {got}")
    return True


def produce(bootstrap: str, data: DataSet) -> None:
    """Produce the data set round-robin over its partitions (even partitions make scaling measurements fair);
    raises unless every record is acknowledged."""
    rng = random.Random(data.seed)  # noqa: S311 - sample data, not security
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.kbytes": 512 * 1024,
            **_QUIET,
        }
    )
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for i in range(data.records):
        record_value = value(rng, i, data.value_size)
        while True:
            try:
                producer.produce(
                    data.topic,
                    record_value,
                    key(rng),
                    partition=i % data.partitions,
                    headers=HEADERS,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120) > 0 or failures:
        raise RuntimeError(f"{data.topic}: producing failed: {failures[:3]}")


def produce_records(bootstrap: str, topic: str, records: Iterable[tuple[int, Record]]) -> None:
    """Produce (partition, record) pairs in order with an idempotent producer; raises unless all are acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5, **_QUIET})
    for partition, (k, v, ts, headers) in records:
        producer.produce(topic, key=k, value=v, timestamp=ts, headers=headers, partition=partition)
    left = producer.flush(30)
    if left:
        raise RuntimeError(f"{topic}: {left} records were not acknowledged within 30 s")
