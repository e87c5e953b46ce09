"""The broker rig itself: a real java process running kafka.Kafka, talking the Kafka protocol."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from rig.kafka import ClusterSpec, KafkaCluster, KafkaEndpoint, RigError, require_tool


def _create_topic(kafka: KafkaEndpoint, name: str, partitions: int, config: dict[str, str] | None = None) -> None:
    admin = AdminClient(kafka.client_config())
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]
    )
    futures[name].result(timeout=30)


class TestBroker:
    def test_broker_is_a_java_kafka_process(self, kafka: KafkaEndpoint) -> None:
        """The fixture's broker is a java process whose main class is kafka.Kafka (skipped for external clusters)."""
        if not kafka.log_paths:
            pytest.skip("external cluster from KAFKA_BOOTSTRAP_SERVERS")
        argv = Path(f"/proc/{kafka.pids[0]}/cmdline").read_bytes().split(b"\0")
        assert Path(argv[0].decode()).name == "java"
        assert b"kafka.Kafka" in argv
        port = kafka.bootstrap.rsplit(":", 1)[1]
        config = kafka.log_paths[0].parent / "server.properties"
        assert f":{port}" in config.read_text()

    def test_create_and_describe_topic(self, kafka: KafkaEndpoint, topic_name: str) -> None:
        """AdminClient creates a topic with 3 partitions and a non-default config, and describes it back."""
        _create_topic(kafka, topic_name, 3, {"cleanup.policy": "compact"})
        admin = AdminClient(kafka.client_config())
        metadata = admin.list_topics(topic=topic_name, timeout=10)
        assert len(metadata.topics[topic_name].partitions) == 3
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
        configs = admin.describe_configs([resource])[resource].result(timeout=10)
        assert configs["cleanup.policy"].value == "compact"

    def test_ten_thousand_records_round_trip_byte_exact(self, kafka: KafkaEndpoint, topic_name: str) -> None:
        """10,000 records with keys, values and headers are read back byte-exact, in order per partition."""
        _create_topic(kafka, topic_name, 4)
        producer = Producer(kafka.client_config({"linger.ms": 5, "enable.idempotence": True}))
        sent: dict[bytes, tuple[bytes, list[tuple[str, str | bytes | None]]]] = {}
        for i in range(10_000):
            key = f"key-{i}".encode()
            value = bytes((i * 7 + j) % 256 for j in range(i % 200))  # includes empty and binary values
            headers: list[tuple[str, str | bytes | None]] = [
                ("seq", str(i).encode()),
                ("bin", bytes([i % 256, 0, 255])),
            ]
            if i % 10 == 0:
                headers.append(("seq", None))  # duplicate key with a null value
            sent[key] = (value, headers)
            producer.produce(topic_name, key=key, value=value, headers=headers)
            if i % 1000 == 0:
                producer.poll(0)
        assert producer.flush(30) == 0

        consumer = Consumer(kafka.client_config({"group.id": topic_name, "enable.auto.commit": False}))
        consumer.assign([TopicPartition(topic_name, p, 0) for p in range(4)])
        received: dict[bytes, tuple[bytes, list[tuple[str, str | bytes | None]]]] = {}
        while len(received) < len(sent):
            batch = consumer.consume(1000, timeout=10)
            assert batch, f"stalled after {len(received)} records"
            for msg in batch:
                assert msg.error() is None
                got = msg.key()
                assert isinstance(got, bytes)
                received[got] = (msg.value() or b"", list(msg.headers() or []))  # type: ignore[arg-type]
        consumer.close()
        assert received == sent


class TestRigErrors:
    def test_missing_tool_names_what_to_install(self) -> None:
        """A missing program yields an error that says what to install."""
        with pytest.raises(RigError, match=r"`no-such-java` is not installed: install OpenJDK"):
            require_tool("no-such-java", "install OpenJDK")

    def test_cluster_spec_lists_every_node_as_voter(self, tmp_path: object) -> None:
        """A 3-node spec gives every node the same voter list and its own ports (no start needed)."""
        cluster = KafkaCluster(ClusterSpec(nodes=3))
        props = [cluster._properties(node) for node in cluster.nodes]
        assert len({p["controller.quorum.voters"] for p in props}) == 1
        assert props[0]["controller.quorum.voters"].count("@") == 3
        assert len({p["listeners"] for p in props}) == 3
        assert props[0]["offsets.topic.replication.factor"] == "3"
