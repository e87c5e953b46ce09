"""The data sets: JSON-like events of an exact value size, a key and two headers on every record.

Values look like ``tests/rig/datagen.py``'s events (ids, enums, amounts, a note of random words), so they compress
moderately (zstd at level 3 gets about 2-3x on them, not 100x as on zeros), but they are built to an exact byte size
and several times faster, because the bench produces millions of them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
TYPES = ["order_created", "order_paid", "order_shipped", "order_cancelled"]
HEADERS: list[tuple[str, str | bytes | None]] = [("source", b"bench-datagen"), ("schema", b"v1")]
"""Two headers on every record (the kcat peers add the same two with ``-H``)."""


@dataclass(frozen=True)
class DataSet:
    """One topic of the bench: name, partitions, records, value size."""

    topic: str
    partitions: int
    records: int
    value_size: int
    seed: int = 7

    @property
    def key_bytes(self) -> int:
        """Keys are ``customer-NNNNN``: always 14 bytes."""
        return 14

    @property
    def header_bytes(self) -> int:
        return sum(len(k) + len(v or b"") for k, v in HEADERS)

    @property
    def payload_bytes(self) -> int:
        """Key + value + header keys and values of the whole topic (what the backup calls uncompressed bytes)."""
        return self.records * (self.key_bytes + self.value_size + self.header_bytes)


def value(rng: random.Random, seq: int, size: int) -> bytes:
    """A JSON event of exactly ``size`` bytes (at least 64): fixed fields, then a note of random words as filler."""
    if size >= 256:
        head = (
            f'{{"event_id":"{rng.getrandbits(64):016x}","seq":{seq},"type":"{rng.choice(TYPES)}",'
            f'"customer":{{"id":{rng.randrange(100_000)},"tier":"{rng.choice(("gold", "silver", "bronze"))}"}},'
            f'"amount":{rng.uniform(1, 500):.2f},"currency":"{rng.choice(("EUR", "USD", "GBP"))}","note":"'
        )
    else:
        head = (
            f'{{"id":"{rng.getrandbits(48):012x}","seq":{seq},"t":{rng.randrange(4)},'
            f'"amt":{rng.uniform(1, 500):.2f},"n":"'
        )
    room = size - len(head) - 2
    if room < 0:
        raise ValueError(f"value size {size} is too small for the event fields")
    # words from a small vocabulary plus a random hex token every third word: about 3x with zstd, like real events
    words = rng.choices(WORDS, k=room // 5 + 2)  # words are at least 4 letters: always long enough
    words[::3] = [f"{rng.getrandbits(32):08x}" for _ in words[::3]]
    note = " ".join(words)[:room]
    return (head + note + '"}').encode()


def key(rng: random.Random) -> bytes:
    return f"customer-{rng.randrange(100_000):05d}".encode()


def values(data: DataSet, count: int) -> Iterator[bytes]:
    """``count`` values of the data set's size (for payload files of the producer peers)."""
    rng = random.Random(data.seed)  # noqa: S311 - sample data, not security
    for i in range(count):
        yield value(rng, i, data.value_size)


def topic_records(bootstrap: str, topic: str) -> int | None:
    """Records in ``topic`` (end minus start offsets over its partitions), or None when it does not exist."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
    meta = admin.list_topics(timeout=10).topics.get(topic)
    if meta is None or meta.error is not None:
        return None
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-probe", "enable.auto.commit": False})
    try:
        total = 0
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    try:
        futures[topic].result(timeout=60)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    """Delete topics (ignoring missing ones) so the broker's disk does not fill up across rounds."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
    existing = set(admin.list_topics(timeout=10).topics)
    doomed = [t for t in topics if t in existing]
    if not doomed:
        return
    for future in admin.delete_topics(doomed, operation_timeout=60).values():
        future.result(timeout=60)


def ensure(bootstrap: str, data: DataSet) -> bool:
    """Create and fill the data set's topic unless it already holds exactly its records; True when it produced."""
    have = topic_records(bootstrap, data.topic)
    if have == data.records:
        return False
    if have is not None:
        delete_topics(bootstrap, [data.topic])
    create_topic(bootstrap, data.topic, data.partitions)
    produce(bootstrap, data)
    got = topic_records(bootstrap, data.topic)
    if got != data.records:
        raise RuntimeError(f"{data.topic}: produced {data.records} records but the topic holds {got}")
    return True


def produce(bootstrap: str, data: DataSet) -> None:
    """Produce the data set round-robin over its partitions (even partitions make the scaling case fair)."""
    rng = random.Random(data.seed)  # noqa: S311 - sample data, not security
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.kbytes": 512 * 1024,
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
