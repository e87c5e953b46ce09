"""Restore drill: prove that a backup really restores, by restoring it into scratch topics and reading it back.

One drill (:func:`run_drill`):

1. reads ``backup.json`` (the backup's age is ``now - completed_at``), the selected topics' partition manifests, and
   validates the backup (:func:`~kafka_backup.engine.catalog.validate.validate_backup`; defects of topics outside the
   selection are ignored);
2. restores the selection with the restore engine into scratch topics ``<scratch prefix><source topic>`` (prefix
   ``drill-<name>-<UTC time>-<random>.``), skipping segments validation found unrestorable (missing, truncated,
   checksum mismatch, unreadable): a real restore stops at the first of them, the drill measures everything else.
   Its checkpoints live in memory: the drill never writes to the backup storage (read access suffices);
3. reads every scratch partition back (``read_committed``) and compares it with the backup's segments, record by
   record: a 16-byte BLAKE2b of (key, value, headers) and the timestamp. Timestamps the backup does not have (<= 0)
   are not compared: the restore lets the producer stamp them. Per partition it reports the record counts and a
   SHA-256 over the record sequence of each side;
4. deletes the scratch topics, also when a step failed (unless ``keep``).

The score (0-100) and the result are defined in ``docs/drill.md`` and :func:`~kafka_backup.engine.drill.report.score`.
This module holds the orchestration; what it builds on lives beside it: the job (:mod:`.config`), the report and
score (:mod:`.report`), the restore plan and scratch names (:mod:`.plan`), the record comparison (:mod:`.compare`)
and the in-memory checkpoints (:mod:`.overlay`). All Kafka work goes through :mod:`kafka_backup.engine.kafka`
(reading back: :mod:`~kafka_backup.engine.kafka.reader`; scratch topics: :mod:`~kafka_backup.engine.kafka.topics`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import structlog
from opentelemetry import trace

from kafka_backup.engine.catalog.completeness import assess
from kafka_backup.engine.catalog.validate import validate_backup
from kafka_backup.engine.drill.compare import Rec, backup_records, compare, record_hash
from kafka_backup.engine.drill.config import DrillConfig
from kafka_backup.engine.drill.overlay import CheckpointOverlay
from kafka_backup.engine.drill.plan import (
    UNRESTORABLE,
    Target,
    choose_targets,
    missing_records,
    restore_config,
    scratch_names,
    scratch_topic,
)
from kafka_backup.engine.drill.report import DrillReport, PartitionCheck
from kafka_backup.engine.errors import BackupError, ConfigError, KafkaConnectionError, NothingToVerifyError
from kafka_backup.engine.format.layout import restore_prefix
from kafka_backup.engine.format.manifest import BackupManifest, PartitionManifest, now_ms
from kafka_backup.engine.kafka.admin import Cluster, select
from kafka_backup.engine.kafka.reader import TopicReader
from kafka_backup.engine.kafka.topics import delete_topics, topics_with_prefix
from kafka_backup.engine.repository import Repository
from kafka_backup.engine.restore.run import RestoreRun
from kafka_backup.engine.store import Store
from kafka_backup.telemetry.catalog import Metrics

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("kafka_backup.engine.drill.run")


class DrillRun:
    """One drill. Not thread-safe."""

    def __init__(
        self,
        config: DrillConfig,
        *,
        metrics: Metrics | None = None,
        store: Store | None = None,
        stop: threading.Event | None = None,
        client_extra: Mapping[str, Any] | None = None,
    ) -> None:
        """``client_extra``: librdkafka settings for the restore's clients (``stats_cb``, ``logger``) from the CLI."""
        self.config = config
        self.metrics = metrics or Metrics()
        self.store = store or config.storage.open(metrics=self.metrics, backup_id=config.backup_id)
        self.stop = stop or threading.Event()
        self.client_extra = dict(client_extra or {})
        restore_id, prefix = scratch_names(config.name)
        self._short: dict[tuple[str, int], int] = {}
        """Records the backup lacks per drilled partition (from the completeness model)."""
        self.report = DrillReport(
            drill=config.name,
            backup_id=config.backup_id,
            restore_id=restore_id,
            scratch_prefix=prefix,
            min_score=config.min_score,
            rto_target_s=config.rto_target_s,
        )

    def run(self) -> DrillReport:
        """Run the drill; records the metrics unless it was stopped. Raises only ConfigError (bad usage)."""
        r = self.report
        started = time.monotonic()
        with _tracer.start_as_current_span(
            "drill", attributes={"drill": r.drill, "backup_id": r.backup_id, "restore_id": r.restore_id}
        ) as span:
            log.info("drill_started", drill=r.drill, backup_id=r.backup_id, scratch_prefix=r.scratch_prefix)
            try:
                self._run()
            except ConfigError:
                raise
            except BackupError as exc:
                r.error = f"{exc.code}: {exc}"
                r.failure = exc
                log.error("drill_step_failed", drill=r.drill, backup_id=r.backup_id, error=r.error)
            finally:
                r.duration_s = time.monotonic() - started
                self._cleanup()
            if r.stopped:
                log.warning("drill_stopped", drill=r.drill, backup_id=r.backup_id)
                span.set_attribute("stopped", True)
                return r
            r.settle()
            span.set_attributes({"score": r.score, "result": r.result})
            _finished(self.metrics, r)
        return r

    # ---- steps ---------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        cfg, r = self.config, self.report
        backup = Repository(self.store).require_backup(cfg.backup_id)
        r.backup_status = backup.status
        topics = select(backup.topics, cfg.topics.include, cfg.topics.exclude, include_internal=True).topics
        if not topics:
            raise ConfigError(
                f"no topic of backup '{cfg.backup_id}' matches topics.include={cfg.topics.include} "
                f"exclude={cfg.topics.exclude} (it holds: {', '.join(sorted(backup.topics)) or 'nothing'})",
                hint="fix topics.include / --topic",
            )
        assessment = assess(self.store, cfg.backup_id, backup)
        manifests = {
            (t, p): assessment.manifests.get((t, p)) for t in topics for p in range(backup.topics[t].partitions)
        }
        r.backup_completed_at = backup.completed_at
        r.backup_age_s = _data_age_s(backup, manifests)
        r.shortfalls = assessment.relevant(list(manifests))
        self._short = missing_records(r.shortfalls, manifests)
        for f in r.shortfalls:
            log.warning("drill_backup_incomplete", drill=r.drill, backup_id=r.backup_id, shortfall=str(f))
        unrestorable = self._validate(topics)
        targets = choose_targets(manifests, unrestorable, cfg.sample_records)
        r.segments_skipped = sum(len(t.unrestorable) for t in targets)
        if self.stop.is_set():
            r.stopped = True
            return
        self._restore(backup, topics, targets)
        if self.stop.is_set():
            r.stopped = True
            return
        self._verify(targets)
        if r.stopped:
            return
        if r.total("expected") == 0 and r.total("restored") == 0:
            raise NothingToVerifyError(
                f"the drilled selection of backup '{cfg.backup_id}' holds no records: the drill proved nothing",
                hint="drill topics that hold data (--topic), or check that the backup captured any",
            )

    def _validate(self, topics: list[str]) -> set[str]:
        """Validation defects of the drilled topics (and of the backup as a whole); the unrestorable segment keys."""
        cfg, r = self.config, self.report
        report = validate_backup(self.store, cfg.backup_id, deep=cfg.deep, metrics=self.metrics)
        topic_prefixes = tuple(f"{cfg.backup_id}/topics/{t}/" for t in topics)
        all_topics = f"{cfg.backup_id}/topics/"
        r.defects = [
            f for f in report.defects if f.object.startswith(topic_prefixes) or not f.object.startswith(all_topics)
        ]
        for f in r.defects:
            log.warning("drill_backup_defect", drill=r.drill, object=f.object, kind=f.kind, detail=f.detail)
        return {f.object for f in r.defects if f.kind in UNRESTORABLE and f.object.endswith(".parquet")}

    def _restore(self, backup: BackupManifest, topics: list[str], targets: list[Target]) -> None:
        r = self.report
        config = restore_config(self.config, r.restore_id, r.scratch_prefix, backup, topics, targets)
        r.scratch_topics = sorted(config.topic_map.values())
        overlay = CheckpointOverlay(self.store, restore_prefix(config.backup_id, r.restore_id))
        run = RestoreRun(config, metrics=self.metrics, store=overlay, stop=self.stop, client_extra=self.client_extra)
        summary = run.run()
        r.records_restored = summary.records
        if summary.status == "success":
            r.rto_s = summary.duration_s
        log.info(
            "drill_restored",
            drill=r.drill,
            backup_id=r.backup_id,
            records=summary.records,
            rto_s=round(summary.duration_s, 3),
            segments_skipped=r.segments_skipped,
        )

    def _verify(self, targets: list[Target]) -> None:
        r = self.report
        by_topic: dict[str, list[Target]] = {}
        for t in targets:
            by_topic.setdefault(t.topic, []).append(t)
        with _tracer.start_as_current_span("drill.verify", attributes={"drill": r.drill}):
            for topic, parts in by_topic.items():
                scratch = scratch_topic(r.scratch_prefix, topic)
                restored = self._read_back(scratch)
                if r.stopped:
                    return
                checks = {t.partition: t for t in parts}
                for partition in sorted(set(checks) | set(restored)):
                    check = PartitionCheck(topic, partition, scratch)
                    expected: list[Rec] = []
                    target = checks.get(partition)
                    if target is not None:
                        check.expected = sum(s.records for s in (*target.restorable, *target.unrestorable))
                        check.unrestorable_segments = len(target.unrestorable)
                        check.missing = sum(s.records for s in target.unrestorable)
                        expected = backup_records(self.store, target.restorable)
                    compare(expected, restored.get(partition, []), check)
                    # records the backup should hold here but does not: missing, like records that did not restore
                    short = self._short.get((topic, partition), 0)
                    check.expected += short
                    check.missing += short
                    r.partitions.append(check)
                    if not check.ok:
                        log.warning("drill_partition_mismatch", drill=r.drill, **check.to_dict())
        log.info(
            "drill_verified",
            drill=r.drill,
            partitions=len(r.partitions),
            matched=r.total("matched"),
            expected=r.total("expected"),
        )

    def _read_back(self, topic: str) -> dict[int, list[Rec]]:
        """Every record of ``topic`` (read_committed), per partition in offset order."""
        cfg = self.config
        reader = TopicReader(
            cfg.target,
            topic,
            group_id=f"kafka-backup-{self.report.restore_id}",
            stop=self.stop,
            idle_timeout_s=cfg.verify_timeout_s,
            extra=self._logger,
            what="scratch topic",
        )
        read: dict[int, list[Rec]] = {}
        for rec in reader:
            read.setdefault(rec.partition, []).append((record_hash(rec.key, rec.value, rec.headers), rec.timestamp))
        if reader.stopped:
            self.report.stopped = True
        return {p: read.get(p, []) for p in reader.partitions}

    def _cleanup(self) -> None:
        """Delete every topic with the scratch prefix (those the restore created, and any it created before failing)."""
        r, cfg = self.report, self.config
        if cfg.keep:
            log.info("drill_scratch_kept", drill=r.drill, topics=r.scratch_topics)
            return
        if isinstance(r.failure, KafkaConnectionError):
            # the cluster was unreachable a moment ago: a second attempt would only wait out another connect timeout
            r.cleanup_error = (
                f"skipped: the target cluster could not be reached; delete any topic named {r.scratch_prefix}* "
                "once it is back"
            )
        else:
            self._delete_scratch()
        if r.cleanup_error is not None:
            log.error(
                "drill_scratch_cleanup_failed",
                drill=r.drill,
                prefix=r.scratch_prefix,
                topics=r.scratch_topics,
                error=r.cleanup_error,
            )

    def _delete_scratch(self) -> None:
        """Delete the scratch topics and wait until the cluster no longer lists them; failures go to cleanup_error."""
        r = self.report
        with _tracer.start_as_current_span("drill.cleanup", attributes={"drill": r.drill}):
            try:
                cluster = Cluster(self.config.target, self._logger)
                present = topics_with_prefix(cluster, r.scratch_prefix)
                r.scratch_topics = sorted(set(r.scratch_topics) | set(present))
                delete_topics(cluster, present, what="scratch topics")
                r.scratch_deleted = True
                log.info("drill_scratch_deleted", drill=r.drill, topics=present)
            except BackupError as exc:
                r.cleanup_error = f"{exc.code}: {exc}"

    @property
    def _logger(self) -> dict[str, Any]:
        """Of the CLI's client settings, what the drill's own clients take: the ``logger`` (no stats callback)."""
        return {k: v for k, v in self.client_extra.items() if k == "logger"}


def _data_age_s(backup: BackupManifest, manifests: Mapping[Any, PartitionManifest | None]) -> float:
    """Age of the data: since ``completed_at``; for a backup that never completed (continuous), since its newest
    segment (or its last manifest update)."""
    newest = backup.completed_at
    if newest is None:
        created = [s.created_at for m in manifests.values() if m is not None for s in m.segments]
        newest = max(created, default=backup.updated_at)
    return max(0.0, (now_ms() - newest) / 1000)


def _finished(metrics: Metrics, report: DrillReport) -> None:
    """The drill families and the closing log line of a drill that ran to its result (not stopped)."""
    labels = {"drill": report.drill}
    metrics.restore_drill_runs_total.add(1, {**labels, "result": report.result})
    metrics.restore_drill_score.set(report.score, labels)
    metrics.restore_drill_duration_seconds.record(report.duration_s, labels)
    if report.rto_s is not None:
        metrics.restore_drill_rto_seconds.set(report.rto_s, labels)
    if report.backup_age_s is not None:
        metrics.restore_drill_backup_age_seconds.set(report.backup_age_s, labels)
    log.info(
        "drill_finished",
        drill=report.drill,
        backup_id=report.backup_id,
        result=report.result,
        score=report.score,
        records=report.total("expected"),
        missing=report.total("missing"),
        unexpected=report.total("unexpected"),
        misordered=report.total("misordered"),
        defects=len(report.defects),
        rto_s=report.rto_s,
        duration_s=round(report.duration_s, 3),
        error=report.error,
    )


def run_drill(config: DrillConfig, **kwargs: Any) -> DrillReport:
    """Run one restore drill; library entry point of ``kafka-backup drill``."""
    return DrillRun(config, **kwargs).run()
