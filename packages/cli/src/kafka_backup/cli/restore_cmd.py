"""``kafka-backup restore``."""

from __future__ import annotations

import functools
import json
import sys
import threading
from pathlib import Path
from typing import Any

import click

from kafka_backup.cli.backup_cmd import install_stop_handlers
from kafka_backup.cli.errors import EXIT_FAILED, handle_errors
from kafka_backup.cli.locate import job_config
from kafka_backup.cli.progress import ProgressLine, wants_progress
from kafka_backup.cli.runtime import MetricsOptions, metrics_options, telemetry_session
from kafka_backup.cli.summary import block, counted, human_bytes, human_duration
from kafka_backup.engine.catalog.inventory import iso_ms
from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.errors import ConfigError
from kafka_backup.engine.restore.plan import RestorePlan, describe_occupancy
from kafka_backup.engine.restore.progress import Progress, RestoreSummary
from kafka_backup.engine.restore.run import RestoreRun
from kafka_backup.telemetry import ClientStats, kafka_logger


def show_restore_progress(line: ProgressLine, p: Progress) -> None:
    line.update(p.done, p.total, f"{p.done:,}/{p.total:,} records  {p.rate:,.0f} rec/s")


_EXISTING = {
    "refuse": "the restore will refuse to start (choose --existing-data append or truncate)",
    "append": "restored records go after them (--existing-data append)",
    "truncate": "they are deleted first (--existing-data truncate)",
}


def render_plan(plan: RestorePlan) -> str:
    """The dry-run plan as a table for people."""
    skipped = sum(p.skipped_segments for p in plan.partitions)
    records = counted(plan.records, "record")
    size = human_bytes(plan.bytes) if plan.bytes_exact else f"~{human_bytes(plan.bytes)}"
    lines = [
        f"Restore plan {plan.restore_id} (backup {plan.backup_id}): {'' if plan.exact else 'at most '}{records}, "
        f"{size}, {counted(plan.segments, 'segment')} to read, {skipped:,} skipped by the selection",
    ]
    for t in plan.topics:
        if t.create:
            action = f"create ({counted(t.partitions, 'partition')}, RF {t.replication_factor})"
        else:
            action = f"existing topic ({counted(t.partitions, 'partition')})"
        how = ", repartition by murmur2(key)" if t.repartition else ""
        lines.append(f"  topic {t.source_topic} -> {t.target_topic}: {action}{how}")
    if plan.occupied:
        lines.append(f"  target already holds records: {describe_occupancy(plan.occupied)}")
        lines.append(f"    {_EXISTING[plan.existing_data]}")
    lines.append(f"  {'SOURCE':<36} {'TARGET':<36} {'RECORDS':>12} {'BYTES':>10}  OFFSETS  TIME")
    for p in plan.partitions:
        target = f"{p.target_topic}-{p.targets[0]}" if len(p.targets) == 1 else f"{p.target_topic}-(murmur2)"
        records = f"{'<=' if not p.exact else ''}{p.records:,}"
        nbytes = f"{'' if p.bytes_exact else '~'}{human_bytes(p.bytes)}"
        span = f"{p.first_offset}..{p.last_offset}" if p.first_offset is not None else "-"
        times = f"{iso_ms(p.min_timestamp)}..{iso_ms(p.max_timestamp)}" if p.min_timestamp is not None else "-"
        source = f"{p.source_topic}-{p.source_partition}"
        lines.append(f"  {source:<36} {target:<36} {records:>12} {nbytes:>10}  {span}  {times}")
        if p.lost_ranges:
            lost = "range of the selection was" if p.lost_ranges == 1 else "ranges of the selection were"
            lines.append(f"    warning: {p.lost_ranges} {lost} lost to retention at backup time")
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
        ("Segments", f"{s.segments_read:,} read, {s.segments_skipped:,} skipped by the selection"),
    ]
    if s.truncated_records:
        rows.append(("Target truncated", f"{counted(s.truncated_records, 'record')} deleted first"))
    elif s.existing_records:
        rows.append(("Target held", f"{counted(s.existing_records, 'record')} before (appended after them)"))
    if s.topics_created:
        rows.append(("Topics created", ", ".join(s.topics_created)))
    if s.offset_reset:
        rows.append(("Consumer groups reset", ", ".join(r["group"] for r in s.offset_reset)))
    rows += [("Left out", str(f)) for f in s.left_out]
    title = "Restore completed successfully" if s.status == "success" else f"Restore {s.status}"
    if s.status == "success" and s.left_out:
        title = f"Restore completed PARTIALLY: the backup is incomplete, {len(s.left_out)} shortfall(s) left out"
    return block(title, rows)


def build_config(config_path: Path | None, overrides: dict[str, tuple[str, Any]]) -> RestoreConfig:
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
    "--existing-data",
    type=click.Choice(["refuse", "append", "truncate"]),
    metavar="POLICY",
    help="Non-empty target: refuse (default), append, or truncate it first.",
)
@click.option("--verify-first", is_flag=True, help="Check every segment's SHA-256 before writing anything.")
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
    existing_data: str | None,
    verify_first: bool,
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
            "backup_id": ("--backup-id", backup_id),
            "storage.url": ("--storage-url", storage_url),
            "target.bootstrap_servers": ("--bootstrap-servers", bootstrap_servers),
            "restore_id": ("--restore-id", restore_id),
            "topics.include": ("--topic", topics),
            "topic_map": ("--topic-map", _pairs(topic_map, "--topic-map") or None),
            "time_window.from": ("--from", time_from),
            "time_window.to": ("--to", time_to),
            "repartition": ("--repartition", repartition),
            "create_topics.replication_factor": ("--replication-factor", replication_factor),
            "rate_limit.records_per_sec": ("--max-records-per-sec", max_records_per_sec),
            "rate_limit.bytes_per_sec": ("--max-bytes-per-sec", max_bytes_per_sec),
            "consumer_groups.reset": ("--reset-consumer-groups", reset_consumer_groups),
            "existing_data": ("--existing-data", existing_data),
            "verify_first": ("--verify-first", verify_first),
            "allow_partial": ("--allow-partial", allow_partial),
        },
    )
    if dry_run:
        plan = RestoreRun(config).plan()
        click.echo(json.dumps(plan.to_dict()) if as_json else render_plan(plan))
        return
    bar = ProgressLine("restore") if wants_progress(no_progress, as_json) else None
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
            on_progress=None if bar is None else functools.partial(show_restore_progress, bar),
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
