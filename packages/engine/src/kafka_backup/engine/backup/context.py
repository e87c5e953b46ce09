"""What every part of one backup run shares, bound once per run: its job, storage, instruments, log and tallies.

The run builds one :class:`RunContext`; the parts (commit protocol, ownership, ingest, snapshot bookkeeping) read
it and never replace its members. ``log`` carries ``backup_id``, so no event passes it by hand.

The loggers are structlog's lazy proxies (``structlog.get_logger(name, **context)``): like a module-level logger they
follow the logging configuration in force when an event is logged, not the one when the run was built.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import structlog

from kafka_backup.engine.backup.progress import ProgressTracker
from kafka_backup.engine.backup.summary import BackupSummary
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.store import Store
from kafka_backup.telemetry.catalog import Metrics

TP = tuple[str, int]


@dataclass(frozen=True)
class RunContext:
    config: BackupConfig
    store: Store
    metrics: Metrics
    log_name: str
    """The logger every event of the run goes to (``kafka_backup.engine.backup.run``)."""
    summary: BackupSummary
    progress: ProgressTracker

    @cached_property
    def repo(self) -> Repository:
        """Typed, fenced reads and writes of the backup's objects over :attr:`store`."""
        return Repository(self.store)

    @property
    def backup_id(self) -> str:
        return self.config.backup_id

    @property
    def labels(self) -> dict[str, str]:
        """The metric attributes of every instrument the run records."""
        return {"backup_id": self.config.backup_id}

    @property
    def log(self) -> structlog.stdlib.BoundLogger:
        """The run's logger, bound to ``backup_id``."""
        logger: structlog.stdlib.BoundLogger = structlog.get_logger(self.log_name, backup_id=self.config.backup_id)
        return logger

    def partition_log(self, tp: TP) -> structlog.stdlib.BoundLogger:
        """The run's logger, bound to ``backup_id``, ``topic`` and ``partition``."""
        logger: structlog.stdlib.BoundLogger = structlog.get_logger(
            self.log_name, backup_id=self.config.backup_id, topic=tp[0], partition=tp[1]
        )
        return logger
