"""The backup job (``backup.yaml``): what to read from which cluster, and how to cut and compress segments.

The shared sections live beside it (:mod:`~kafka_backup.engine.config.kafka`,
:mod:`~kafka_backup.engine.config.storage`), loading and error formatting in :mod:`~kafka_backup.engine.config.base`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from kafka_backup.engine.config.base import ConfigModel, invalid
from kafka_backup.engine.config.kafka import KafkaConfig
from kafka_backup.engine.config.names import Id, Patterns
from kafka_backup.engine.config.storage import StorageConfig

ZSTD_MAX_LEVEL = 22


class TopicSelection(ConfigModel):
    """Which topics to back up. Patterns are globs (`orders.*`, `logs-?`) or regexes prefixed with `re:`."""

    include: Patterns = Field(default_factory=lambda: ["*"], description="Topics to back up (at least one match).")
    exclude: Patterns = Field(default_factory=list, description="Topics to leave out, applied after `include`.")
    include_internal: bool = Field(False, description="Also back up internal topics (names starting with `__`).")


class CompressionConfig(ConfigModel):
    """Parquet compression codec of the segments."""

    codec: Literal["zstd", "lz4", "snappy", "none"] = Field("zstd", description="Compression codec.")
    level: int | None = Field(
        1,
        description=(
            "Codec level (zstd: 1-22; 1 keeps about 98% of level 3's ratio on event data at 1.45x the speed); "
            "ignored by codecs without levels."
        ),
    )

    @field_validator("level")
    @classmethod
    def _level_in_range(cls, level: int | None, info: ValidationInfo) -> int | None:
        if info.data.get("codec") == "zstd" and level is not None and not 1 <= level <= ZSTD_MAX_LEVEL:
            raise invalid(f"zstd level {level} is out of range", f"use 1-{ZSTD_MAX_LEVEL}; 1 is the default")
        return level


class SegmentConfig(ConfigModel):
    """When to close a segment and start the next one (whichever limit is reached first)."""

    max_bytes: int = Field(128 * 1024 * 1024, gt=0, description="Uncompressed record bytes per segment.")
    max_records: int = Field(1_000_000, gt=0, description="Records per segment.")
    max_age_s: float = Field(60.0, gt=0, description="Seconds a segment stays open (bounds data at risk).")


class ConsumerGroupSelection(ConfigModel):
    """Which consumer groups' committed offsets to capture with the backup."""

    capture: bool = Field(True, description="Capture consumer-group offsets at backup time.")
    include: Patterns = Field(default_factory=lambda: ["*"], description="Group patterns (glob or `re:` regex).")
    exclude: Patterns = Field(default_factory=list, description="Groups to leave out.")


class MetricsConfig(ConfigModel):
    """The Prometheus endpoint (always on in service mode; on demand for one-shot commands)."""

    enabled: bool = Field(False, description="Serve /metrics, /healthz and /readyz during one-shot runs.")
    host: str = Field("127.0.0.1", description="Bind address.")
    port: int = Field(8080, ge=0, le=65535, description="Bind port (0 picks a free one).")
    path: str = Field("/metrics", description="Path of the metrics endpoint.")
    update_interval_ms: int = Field(500, gt=0, description="How often lag and throughput gauges are refreshed.")


class BackupConfig(ConfigModel):
    """A backup job."""

    backup_id: Id = Field(description="Names the backup at the storage URL; workers with the same id share the work.")
    source: KafkaConfig = Field(description="The cluster to back up.")
    topics: TopicSelection = Field(default_factory=TopicSelection, description="Topic selection.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Storage location.")
    compression: CompressionConfig = Field(default_factory=CompressionConfig, description="Segment compression.")
    segment: SegmentConfig = Field(default_factory=SegmentConfig, description="Segment roll limits.")
    mode: Literal["snapshot", "continuous"] = Field(
        "snapshot",
        description="`snapshot`: stop at the end offsets captured at start; `continuous`: run until stopped.",
    )
    isolation: Literal["read_committed", "read_uncommitted"] = Field(
        "read_committed", description="Transactional isolation of the consumer."
    )
    consumer_groups: ConsumerGroupSelection = Field(
        default_factory=ConsumerGroupSelection, description="Consumer-group offsets to capture."
    )
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="Metrics endpoint.")
    session_timeout_ms: int = Field(
        10_000, ge=1000, description="Group session timeout: how soon a dead worker's partitions move to another."
    )
    shutdown_timeout_s: float = Field(30.0, gt=0, description="Bound on flushing open segments after SIGTERM/SIGINT.")
    worker_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")] | None = Field(
        None,
        description="This worker's static group membership (`group.instance.id`): a worker restarted with the same id "
        "takes its partitions back at once, without waiting for its old session to time out. Default: "
        "`<hostname>-<n>`, n the lowest number no other running worker of this backup on this host holds. Two "
        "workers running at once must not share an id. The broker sees `<worker_id>.<8 hex digits>`, a "
        "fingerprint of the topics and partition counts: a worker restarted with other topics joins as a new "
        "member (after the old one's session times out) instead of being handed the old topics' partitions.",
    )

    def secrets(self) -> list[str]:
        return [*self.source.secrets(), *self.storage.secrets()]
