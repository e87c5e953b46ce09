"""Repartitioning puts every key where the Java default partitioner would: vectors, Java itself, and the broker."""

from __future__ import annotations

import random
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer

from engine.restore_support import (
    RECENT_TS,
    create_topic,
    make_backup,
    make_restore,
    produce_records,
    read_topic,
)
from kafka_backup.engine.kafka.partitioner import assign_partitions, murmur2, partition_for_key
from kafka_backup.engine.testing import Record
from rig.kafka import KafkaEndpoint, kafka_lib_dir

# Utils.murmur2 results from Apache Kafka's own tests (UtilsTest) and the Akka port that checks against it.
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
    b"1": -1993445489,
    b"12": 126087238,
    b"123": -267702483,
    b"1234": -1614185708,
    b"12345": -1188365604,
}

JAVA_PROGRAM = """
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import java.util.HexFormat;

public class Placement {
    public static void main(String[] args) {
        int partitions = Integer.parseInt(args[0]);
        for (int i = 1; i < args.length; i++) {
            byte[] key = HexFormat.of().parseHex(args[i]);
            System.out.println(BuiltInPartitioner.partitionForKey(key, partitions));
        }
    }
}
"""


def _keys(n: int, seed: int = 11) -> list[bytes]:
    rng = random.Random(seed)  # noqa: S311 - test keys, not security
    keys = [b"", b"\x00", b"\xff\xff\xff", "ключ-ü".encode()]
    keys += [rng.randbytes(rng.randrange(1, 40)) for _ in range(n)]
    return keys


class TestMurmur2:
    @pytest.mark.parametrize(("key", "expected"), sorted(JAVA_VECTORS.items()))
    def test_matches_java_vectors(self, key: bytes, expected: int) -> None:
        """murmur2 equals Java's Utils.murmur2 on Kafka's published vectors."""
        assert murmur2(key) == expected

    def test_matches_the_java_partitioner_itself(self, tmp_path: Path) -> None:
        """For random binary keys, placement equals BuiltInPartitioner.partitionForKey run on a JVM."""
        java = shutil.which("java")
        if java is None:
            pytest.skip("no java on PATH")
        source = tmp_path / "Placement.java"
        source.write_text(JAVA_PROGRAM)
        keys = _keys(300)
        cmd = [java, "-cp", f"{kafka_lib_dir()}/*", str(source), "7", *(k.hex() for k in keys)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout.split()
        assert [int(x) for x in out] == [partition_for_key(k, 7) for k in keys]

    def test_null_keys_spread_evenly_and_deterministically(self) -> None:
        """Null keys go to (source partition + offset) mod n: even, and the same on every run."""
        placed = assign_partitions([None] * 700, list(range(700)), 3, 7)
        assert all(placed.count(p) == 100 for p in range(7))
        assert placed == assign_partitions([None] * 700, list(range(700)), 3, 7)


class TestRepartitionOnBroker:
    def test_keys_land_where_librdkafka_murmur2_random_puts_them(self, kafka: KafkaEndpoint, tmp_path: Path) -> None:
        """Restore 3 → 7 partitions; every key lands where a Java-compatible producer sends it on the broker."""
        topic = f"repart-{uuid.uuid4().hex[:6]}"
        create_topic(kafka.bootstrap, topic, 3)
        keys = [f"user-{i}".encode() for i in range(300)]
        records: list[tuple[int, Record]] = [(i % 3, (k, b"v" + k, RECENT_TS + i, None)) for i, k in enumerate(keys)]
        records += [(i % 3, (None, f"nokey-{i}".encode(), RECENT_TS, None)) for i in range(210)]
        produce_records(kafka.bootstrap, topic, records)
        make_backup(kafka.bootstrap, tmp_path, "repart", [topic])
        target = f"{topic}-7"
        make_restore(
            kafka.bootstrap,
            tmp_path,
            "repart",
            topic_map={topic: target},
            repartition=True,
            create_topics={"partitions": {target: 7}},
        )
        restored = read_topic(kafka.bootstrap, target)
        assert len(restored) == 510
        placed = {r[5]: r[1] for r in restored if r[5] is not None}

        reference = f"{topic}-ref"
        create_topic(kafka.bootstrap, reference, 7)
        producer = Producer({"bootstrap.servers": kafka.bootstrap, "partitioner": "murmur2_random"})
        for k in keys:
            producer.produce(reference, key=k, value=b"x")
        assert producer.flush(30) == 0
        expected = {r[5]: r[1] for r in read_topic(kafka.bootstrap, reference)}
        assert placed == expected
        nulls = [r[1] for r in restored if r[5] is None]
        counts = [nulls.count(p) for p in range(7)]
        assert max(counts) - min(counts) <= 3, counts
