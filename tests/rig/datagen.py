"""Sample data for the demo and the benchmarks: JSON-like events with keys and headers, moderately compressible."""

from __future__ import annotations

import json
import random

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def event(rng: random.Random, i: int, size: int) -> bytes:
    """One JSON event of about ``size`` bytes, with realistic field repetition and random ids."""
    body: dict[str, object] = {
        "event_id": f"{rng.getrandbits(64):016x}",
        "seq": i,
        "type": rng.choice(["order_created", "order_paid", "order_shipped", "order_cancelled"]),
        "customer": {"id": rng.randrange(100_000), "tier": rng.choice(["gold", "silver", "bronze"])},
        "amount": round(rng.uniform(1, 500), 2),
        "currency": rng.choice(["EUR", "USD", "GBP"]),
    }
    raw = json.dumps(body, separators=(",", ":"))
    filler = max(0, size - len(raw) - 12)
    words = " ".join(rng.choice(["alpha", "bravo", "charlie", "delta", "echo", "fox"]) for _ in range(filler // 5 + 1))
    body["note"] = words[:filler]
    return json.dumps(body, separators=(",", ":")).encode()


def ensure_topic(bootstrap: str, topic: str, partitions: int, config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic in admin.list_topics(timeout=10).topics:
        return
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})]
    )
    futures[topic].result(timeout=30)


def produce(bootstrap: str, topic: str, count: int, value_size: int = 1024, seed: int = 7) -> int:
    """Produce ``count`` keyed records with two headers each; returns the number acknowledged."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not security
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000, "compression.type": "lz4"}
    )
    acked = 0

    def on_delivery(err: object, _msg: object) -> None:
        nonlocal acked
        if err is None:
            acked += 1

    for i in range(count):
        while True:
            try:
                producer.produce(
                    topic,
                    key=f"customer-{rng.randrange(10_000)}".encode(),
                    value=event(rng, i, value_size),
                    headers=[("source", b"datagen"), ("schema", b"v1")],
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.05)
        if i % 5000 == 0:
            producer.poll(0)
    producer.flush(60)
    return acked
