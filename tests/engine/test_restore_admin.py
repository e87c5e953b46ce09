"""The Kafka admin operations the restore and the offset reset use (kafka/admin.py's restore block, kafka/groups.py),
against the real broker: plain values in and out, typed errors."""

from __future__ import annotations

import uuid

import pytest

from engine.restore_support import numbered_topic
from kafka_backup.engine.config.kafka import KafkaConfig
from kafka_backup.engine.errors import KafkaOperationError
from kafka_backup.engine.kafka.admin import Cluster, NewTopicSpec
from kafka_backup.engine.kafka.groups import active_members, alter_group_offsets
from rig.kafka import KafkaEndpoint


def _cluster(kafka: KafkaEndpoint) -> Cluster:
    return Cluster(KafkaConfig(bootstrap_servers=kafka.bootstrap))


class TestTopics:
    def test_create_twice_counts_an_existing_topic_as_created(self, kafka: KafkaEndpoint) -> None:
        """A retried CreateTopics finds the topic its first attempt made: no error, the same names, leaders ready."""
        cluster = _cluster(kafka)
        name = f"admin-create-{uuid.uuid4().hex[:6]}"
        spec = NewTopicSpec(name, 3, 1, {"retention.ms": "86400000"})
        assert cluster.create_topics([spec]) == [name]
        assert cluster.create_topics([spec]) == [name]
        cluster.wait_for_leaders({name: 3}, timeout_s=30)
        assert cluster.topic_partitions()[name] == 3
        assert cluster.describe_topics([name])[name].configs["retention.ms"] == "86400000"

    def test_waiting_for_a_missing_topic_ends_typed(self, kafka: KafkaEndpoint) -> None:
        """A topic that never gets leaders ends the wait with KAFKA_ERROR naming it, after the timeout."""
        name = f"admin-absent-{uuid.uuid4().hex[:6]}"
        with pytest.raises(KafkaOperationError, match=f"created topics \\['{name}'\\] have no leaders after 0.5 s"):
            _cluster(kafka).wait_for_leaders({name: 1}, timeout_s=0.5)


class TestWatermarks:
    def test_low_and_high_per_partition(self, kafka: KafkaEndpoint) -> None:
        """Low and high offsets of each partition, keyed by (topic, partition)."""
        topic = numbered_topic(kafka.bootstrap, "admin-marks", records=7, partitions=2)
        cluster = _cluster(kafka)
        tps = [(topic, 0), (topic, 1)]
        assert cluster.watermarks(tps, "low") == {(topic, 0): 0, (topic, 1): 0}
        assert cluster.watermarks(tps, "high") == {(topic, 0): 4, (topic, 1): 3}
        assert cluster.watermarks([], "high") == {}


class TestGroups:
    def test_alter_offsets_of_an_idle_group(self, kafka: KafkaEndpoint) -> None:
        """An idle group has no active members; its offsets are set and read back as committed."""
        topic = numbered_topic(kafka.bootstrap, "admin-group", records=10, partitions=2)
        group = f"admin-group-{uuid.uuid4().hex[:6]}"
        cluster = _cluster(kafka)
        assert alter_group_offsets(cluster, group, [(topic, 0, 3), (topic, 1, 5)]) == []
        assert active_members(cluster, [group]) == {group: 0}  # exists now; an unknown group is a describe error
        assert cluster.group_offsets([topic], [group], []) == {group: {topic: {"0": 3, "1": 5}}}

    def test_refused_partitions_come_back_as_data(self, kafka: KafkaEndpoint) -> None:
        """A partition the broker refuses is reported as ``topic-partition: reason``, not raised."""
        group = f"admin-group-{uuid.uuid4().hex[:6]}"
        absent = f"admin-absent-{uuid.uuid4().hex[:6]}"
        failed = alter_group_offsets(_cluster(kafka), group, [(absent, 0, 1)])
        assert len(failed) == 1 and failed[0].startswith(f"{absent}-0: ")
