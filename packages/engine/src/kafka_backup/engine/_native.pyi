"""Types of the native extension (packages/engine/rust): the backup's consumer loop, records into Arrow batches, and
the restore's producer, records out of them."""

from typing import Protocol

import pyarrow as pa

TP = tuple[str, int]

Event = (
    tuple[str, str, int, int]  # ("eof", topic, partition, next_offset)
    | tuple[str, str, int]  # ("out_of_range", topic, partition)
    | tuple[str, str, str, bool]  # ("error", code_name, message, is_fatal)
    | tuple[str, str | None, list[tuple[str, int, str]]]  # ("commit", code_name_or_None, failed partitions)
    | tuple[str, str]  # ("stats", json)
    | tuple[str, int, str, str]  # ("log", level, facility, message)
)

class RebalanceHandler(Protocol):
    def assigned(self, partitions: list[TP], /) -> tuple[dict[TP, int], list[TP]]: ...
    def revoked(self, partitions: list[TP], /) -> None: ...
    def lost(self, partitions: list[TP], /) -> None: ...

class KafkaClientError(Exception):
    """An error of librdkafka: ``code`` is its rd_kafka_err2name, ``fatal`` whether the client is unusable."""

    code: str
    fatal: bool

class NativeConsumer:
    """A group consumer (librdkafka) whose consume() returns Arrow batches per partition in the segment schema."""

    def __init__(self, conf: dict[str, str]) -> None: ...
    def subscribe(self, topics: list[str], handler: RebalanceHandler) -> None: ...
    def consume(self, max_records: int, timeout_s: float) -> tuple[dict[TP, pa.RecordBatch], list[Event]]: ...
    def seek(self, topic: str, partition: int, offset: int) -> None: ...
    def pause(self, partitions: list[TP]) -> None: ...
    def resume(self, partitions: list[TP]) -> None: ...
    def assignment(self) -> list[TP]: ...
    def commit(self, offsets: dict[TP, int], synchronous: bool, timeout_s: float = 30.0) -> None: ...
    def high_watermark(self, topic: str, partition: int) -> int | None: ...
    def close(self) -> None: ...

class NativeProducer:
    """A producer (librdkafka) that queues records straight from Arrow batches in the segment schema; delivery
    reports are kept per batch (see ``take``); errors, statistics and log lines come back as events."""

    def __init__(self, conf: dict[str, str]) -> None: ...
    def produce(
        self,
        topic: str,
        records: pa.RecordBatch,
        partitions: pa.Array,
        batch_id: int,
        start: int,
        max_records: int,
        room_timeout_s: float,
    ) -> tuple[int, int, int, list[Event]]:
        """Queue rows ``start:start+max_records`` (partition -1: skip); (next row, queued, key+value bytes, events)."""
    def poll(self, timeout_s: float) -> list[Event]: ...
    def flush(self, timeout_s: float) -> list[Event]: ...
    def outstanding(self) -> int: ...
    def reported(self) -> int: ...
    def take(self, batch_id: int) -> tuple[pa.Int64Array, list[tuple[int, str, str]]]:
        """Target offset per row of a fully reported batch (-1: skipped or failed), and its (row, code, message)."""
    def close(self) -> None: ...

def partitions_for(keys: pa.Array, offsets: pa.Array, source_partition: int, num_partitions: int) -> pa.Int32Array:
    """kafka.partitioner.assign_partitions on Arrow arrays: Java murmur2 for keys, the stateless spread for nulls."""

def tune_allocator(mmap_threshold: int, trim_threshold: int) -> bool:
    """glibc's mallopt(M_MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD); false where the C library is not glibc."""
