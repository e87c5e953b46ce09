"""The sample data sets: JSON-like events of an exact value size, a key and two headers on every record.

Values look like order events (ids, enums, amounts, a note of words and random hex tokens), so they compress
moderately (zstd gets about 2-3x on them, not 100x as on zeros), and they are built to an exact byte size, fast
enough for the benchmarks' millions of records. The same seed gives the same records.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
TYPES = ["order_created", "order_paid", "order_shipped", "order_cancelled"]
HEADERS: list[tuple[str, str | bytes | None]] = [("source", b"bench-datagen"), ("schema", b"v1")]
"""Two headers on every record (the benchmarks' kcat peers add the same two with ``-H``)."""


@dataclass(frozen=True)
class DataSet:
    """One topic of sample data: name, partitions, records, value size, seed."""

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
