"""The kafka-backup engine: backup and restore of Kafka topics to fsspec storage in Parquet segments.

The engine records telemetry only through the OpenTelemetry API (a ``kafka_backup.telemetry.Metrics`` passed in, or
the global provider); the CLI wires the SDK.

The names below are imported on first use (PEP 562), so importing a light submodule such as
``kafka_backup.engine.errors`` does not load pyarrow, confluent_kafka and pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafka_backup.telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from kafka_backup.engine.backup.run import BackupRun, BackupSummary, run_backup
    from kafka_backup.engine.config.backup import BackupConfig, load_config
    from kafka_backup.engine.errors import BackupError, ConfigError, StorageError

_MODULE_OF = {
    **dict.fromkeys(["BackupRun", "BackupSummary", "run_backup"], "backup.run"),
    **dict.fromkeys(["BackupConfig", "load_config"], "config.backup"),
    **dict.fromkeys(["BackupError", "ConfigError", "StorageError"], "errors"),
}
"""Public name -> the submodule that defines it."""

__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF)

__all__ = [
    "BackupConfig",
    "BackupError",
    "BackupRun",
    "BackupSummary",
    "ConfigError",
    "StorageError",
    "load_config",
    "run_backup",
]
