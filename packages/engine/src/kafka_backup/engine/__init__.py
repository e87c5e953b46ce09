"""The kafka-backup engine: backup and restore of Kafka topics to fsspec storage in Parquet segments.

This package's names are the engine's public API: what the CLI uses and what a library user needs to run, inspect
and verify backups from Python. Anything else is internal and may move. ``kafka_backup.engine.store`` (the storage
contract and backends) and ``kafka_backup.engine.testing`` (data sets, topic helpers, a recording store) are the two
public subpackages.

The engine records telemetry only through the OpenTelemetry API (a ``kafka_backup.telemetry.Metrics`` passed in, or
the global provider); the CLI wires the SDK.

The names below are imported on first use (PEP 562), so ``from kafka_backup.engine import ConfigError`` does not load
pyarrow, confluent_kafka and pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafka_backup.telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from kafka_backup.engine.allocator import tune_allocators
    from kafka_backup.engine.backup.progress import BackupProgress
    from kafka_backup.engine.backup.run import BackupRun, run_backup
    from kafka_backup.engine.backup.summary import BackupSummary, summary_json
    from kafka_backup.engine.catalog.inventory import (
        describe_backup,
        execute_prune,
        iso_ms,
        list_backups,
        parse_duration,
        plan_prune,
    )
    from kafka_backup.engine.catalog.validate import validate_backup
    from kafka_backup.engine.config.backup import BackupConfig
    from kafka_backup.engine.config.base import expand_env, load_config, load_yaml, parse_config
    from kafka_backup.engine.config.ids import id_problem
    from kafka_backup.engine.config.kafka import KafkaConfig
    from kafka_backup.engine.config.names import compile_patterns
    from kafka_backup.engine.config.restore import RestoreConfig
    from kafka_backup.engine.config.storage import StorageConfig
    from kafka_backup.engine.drill.config import DrillConfig
    from kafka_backup.engine.drill.report import DrillReport
    from kafka_backup.engine.drill.run import DrillRun
    from kafka_backup.engine.errors import BackupError, ConfigError, StorageError
    from kafka_backup.engine.format.layout import backup_key
    from kafka_backup.engine.format.restore_state import RestoreState
    from kafka_backup.engine.kafka.admin import Cluster
    from kafka_backup.engine.repository import Repository
    from kafka_backup.engine.restore.offsets import (
        GroupReset,
        execute_reset,
        load_state,
        plan_reset,
        render_table,
        script_lines,
    )
    from kafka_backup.engine.restore.plan import RestorePlan, describe_occupancy
    from kafka_backup.engine.restore.progress import Progress, RestoreSummary
    from kafka_backup.engine.restore.run import RestoreRun
    from kafka_backup.engine.store import Store, open_store

_MODULE_OF = {
    # configuration
    "BackupConfig": "config.backup",
    **dict.fromkeys(["expand_env", "load_config", "load_yaml", "parse_config"], "config.base"),
    "KafkaConfig": "config.kafka",
    "StorageConfig": "config.storage",
    "compile_patterns": "config.names",
    "id_problem": "config.ids",
    "RestoreConfig": "config.restore",
    # errors (each carries its stable code, hint and exit code)
    **dict.fromkeys(["BackupError", "ConfigError", "StorageError"], "errors"),
    # backup
    "BackupProgress": "backup.progress",
    **dict.fromkeys(["BackupRun", "run_backup"], "backup.run"),
    **dict.fromkeys(["BackupSummary", "summary_json"], "backup.summary"),
    # restore and consumer-group offsets
    **dict.fromkeys(["RestorePlan", "describe_occupancy"], "restore.plan"),
    **dict.fromkeys(["Progress", "RestoreSummary"], "restore.progress"),
    "RestoreRun": "restore.run",
    **dict.fromkeys(
        ["GroupReset", "execute_reset", "load_state", "plan_reset", "render_table", "script_lines"], "restore.offsets"
    ),
    "RestoreState": "format.restore_state",
    "Cluster": "kafka.admin",
    # drills, the catalog, validation
    "DrillConfig": "drill.config",
    "DrillReport": "drill.report",
    "DrillRun": "drill.run",
    **dict.fromkeys(
        ["describe_backup", "execute_prune", "iso_ms", "list_backups", "parse_duration", "plan_prune"],
        "catalog.inventory",
    ),
    "validate_backup": "catalog.validate",
    # storage
    "backup_key": "format.layout",
    "Repository": "repository",
    **dict.fromkeys(["Store", "open_store"], "store"),
    # the process (for the program that owns it)
    "tune_allocators": "allocator",
}
"""Public name -> the submodule that defines it."""

__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF)

__all__ = [
    "BackupConfig",
    "BackupError",
    "BackupProgress",
    "BackupRun",
    "BackupSummary",
    "Cluster",
    "ConfigError",
    "DrillConfig",
    "DrillReport",
    "DrillRun",
    "GroupReset",
    "KafkaConfig",
    "Progress",
    "Repository",
    "RestoreConfig",
    "RestorePlan",
    "RestoreRun",
    "RestoreState",
    "RestoreSummary",
    "StorageConfig",
    "StorageError",
    "Store",
    "backup_key",
    "compile_patterns",
    "describe_backup",
    "describe_occupancy",
    "execute_prune",
    "execute_reset",
    "expand_env",
    "id_problem",
    "iso_ms",
    "list_backups",
    "load_config",
    "load_state",
    "load_yaml",
    "open_store",
    "parse_config",
    "parse_duration",
    "plan_prune",
    "plan_reset",
    "render_table",
    "run_backup",
    "script_lines",
    "summary_json",
    "tune_allocators",
    "validate_backup",
]
