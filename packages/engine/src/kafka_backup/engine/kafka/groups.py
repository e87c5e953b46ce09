"""Consumer-group admin on the target cluster: active members, and committing translated offsets.

What the offset reset (:mod:`kafka_backup.engine.restore.offsets`) needs from Kafka, with librdkafka's types kept
inside this package: groups and partitions cross as names and ``(topic, partition, offset)`` tuples. Every call goes
through the cluster's outage guard; setting the same offsets again is harmless, so a commit is retried like any
admin call.
"""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from kafka_backup.engine.kafka.admin import Cluster


def active_members(cluster: Cluster, groups: list[str]) -> dict[str, int]:
    """Group → number of active members (DescribeConsumerGroups); typed errors (see :meth:`Cluster.call`)."""
    if not groups:
        return {}

    def describe() -> dict[str, int]:
        futures = cluster.admin.describe_consumer_groups(groups, request_timeout=cluster.timeout)
        return {g: len(f.result(timeout=cluster.timeout).members or []) for g, f in futures.items()}

    return cluster.call("describe_groups", describe)


def alter_group_offsets(cluster: Cluster, group: str, offsets: Sequence[tuple[str, int, int]]) -> list[str]:
    """Commit ``offsets`` (topic, partition, offset) for ``group`` (AlterConsumerGroupOffsets). Failures arrive as
    data: one ``"topic-partition: reason"`` per partition the broker refused; every partition when the request
    itself failed (after the outage guard gave up)."""
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o) for t, p, o in offsets])]
    failed: list[str] = []
    try:
        result = cluster.guard.call(
            "alter_group_offsets",
            lambda: cluster.admin.alter_consumer_group_offsets(request, request_timeout=cluster.timeout)[group].result(
                timeout=cluster.timeout
            ),
            before_retry=cluster.refresh_metadata,
        )
        for tp in result.topic_partitions or []:
            if tp.error is not None:
                failed.append(f"{tp.topic}-{tp.partition}: {tp.error.str()}")
    except (KafkaException, TimeoutError) as exc:
        failed = [f"{t}-{p}: {exc}" for t, p, _ in offsets]
    return failed
