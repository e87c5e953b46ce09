"""Finding topics by name prefix, and deleting topics until the cluster no longer lists them.

Used for the drill's scratch topics. Deletion is one DeleteTopics request, not retried through the outage guard (a
clean-up should not ride out a long outage; the caller reports what is left instead); a topic already gone counts
as deleted. Failures are the engine's typed errors (KAFKA_*).
"""

from __future__ import annotations

import time
from collections.abc import Collection

from confluent_kafka import KafkaException

from kafka_backup.engine.errors import KafkaOperationError
from kafka_backup.engine.kafka.admin import Cluster, translate

_WAIT_STEP_S = 0.2


def topics_with_prefix(cluster: Cluster, prefix: str) -> list[str]:
    """The cluster's topics whose names start with ``prefix``, sorted."""
    return sorted(t for t in cluster.topic_partitions() if t.startswith(prefix))


def delete_topics(
    cluster: Cluster, topics: Collection[str], *, gone_within_s: float = 30.0, what: str = "topics"
) -> None:
    """Delete ``topics`` and wait until the cluster lists none of them; KAFKA_ERROR when one is still listed
    ``gone_within_s`` after the request (``what`` names them in that message)."""
    names = sorted(topics)
    if not names:
        return
    try:
        futures = cluster.admin.delete_topics(names, request_timeout=cluster.timeout)
        for future in futures.values():
            try:
                future.result(timeout=cluster.timeout)
            except KafkaException as exc:
                if "UNKNOWN_TOPIC" not in str(exc):
                    raise
    except KafkaException as exc:
        raise translate(exc, None, f"delete {what}", cluster.config.bootstrap_servers) from None
    deadline = time.monotonic() + gone_within_s
    while set(names) & set(cluster.topic_partitions()):
        if time.monotonic() > deadline:
            raise KafkaOperationError(f"{what} {names} still exist {gone_within_s:.0f} s after deletion")
        time.sleep(_WAIT_STEP_S)
