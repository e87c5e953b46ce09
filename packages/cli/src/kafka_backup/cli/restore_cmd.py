"""``kafka-backup restore``."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import click

from kafka_backup.cli.backup_cmd import install_stop_handlers
from kafka_backup.cli.errors import EXIT_FAILED, handle_errors
from kafka_backup.cli.locate import job_config
from kafka_backup.cli.runtime import MetricsOptions, metrics_options, telemetry_session
from kafka_backup.cli.summary import block, human_bytes, human_duration
from kafka_backup.engine.errors import ConfigError
from kafka_backup.engine.inventory import iso_ms
from kafka_backup.engine.restore import Progress, RestorePlan, RestoreRun, RestoreSummary
from kafka_backup.engine.restore_config import RestoreConfig
from kafka_backup.telemetry import ClientStats, kafka_logger


class ProgressBar:
    """A one-line bar with rate and ETA on a terminal (stderr), redrawn at most 10 times a second."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self._last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and p.done < p.total:
            return
        self._last = now
        filled = int(self.width * p.percent / 100)
        eta = "-" if p.eta_s is None else human_duration(p.eta_s)
        line = (
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {p.percent:5.1f}%  {p.done:,}/{p.total:,} records  "
            f"{p.rate:,.0f} rec/s  ETA {eta}   "
        )
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def render_plan(plan: RestorePlan) -> str:
    """The dry-run plan as a table for people."""
    skipped = sum(p.skipped_segments for p in plan.partitions)
    lines = [
        f"Restore plan {plan.restore_id} (backup {plan.backup_id}): {plan.records:,}"
        f"{'' if plan.exact else ' at most'} records, {human_bytes(plan.bytes)}, {plan.segments} segments to read, "
        f"{skipped} skipped by the selection",
    ]
    for t in plan.topics:
        action = f"create ({t.partitions} partitions, RF {t.replication_factor})" if t.create else "existing topic"
        how = ", repartition by murmur2(key)" if t.repartition else ""
        lines.append(f"  topic {t.source_topic} -> {t.target_topic}: {action}{how}")
    lines.append(f"  {'SOURCE':<36} {'TARGET':<36} {'RECORDS':>12} {'BYTES':>10}  OFFSETS  TIME")
    for p in plan.partitions:
        target = f"{p.target_topic}-{p.targets[0]}" if len(p.targets) == 1 else f"{p.target_topic}-(murmur2)"
        records = f"{'<=' if not p.exact else ''}{p.records:,}"
        span = f"{p.first_offset}..{p.last_offset}" if p.first_offset is not None else "-"
        times = f"{iso_ms(p.min_timestamp)}..{iso_ms(p.max_timestamp)}" if p.min_timestamp is not None else "-"
        source = f"{p.source_topic}-{p.source_partition}"
        lines.append(f"  {source:<36} {target:<36} {records:>12} {human_bytes(p.bytes):>10}  {span}  {times}")
        if p.lost_ranges:
            lines.append(
                f"    warning: {p.lost_ranges} range(s) of the selection were lost to retention at backup time"
            )
    lines += [f"  LEFT OUT (incomplete backup, --allow-partial): {f}" for f in plan.left_out]
    return "\n".join(lines)


def summary_block(s: RestoreSummary) -> str:
    rate = s.records / s.duration_s if s.duration_s > 0 else 0.0
    rows = [
        ("Restore id", s.restore_id),
        ("Records", f"{s.records:,}" + (f" (+{s.resumed_records:,} already restored)" if s.resumed_records else "")),
        ("Duration", human_duration(s.duration_s)),
        ("Throughput", f"{rate:,.0f} records/sec"),
        ("Bytes", human_bytes(s.bytes)),
        ("Segments", f"{s.segments_read} read, {s.segments_skipped} skipped by the selection"),
    ]
    if s.topics_created:
        rows.append(("Topics created", ", ".join(s.topics_created)))
    if s.offset_reset:
        rows.append(("Consumer groups reset", ", ".join(r["group"] for r in s.offset_reset)))
    rows += [("Left out", str(f)) for f in s.left_out]
    title = "Restore completed successfully" if s.status == "success" else f"Restore {s.status}"
    if s.status == "success" and s.left_out:
        title = f"Restore completed PARTIALLY: the backup is incomplete, {len(s.left_out)} shortfall(s) left out"
    return block(title, rows)


def build_config(config_path: Path | None, overrides: dict[str, Any]) -> RestoreConfig:
    """The restore YAML (if any) with the command-line overrides applied, validated as one document."""
    return job_config(RestoreConfig, config_path, overrides)


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    out = {}
    for item in values:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise ConfigError(f"{flag} {item!r} is not SOURCE=TARGET", hint=f"write {flag} orders=orders-restored")
        out[src] = dst
    return out


@click.command("restore")
@click.option("--config", "-c", "config_path", type=click.Path(path_type=Path), help="Restore job YAML file.")
@click.option("--backup-id", "-b", help="Backup to restore (overrides backup_id).")
@click.option("--storage-url", "-s", envvar="KAFKA_BACKUP_STORAGE_URL", help="Storage URL (overrides storage.url).")
@click.option("--bootstrap-servers", help="Target cluster (overrides target.bootstrap_servers).")
@click.option("--restore-id", "-r", help="Resume checkpoint name (default: derived from the job).")
@click.option("--topic", "-t", "topics", multiple=True, help="Topics to restore (glob or re:; repeatable).")
@click.option("--topic-map", multiple=True, help="Rename SOURCE=TARGET (repeatable).")
@click.option("--from", "time_from", help="Earliest record timestamp, inclusive (ISO-8601 or epoch ms).")
@click.option("--to", "time_to", help="Latest record timestamp, inclusive (ISO-8601 or epoch ms).")
@click.option("--repartition", is_flag=True, help="Place records by murmur2(key) on the target's partition count.")
@click.option("--replication-factor", type=int, help="Replication factor of created topics.")
@click.option("--max-records-per-sec", type=float, help="Produce rate limit, records/s.")
@click.option("--max-bytes-per-sec", type=float, help="Produce rate limit, payload bytes/s.")
@click.option("--reset-consumer-groups", is_flag=True, help="Translate captured group offsets as the last phase.")
@click.option(
    "--allow-partial", is_flag=True, help="Restore what an incomplete backup holds (else: BACKUP_INCOMPLETE)."
)
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan or summary as one JSON object.")
@click.option("--no-progress", is_flag=True, help="No progress bar, even on a terminal.")
@metrics_options
@handle_errors
def restore(
    *,
    config_path: Path | None,
    backup_id: str | None,
    storage_url: str | None,
    bootstrap_servers: str | None,
    restore_id: str | None,
    topics: tuple[str, ...],
    topic_map: tuple[str, ...],
    time_from: str | None,
    time_to: str | None,
    repartition: bool,
    replication_factor: int | None,
    max_records_per_sec: float | None,
    max_bytes_per_sec: float | None,
    reset_consumer_groups: bool,
    allow_partial: bool,
    dry_run: bool,
    as_json: bool,
    no_progress: bool,
    metrics: MetricsOptions,
) -> None:
    """Restore a backup (or a selection of it) to a Kafka cluster; a rerun resumes where a crash stopped."""
    config = build_config(
        config_path,
        {
            "backup_id": backup_id,
            "storage.url": storage_url,
            "target.bootstrap_servers": bootstrap_servers,
            "restore_id": restore_id,
            "topics.include": topics,
            "topic_map": _pairs(topic_map, "--topic-map") or None,
            "time_window.from": time_from,
            "time_window.to": time_to,
            "repartition": repartition,
            "create_topics.replication_factor": replication_factor,
            "rate_limit.records_per_sec": max_records_per_sec,
            "rate_limit.bytes_per_sec": max_bytes_per_sec,
            "consumer_groups.reset": reset_consumer_groups,
            "allow_partial": allow_partial,
        },
    )
    if dry_run:
        plan = RestoreRun(config).plan()
        click.echo(json.dumps(plan.to_dict()) if as_json else render_plan(plan))
        return
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() and not no_progress and not as_json else None
    stop = threading.Event()
    install_stop_handlers(stop)
    with telemetry_session(metrics, secrets=config.secrets()) as telemetry:
        client_extra = {
            "stats_cb": ClientStats(telemetry.metrics).callback,
            "statistics.interval.ms": 200,  # restores are often short: report the producer view at least a few times
            "logger": kafka_logger("restore"),
        }
        # the final producer statistics matter only when this run's metrics are read after it
        read_after = metrics.output is not None or metrics.expose is not None or telemetry.settings.metrics is not None
        run = RestoreRun(
            config,
            metrics=telemetry.metrics,
            stop=stop,
            on_progress=bar,
            client_extra=client_extra,
            final_client_stats=read_after,
        )
        try:
            summary = run.run()
        finally:
            if bar is not None:
                bar.close()
    click.echo(summary.to_json() if as_json else summary_block(summary))
    if summary.status != "success":
        click.echo(f"restore {summary.restore_id} stopped before the end: rerun the same command to resume", err=True)
        sys.exit(EXIT_FAILED)
