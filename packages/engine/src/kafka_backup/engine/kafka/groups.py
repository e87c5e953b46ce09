"""Consumer-group admin on the target cluster: active members, and committing translated offsets.

What the offset reset (:mod:`kafka_backup.engine.restore.offsets`) needs from Kafka, with librdkafka's types kept
inside this package: groups and partitions cross as names and ``(topic, partition, offset)`` tuples. Every call goes
through the cluster's outage guard; setting the same offsets again is harmless, so a commit is retried like any
admin call. Partitions the broker refuses with a retriable error (the group coordinator not there yet or still
loading, as on a cluster whose ``__consumer_offsets`` is being created) are committed again for up to the
connection timeout before they count as failed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition

from kafka_backup.engine.kafka.admin import Cluster

COORDINATOR_NOT_READY = frozenset(
    {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE}
)
"""Per-partition refusals that pass once the group's coordinator is up (the broker's retriable coordinator errors;
librdkafka does not flag them retriable on an admin result)."""


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
    data: one ``"topic-partition: reason"`` per partition the broker refused (a retriable refusal only once retrying
    it for ``connect_timeout_s`` did not help); every partition when the request itself failed (after the outage
    guard gave up)."""
    deadline = time.monotonic() + cluster.timeout
    pending = list(offsets)
    delay = 0.1
    while True:
        retriable, failed = _alter_once(cluster, group, pending)
        if not retriable:
            return failed
        if time.monotonic() + delay > deadline:
            return failed + [reason for _, reason in retriable]
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
        pending = [entry for entry, _ in retriable]


def _alter_once(
    cluster: Cluster, group: str, offsets: Sequence[tuple[str, int, int]]
) -> tuple[list[tuple[tuple[str, int, int], str]], list[str]]:
    """One AlterConsumerGroupOffsets: the retriable refusals (entry, reason) and the other failures."""
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o) for t, p, o in offsets])]
    wanted = {(t, p): (t, p, o) for t, p, o in offsets}
    retriable: list[tuple[tuple[str, int, int], str]] = []
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
            if tp.error is None:
                continue
            reason = f"{tp.topic}-{tp.partition}: {tp.error.str()}"
            entry = wanted.get((tp.topic, tp.partition))
            if tp.error.code() in COORDINATOR_NOT_READY and entry is not None:
                retriable.append((entry, reason))
            else:
                failed.append(reason)
    except (KafkaException, TimeoutError) as exc:
        failed = [f"{t}-{p}: {exc}" for t, p, _ in offsets]
    return retriable, failed
