"""Preparing the target before anything of the restore is written: ``existing_data`` applied to target partitions
that already hold records (refuse, append after them, or delete them with delete-records), then missing topics
created and waited for until every partition has a leader.

Only a new restore applies ``existing_data``: the records a resumed restore finds are its own.
"""

from __future__ import annotations

import structlog

from kafka_backup.engine.errors import KafkaOperationError, RestoreTargetNotEmptyError
from kafka_backup.engine.kafka.admin import Cluster, NewTopicSpec
from kafka_backup.engine.restore.plan import RestorePlan, describe_occupancy
from kafka_backup.engine.restore.planner import target_occupancy
from kafka_backup.engine.restore.progress import RestoreSummary

log = structlog.get_logger(__name__)

LEADERS_TIMEOUT_S = 30.0
"""How long created topics may take to have a leader for every partition."""


def apply_existing_data(cluster: Cluster, plan: RestorePlan, policy: str, summary: RestoreSummary) -> None:
    """Apply ``existing_data`` (``policy``) to target partitions that already hold records, before anything is
    written; records what it found and deleted in ``summary``."""
    occupied = target_occupancy(cluster, plan)
    if not occupied:
        return
    what = describe_occupancy(occupied)
    summary.existing_records = sum(o.records for o in occupied)
    if policy == "refuse":
        raise RestoreTargetNotEmptyError(
            f"the target already holds records: {what}; nothing was written",
            hint="choose --existing-data append (after them; a resumed run may duplicate records there) or "
            "--existing-data truncate (delete them first), or restore into another topic with --topic-map",
        )
    if policy == "append":
        log.warning(
            "restore_appending_to_existing_records",
            restore_id=summary.restore_id,
            partitions=len(occupied),
            records=summary.existing_records,
        )
        return
    try:
        lows = cluster.delete_records({(o.topic, o.partition): o.high for o in occupied})
    except KafkaOperationError as exc:
        # typically a compacted topic: Kafka deletes records only under cleanup.policy=delete
        raise KafkaOperationError(
            f"{exc.message} (the target holds: {what}; nothing was written)",
            hint="--existing-data append writes after them; or delete and recreate the topic",
        ) from None
    left = [o for o in occupied if lows[(o.topic, o.partition)] < o.high]
    if left:
        raise KafkaOperationError(f"delete-records left records below the end of {describe_occupancy(left)}")
    summary.truncated_records = summary.existing_records
    log.info(
        "target_truncated",
        restore_id=summary.restore_id,
        partitions=len(occupied),
        records=summary.truncated_records,
    )


def create_topics(cluster: Cluster, plan: RestorePlan, summary: RestoreSummary) -> None:
    """Create the plan's topics that do not exist (yet: a rerun finds those an earlier run created) and wait for
    their leaders; the names go into ``summary.topics_created``."""
    to_create = [t for t in plan.topics if t.create]
    if not to_create:
        return
    existing = cluster.topic_partitions()
    missing = [t for t in to_create if t.target_topic not in existing]
    if not missing:
        return
    specs = [NewTopicSpec(t.target_topic, t.partitions, t.replication_factor, t.configs) for t in missing]
    for name in cluster.create_topics(specs):
        summary.topics_created.append(name)
        log.info("topic_created", restore_id=summary.restore_id, topic=name)
    cluster.wait_for_leaders({t.target_topic: t.partitions for t in missing}, LEADERS_TIMEOUT_S)


__all__ = ["LEADERS_TIMEOUT_S", "apply_existing_data", "create_topics"]
