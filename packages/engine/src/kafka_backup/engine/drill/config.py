"""The drill job (``drill.yaml``): which backup to drill, on which cluster, and what the drill must score."""

from __future__ import annotations

from pydantic import Field

from kafka_backup.engine.config.base import ConfigModel
from kafka_backup.engine.config.kafka import KafkaConfig
from kafka_backup.engine.config.names import Id
from kafka_backup.engine.config.restore import RestoreTopicSelection
from kafka_backup.engine.config.storage import StorageConfig


class DrillConfig(ConfigModel):
    """A restore drill (``drill.yaml``)."""

    drill: str | None = Field(
        None, min_length=1, max_length=200, description="Drill name: the `drill` metric label (default: backup_id)."
    )
    backup_id: Id = Field(description="The backup to drill.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Where the backup lives.")
    target: KafkaConfig = Field(description="The cluster the scratch topics are created on.")
    topics: RestoreTopicSelection = Field(default_factory=RestoreTopicSelection, description="Topic selection.")
    sample_records: int | None = Field(
        None,
        gt=0,
        description="Per partition, drill only the newest whole segments holding at least this many records.",
    )
    rto_target_s: float | None = Field(None, gt=0, description="Restore duration above which the score is reduced.")
    min_score: float = Field(100.0, ge=0, le=100, description="The drill passes with a score at least this high.")
    deep: bool = Field(False, description="Validate deeply (decode every segment, check every record).")
    keep: bool = Field(False, description="Keep the scratch topics (for inspection); delete them yourself.")
    replication_factor: int | None = Field(
        None, ge=1, description="Replication factor of the scratch topics (default: the backed-up one)."
    )
    verify_timeout_s: float = Field(
        120.0, gt=0, description="Reading a scratch topic back fails after this long without a new record."
    )

    @property
    def name(self) -> str:
        return self.drill or self.backup_id

    def secrets(self) -> list[str]:
        return [*self.target.secrets(), *self.storage.secrets()]
