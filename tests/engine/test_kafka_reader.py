"""The Kafka adapter's topic reader and topic deletion (kafka/reader.py, kafka/topics.py) against a real broker."""

from __future__ import annotations

import threading
import uuid

import pytest
from confluent_kafka.admin import AdminClient

from engine.restore_support import RECENT_TS, create_topic, produce_records
from kafka_backup.engine.config.kafka import KafkaConfig
from kafka_backup.engine.errors import KafkaOperationError
from kafka_backup.engine.kafka.admin import Cluster
from kafka_backup.engine.kafka.reader import ReadRecord, TopicReader
from kafka_backup.engine.kafka.topics import delete_topics, topics_with_prefix
from rig.kafka import KafkaEndpoint


def _reader(kafka: KafkaEndpoint, topic: str, stop: threading.Event | None = None) -> TopicReader:
    config = KafkaConfig(bootstrap_servers=kafka.bootstrap)
    group = f"reader-{uuid.uuid4().hex[:8]}"
    return TopicReader(config, topic, group_id=group, stop=stop or threading.Event(), idle_timeout_s=30)


class TestTopicReader:
    def test_reads_every_partition_in_offset_order(self, kafka: KafkaEndpoint) -> None:
        """Every record comes back as produced (null and empty distinct, headers as bytes, timestamps), per partition
        in offset order; an empty partition is listed; nothing is committed for the reader's group."""
        topic = f"reader-{uuid.uuid4().hex[:8]}"
        create_topic(kafka.bootstrap, topic, 3)
        produce_records(
            kafka.bootstrap,
            topic,
            [
                (0, (b"k0", b"v0", RECENT_TS, [("h", b"x"), ("h", None)])),
                (0, (None, b"", RECENT_TS + 1, None)),
                (1, (b"", None, RECENT_TS + 2, [("s", "text")])),
                (0, (b"k2", b"v2", RECENT_TS + 3, None)),
            ],
        )
        reader = _reader(kafka, topic)
        records = list(reader)
        assert reader.partitions == [0, 1, 2] and not reader.stopped
        assert [r for r in records if r.partition == 0] == [
            ReadRecord(0, b"k0", b"v0", [("h", b"x"), ("h", None)], RECENT_TS),
            ReadRecord(0, None, b"", None, RECENT_TS + 1),
            ReadRecord(0, b"k2", b"v2", None, RECENT_TS + 3),
        ]
        assert [r for r in records if r.partition == 1] == [ReadRecord(1, b"", None, [("s", b"text")], RECENT_TS + 2)]
        admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
        groups = admin.list_consumer_groups(request_timeout=10).result(timeout=10)
        assert not [g for g in groups.valid if g.group_id.startswith("reader-")]

    def test_a_set_stop_ends_the_read_early(self, kafka: KafkaEndpoint) -> None:
        topic = f"reader-{uuid.uuid4().hex[:8]}"
        create_topic(kafka.bootstrap, topic, 1)
        produce_records(kafka.bootstrap, topic, [(0, (b"k", b"v", RECENT_TS, None))])
        stop = threading.Event()
        stop.set()
        reader = _reader(kafka, topic, stop)
        assert list(reader) == [] and reader.stopped and reader.partitions == [0]

    def test_an_absent_topic_is_a_kafka_error(self, kafka: KafkaEndpoint) -> None:
        topic = f"reader-absent-{uuid.uuid4().hex[:8]}"
        with pytest.raises(KafkaOperationError, match=f"topic {topic} cannot be read back"):
            list(_reader(kafka, topic))


class TestDeleteTopics:
    def test_deletes_by_prefix_and_waits_until_gone(self, kafka: KafkaEndpoint) -> None:
        """Topics found by prefix are deleted and no longer listed once delete_topics returns; a name already gone
        counts as deleted; topics outside the prefix stay."""
        prefix = f"scratch-{uuid.uuid4().hex[:8]}."
        for name in ("a", "b"):
            create_topic(kafka.bootstrap, prefix + name, 1)
        other = prefix.rstrip(".") + "-other"
        create_topic(kafka.bootstrap, other, 1)
        cluster = Cluster(KafkaConfig(bootstrap_servers=kafka.bootstrap))
        found = topics_with_prefix(cluster, prefix)
        assert found == [prefix + "a", prefix + "b"]
        delete_topics(cluster, [*found, prefix + "never-created"])
        listed = cluster.topic_partitions()
        assert topics_with_prefix(cluster, prefix) == [] and other in listed
        delete_topics(cluster, [])  # nothing to do: no request
