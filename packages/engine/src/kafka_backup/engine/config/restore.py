"""The restore configuration (``restore.yaml``), validated like the backup configuration.

Same rules as :mod:`kafka_backup.engine.config.base`: unknown keys are errors with a suggestion, ``${ENV}`` is
expanded, secrets are ``SecretStr``. Command-line flags override the common keys (see ``kafka-backup restore --help``).

Decisions a user should know about:

- Time bounds are inclusive at the millisecond: ``from <= timestamp <= to``. They are epoch milliseconds or
  ISO-8601; an ISO time without a UTC offset is read as UTC, a date alone as its midnight UTC, and sub-millisecond
  digits that are not zero are an error (they cannot be honoured). Records without a timestamp (-1) are outside every
  window.
- Offset ranges are inclusive at both ends, like the time window.
- ``partition_map`` maps source partitions to target partitions per source topic; partitions it does not list keep
  their number. Two source partitions may map to the same target partition (merged in source partition order).
- ``repartition`` places every record by the Java default partitioner on the target's partition count (existing
  topic, or ``create_topics.partitions``, or the backed-up count); null keys go round-robin.
- A new restore refuses target partitions that already hold records unless ``existing_data`` says ``append`` or
  ``truncate``; it is not part of the restore id, and a resumed restore (its checkpoint exists) ignores it, because
  the records there are its own.
- An incomplete backup (see :mod:`kafka_backup.engine.catalog.completeness`) is refused (``BACKUP_INCOMPLETE``) unless
  ``allow_partial`` accepts restoring what it holds; a defective manifest is refused always (``BACKUP_CORRUPT``).
- The restore id names the resume checkpoint. By default it is derived from everything that defines the restored
  data (backup, selection, mapping, target servers), so rerunning the same command resumes the same restore.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from kafka_backup.engine.config.base import ConfigModel, invalid
from kafka_backup.engine.config.kafka import KafkaConfig
from kafka_backup.engine.config.names import Id, Patterns, TopicName
from kafka_backup.engine.config.storage import StorageConfig

_SUBMS = re.compile(r"\.(\d{4,})")
_TIME_HINT = "give epoch milliseconds or an ISO-8601 time such as 2026-01-01T00:00:00Z"


def parse_timestamp(value: object) -> int:
    """Epoch milliseconds from an int, a digit string, or an ISO-8601 string (UTC when no offset is given).

    YAML turns an unquoted ISO time into a ``datetime`` and an unquoted date into a ``date`` (midnight UTC): both are
    accepted, so quoting never changes the meaning."""
    if isinstance(value, bool):
        raise invalid("expected epoch milliseconds or an ISO-8601 time", _TIME_HINT)
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.microsecond % 1000:
            raise invalid("sub-millisecond precision cannot be honoured; give milliseconds at most", _TIME_HINT)
        return _dt_ms(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return _dt_ms(datetime(value.year, value.month, value.day, tzinfo=UTC))
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        fraction = _SUBMS.search(text)
        if fraction and fraction.group(1)[3:].strip("0"):
            raise invalid(f"'{value}' has sub-millisecond digits; kafka timestamps are milliseconds", _TIME_HINT)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise invalid(f"'{value}' is neither epoch milliseconds nor an ISO-8601 time", _TIME_HINT) from None
        return _dt_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    raise invalid("expected epoch milliseconds or an ISO-8601 time", _TIME_HINT)


def _dt_ms(moment: datetime) -> int:
    # integer arithmetic: float timestamps lose the millisecond for dates far from the epoch
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


Timestamp = Annotated[int, BeforeValidator(parse_timestamp, json_schema_input_type=int | str)]
"""Epoch milliseconds, given as such or as an ISO-8601 time (see :func:`parse_timestamp`)."""


class TimeWindow(ConfigModel):
    """Point-in-time selection: records with ``from <= timestamp <= to`` (ms; either end may be left open)."""

    from_: Timestamp | None = Field(
        None,
        alias="from",
        description="Earliest record timestamp, inclusive: epoch milliseconds or an ISO-8601 time (UTC when it "
        "names no offset).",
    )
    to: Timestamp | None = Field(None, description="Latest record timestamp, inclusive; written like `from`.")

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.from_ is not None and self.to is not None and self.from_ > self.to:
            raise ValueError(f"time_window.from ({self.from_}) is after time_window.to ({self.to})")
        return self


class OffsetRange(ConfigModel):
    """Restore only source offsets ``from..to`` (inclusive) of a topic's partitions."""

    topic: str = Field(description="Source topic (exact name).")
    partitions: list[int] | None = Field(None, description="Source partitions; all when omitted.")
    from_: int | None = Field(None, alias="from", ge=0, description="First source offset, inclusive.")
    to: int | None = Field(None, ge=0, description="Last source offset, inclusive.")


class RestoreTopicSelection(ConfigModel):
    """Which backed-up topics to restore (globs, or regexes prefixed with `re:`)."""

    include: Patterns = Field(default_factory=lambda: ["*"], description="Topics to restore.")
    exclude: Patterns = Field(default_factory=list, description="Topics to leave out.")


class CreateTopics(ConfigModel):
    """Creating target topics that do not exist yet."""

    enabled: bool = Field(True, description="Create missing target topics (else a missing topic is an error).")
    replication_factor: int | None = Field(
        None, ge=1, description="Replication factor of created topics; the backed-up one when omitted."
    )
    partitions: dict[TopicName, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict, description="Partition count of a created target topic (with `repartition`)."
    )
    configs: dict[str, str] = Field(
        default_factory=dict, description="Topic configs to set on created topics, over the backed-up ones."
    )


class RateLimit(ConfigModel):
    """Upper bounds on the produce rate (unset: unlimited)."""

    records_per_sec: float | None = Field(None, gt=0, description="Records per second.")
    bytes_per_sec: float | None = Field(None, gt=0, description="Record payload bytes per second.")


class ConsumerGroupReset(ConfigModel):
    """Translating captured consumer-group offsets onto the restored topics."""

    reset: bool = Field(False, description="Run the offset reset as the last phase of the restore.")
    include: Patterns = Field(default_factory=lambda: ["*"], description="Groups to reset (glob or `re:`).")
    exclude: Patterns = Field(default_factory=list, description="Groups to leave alone.")


class RestoreConfig(ConfigModel):
    """A restore job."""

    backup_id: Id = Field(description="The backup to restore.")
    restore_id: Id | None = Field(None, description="Names the resume checkpoint; derived from the job when omitted.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Where the backup lives.")
    target: KafkaConfig = Field(description="The cluster to restore to.")
    topics: RestoreTopicSelection = Field(default_factory=RestoreTopicSelection, description="Topic selection.")
    partitions: dict[str, list[int]] = Field(
        default_factory=dict, description="Source topic → source partitions to restore (others: all)."
    )
    offset_ranges: list[OffsetRange] = Field(default_factory=list, description="Source offset ranges.")
    time_window: TimeWindow = Field(default_factory=TimeWindow, description="Point-in-time window.")
    topic_map: dict[str, TopicName] = Field(default_factory=dict, description="Source topic → target topic (rename).")
    partition_map: dict[str, dict[int, int]] = Field(
        default_factory=dict, description="Source topic → {source partition: target partition}."
    )
    repartition: bool = Field(False, description="Place records by the Java default partitioner (murmur2 of key).")
    create_topics: CreateTopics = Field(default_factory=CreateTopics, description="Creating missing topics.")
    rate_limit: RateLimit = Field(default_factory=RateLimit, description="Produce rate limits.")
    consumer_groups: ConsumerGroupReset = Field(
        default_factory=ConsumerGroupReset, description="Consumer-group offset translation."
    )
    allow_partial: bool = Field(
        False,
        description="Restore what an incomplete backup holds (missing partitions, interrupted run); the summary, "
        "`--json` and `kafka_restore_left_out_total` name what was left out. A defective manifest still stops it.",
    )
    flush_records: int = Field(
        50_000, gt=0, description="Records produced between checkpoints (bounds what a crash re-reads)."
    )
    verify_first: bool = Field(
        False,
        description=(
            "Read every selected segment and check its SHA-256 before writing anything (reads the data twice); "
            "otherwise each segment is verified just before its records are produced."
        ),
    )
    existing_data: Literal["refuse", "append", "truncate"] = Field(
        "refuse",
        description=(
            "Target partitions that already hold records when a new restore starts: `refuse` (stop before writing), "
            "`append` (after them; at-least-once on resume) or `truncate` (delete them first with Kafka's "
            "delete-records). A resumed restore ignores it."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> RestoreConfig:
        if self.repartition and self.partition_map:
            raise ValueError("use either repartition or partition_map, not both")
        for topic, mapping in self.partition_map.items():
            if any(p < 0 for p in (*mapping, *mapping.values())):
                raise ValueError(f"partition_map.{topic}: partitions are non-negative")
        targets = list(self.topic_map.values())
        if len(set(targets)) != len(targets) and not self.repartition:
            raise ValueError("topic_map maps two topics to one target; that is only allowed with repartition")
        for r in self.offset_ranges:
            if r.from_ is not None and r.to is not None and r.from_ > r.to:
                raise ValueError(f"offset_ranges: from ({r.from_}) is after to ({r.to}) for topic {r.topic}")
        return self

    def target_topic(self, source: str) -> str:
        return self.topic_map.get(source, source)

    def effective_restore_id(self) -> str:
        """The configured restore id, or one derived from what defines the restored data (stable across reruns)."""
        if self.restore_id:
            return self.restore_id
        return f"{self.backup_id[:100]}-r{self.fingerprint()[:12]}"

    def fingerprint(self) -> str:
        """Hash of everything that decides which records go where (not rate limits or credentials)."""
        defining: dict[str, Any] = self.model_dump(
            mode="json",
            by_alias=True,
            include={
                "backup_id",
                "topics",
                "partitions",
                "offset_ranges",
                "time_window",
                "topic_map",
                "partition_map",
                "repartition",
            },
        )
        defining["create_partitions"] = self.create_topics.partitions
        defining["target"] = self.target.bootstrap_servers
        return hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()

    def secrets(self) -> list[str]:
        return [*self.target.secrets(), *self.storage.secrets()]
