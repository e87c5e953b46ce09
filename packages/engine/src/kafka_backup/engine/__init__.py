"""The kafka-backup engine: backup and restore of Kafka topics to fsspec storage in Parquet segments.

The engine records telemetry only through the OpenTelemetry API (a ``kafka_backup.telemetry.Metrics`` passed in, or
the global provider); the CLI wires the SDK.
"""

from kafka_backup.engine.backup import BackupRun, BackupSummary, run_backup
from kafka_backup.engine.config import BackupConfig, load_config
from kafka_backup.engine.errors import BackupError, ConfigError, StorageError

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
