"""Helpers for restore, offset-reset, validate and catalog tests: backups made by the real backup engine."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from kafka_backup.engine.backup.run import BackupRun, BackupSummary
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.restore.progress import RestoreSummary
from kafka_backup.engine.restore.run import RestoreRun
from kafka_backup.engine.store import Store, open_store
from kafka_backup.engine.testing import produce_records
from kafka_backup.telemetry.catalog import Metrics
from rig.tricky import Row, create_topic, read_topic

RECENT_TS = (int(time.time()) // 60 * 60 - 3600) * 1000
"""A base timestamp one hour ago, whole minute: test records must be recent, or the broker's retention (checked every
second in the rig, 7 days by default) deletes them mid-test."""

Content = tuple[int, int, int, bytes | None, bytes | None, list[tuple[str, bytes | None]] | None]
"""(partition, position, timestamp, key, value, headers): what a restore must reproduce, offsets aside."""

__all__ = [
    "RECENT_TS",
    "backed_up_timeline",
    "create_topic",
    "make_backup",
    "make_restore",
    "numbered_topic",
    "open_root",
    "produce_records",
    "read_topic",
    "restore_config",
]


def make_backup(
    bootstrap: str, root: Path, backup_id: str, topics: list[str], *, max_records: int = 50, **extra: Any
) -> BackupSummary:
    """A snapshot backup of ``topics`` by the real backup engine, with small segments (several per partition)."""
    config: dict[str, Any] = {
        "backup_id": backup_id,
        "source": {"bootstrap_servers": bootstrap, "connect_timeout_s": 10},
        "topics": {"include": topics},
        "storage": {"url": f"file://{root}"},
        "segment": {"max_records": max_records},
        "session_timeout_ms": 6000,
        **extra,
    }
    summary = BackupRun(BackupConfig.model_validate(config), metrics=Metrics()).run()
    assert summary.status == "success"
    return summary


def restore_config(bootstrap: str, root: Path, backup_id: str, **extra: Any) -> RestoreConfig:
    config: dict[str, Any] = {
        "backup_id": backup_id,
        "storage": {"url": f"file://{root}"},
        "target": {"bootstrap_servers": bootstrap, "connect_timeout_s": 10},
        **extra,
    }
    return RestoreConfig.model_validate(config)


def make_restore(
    bootstrap: str, root: Path, backup_id: str, *, metrics: Metrics | None = None, **extra: Any
) -> RestoreSummary:
    run = RestoreRun(restore_config(bootstrap, root, backup_id, **extra), metrics=metrics or Metrics())
    summary = run.run()
    assert summary.status == "success"
    return summary


def open_root(root: Path) -> Store:
    return open_store(f"file://{root}", {})


def numbered_topic(bootstrap: str, prefix: str, records: int, partitions: int = 2) -> str:
    """A new topic ``<prefix>-<random>`` of records ``k<i>``/``v<i>``, record i in partition ``i % partitions`` at
    timestamp ``RECENT_TS + i``."""
    topic = f"{prefix}-{uuid.uuid4().hex[:6]}"
    create_topic(bootstrap, topic, partitions)
    numbered = ((i % partitions, (f"k{i}".encode(), f"v{i}".encode(), RECENT_TS + i, None)) for i in range(records))
    produce_records(bootstrap, topic, numbered)
    return topic


def content(rows: list[Row]) -> list[Content]:
    """What must survive a restore: per partition, the records in order (offsets may differ)."""
    out: list[Content] = []
    position: dict[int, int] = {}
    for r in rows:
        pos = position.get(r[1], 0)
        position[r[1]] = pos + 1
        out.append((r[1], pos, r[3], r[5], r[6], r[7]))
    return out


def backed_up_timeline(bootstrap: str, root: Path, name: str, records: int, max_records: int) -> str:
    """A one-partition :func:`numbered_topic` (record i at ``RECENT_TS + i``) backed up to ``root`` as backup
    ``name`` in segments of ``max_records``; returns the topic."""
    topic = numbered_topic(bootstrap, name, records, partitions=1)
    make_backup(bootstrap, root, name, [topic], max_records=max_records)
    return topic
