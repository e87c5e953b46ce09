"""Reading a whole topic back, from its first offset to its end, with a plain consumer that commits nothing.

For checks that compare what a topic serves with what it should hold (the restore drill reads its scratch topics
back). Partitions are assigned, not subscribed (no rebalance), from offset 0 (the log start when it begins later);
the group id only names the client to the broker: ``enable.auto.commit`` is off and nothing is ever committed.

Invariants: a partition's records come in offset order; the read ends once every partition has reported its end
with no record after it; a topic that serves nothing new for ``idle_timeout_s`` fails the read (KAFKA_ERROR) instead
of hanging; librdkafka failures become the engine's typed errors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from kafka_backup.engine.config.kafka import KafkaConfig
from kafka_backup.engine.errors import KafkaOperationError
from kafka_backup.engine.kafka.admin import client_config_error, translate

_BATCH = 1000
_POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """One record as the topic serves it (strings the client hands back are bytes again)."""

    partition: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] | None
    timestamp: int


class TopicReader:
    """Iterating yields every record of ``topic``; afterwards :attr:`partitions` lists the topic's partitions and
    :attr:`stopped` says whether ``stop`` ended the read early. One iteration per reader.

    ``what`` names the topic in errors (``"scratch topic"``: "reading scratch topic t back failed: ...")."""

    def __init__(
        self,
        config: KafkaConfig,
        topic: str,
        *,
        group_id: str,
        stop: threading.Event,
        idle_timeout_s: float,
        extra: Mapping[str, Any] | None = None,
        isolation: Literal["read_committed", "read_uncommitted"] = "read_committed",
        what: str = "topic",
    ) -> None:
        self.config = config
        self.topic = topic
        self.stop = stop
        self.idle_timeout_s = idle_timeout_s
        self.what = what
        self.conf: dict[str, Any] = {
            **config.librdkafka(),
            **(extra or {}),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": isolation,
            "auto.offset.reset": "earliest",
        }
        self.partitions: list[int] = []
        self.stopped = False

    def __iter__(self) -> Iterator[ReadRecord]:
        try:
            consumer = Consumer(self.conf)
        except KafkaException as exc:
            raise client_config_error(exc) from None
        try:
            yield from self._read(consumer)
        except KafkaException as exc:
            action = f"read {self.what} {self.topic}"
            raise translate(exc, None, action, self.config.bootstrap_servers) from None
        finally:
            consumer.close()

    def _read(self, consumer: Consumer) -> Iterator[ReadRecord]:
        topic, what = self.topic, self.what
        metadata = consumer.list_topics(topic, timeout=self.config.connect_timeout_s)
        meta = metadata.topics.get(topic)
        if meta is None or meta.error is not None:
            raise KafkaOperationError(f"{what} {topic} cannot be read back: {meta.error if meta else 'absent'}")
        self.partitions = sorted(meta.partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in self.partitions])
        at_end: set[int] = set()
        last_progress = time.monotonic()
        while len(at_end) < len(self.partitions):
            if self.stop.is_set():
                self.stopped = True
                return
            if time.monotonic() - last_progress > self.idle_timeout_s:
                raise KafkaOperationError(
                    f"reading {what} {topic} back made no progress for {self.idle_timeout_s:.0f} s "
                    f"({len(at_end)}/{len(self.partitions)} partitions at their end)"
                )
            for msg in consumer.consume(_BATCH, timeout=_POLL_S):
                err = msg.error()
                partition = msg.partition()
                if err is not None and err.code() == KafkaError._PARTITION_EOF and partition is not None:
                    at_end.add(partition)
                    last_progress = time.monotonic()
                    continue
                if err is not None:
                    raise KafkaOperationError(f"reading {what} {topic} back failed: {err.str()}")
                assert partition is not None
                last_progress = time.monotonic()
                at_end.discard(partition)
                yield _record(msg, partition)


def _record(msg: Message, partition: int) -> ReadRecord:
    raw = msg.headers()
    pairs = list(raw.items()) if isinstance(raw, dict) else raw
    headers = None if pairs is None else [(k, _bytes(v)) for k, v in pairs]
    _, ts = msg.timestamp()
    return ReadRecord(partition, _bytes(msg.key()), _bytes(msg.value()), headers, ts)


def _bytes(data: str | bytes | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data
