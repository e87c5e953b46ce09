"""``kafka-backup drill``."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import click

from kafka_backup.cli.backup_cmd import install_stop_handlers
from kafka_backup.cli.error_line import emit_error
from kafka_backup.cli.errors import EXIT_FAILED, handle_errors
from kafka_backup.cli.locate import job_config
from kafka_backup.cli.runtime import MetricsOptions, metrics_options, telemetry_session
from kafka_backup.cli.summary import block, human_duration
from kafka_backup.engine import DrillConfig, DrillReport, DrillRun
from kafka_backup.telemetry import ClientStats, kafka_logger


def build_config(config_path: Path | None, overrides: dict[str, tuple[str, Any]]) -> DrillConfig:
    """The drill YAML (if any) with the command-line overrides applied, validated as one document."""
    return job_config(DrillConfig, config_path, overrides)


def render(r: DrillReport) -> str:
    """The drill summary for people: the verdict, the score and why, then every partition that did not match."""
    verdict = {"pass": "passed", "partial": "PARTIAL", "fail": "FAILED"}[r.result]
    if r.stopped:
        verdict = "stopped"
    d = r.deductions
    records = (
        f"{r.total('matched'):,} of {r.total('expected'):,} verified ({r.total('missing'):,} missing, "
        f"{r.total('unexpected'):,} unexpected, {r.total('misordered'):,} out of order)"
    )
    rto = "-" if r.rto_s is None else human_duration(r.rto_s)
    if r.rto_target_s is not None:
        rto += f" (target {human_duration(r.rto_target_s)})"
    if r.scratch_deleted:
        scratch = f"{len(r.scratch_topics)} deleted ({r.scratch_prefix}*)"
    elif r.cleanup_error:
        scratch = f"NOT deleted ({r.scratch_prefix}*): {r.cleanup_error}"
    else:
        scratch = f"kept: {', '.join(r.scratch_topics) or '-'}"
    points = f"-{d.data:.2f} data, -{d.integrity:.2f} integrity, -{d.rto:.2f} RTO"
    rows = [
        ("Score", f"{r.score:g} / 100 (pass at {r.min_score:g}): {points}"),
        ("Records", records),
        ("RTO", rto),
        ("Duration", human_duration(r.duration_s)),
        ("Backup age", "-" if r.backup_age_s is None else human_duration(r.backup_age_s)),
        ("Defects", f"{len(r.defects)} ({r.segments_skipped} unrestorable segments restored around)"),
        ("Scratch topics", scratch),
    ]
    if r.shortfalls:
        rows.insert(0, ("Backup", f"INCOMPLETE: {len(r.shortfalls)} shortfall(s); a drill of it cannot pass"))
    if r.error:
        rows.insert(0, ("Error", r.error))
    lines = [block(f"Restore drill {r.drill} (backup {r.backup_id}) {verdict}", rows)]
    lines += [f"  incomplete {f}" for f in r.shortfalls]
    lines += [f"  defect  {f}" for f in r.defects]
    for p in r.partitions:
        if not p.ok:
            lines.append(
                f"  mismatch {p.topic}-{p.partition}: {p.matched:,}/{p.expected:,} matched, {p.missing:,} missing, "
                f"{p.unexpected:,} unexpected, {p.misordered:,} out of order, {p.restored:,} read back"
            )
    return "\n".join(lines)


@click.command("drill")
@click.option("--config", "-c", "config_path", type=click.Path(path_type=Path), help="Drill YAML file.")
@click.option("--backup-id", "-b", help="Backup to drill (overrides backup_id).")
@click.option("--storage-url", "-s", envvar="KAFKA_BACKUP_STORAGE_URL", help="Storage URL (overrides storage.url).")
@click.option("--bootstrap-servers", help="Cluster for the scratch topics (overrides target.bootstrap_servers).")
@click.option("--name", "-n", "drill_name", help="Drill name, the `drill` metric label (default: the backup id).")
@click.option("--topic", "-t", "topics", multiple=True, help="Topics to drill (glob or re:; repeatable).")
@click.option("--exclude-topic", "exclude", multiple=True, help="Topics to leave out (glob or re:; repeatable).")
@click.option("--sample-records", type=int, metavar="N",
              help="Per partition, drill only the newest whole segments holding at least N records.")  # fmt: skip
@click.option("--rto-target", type=float, metavar="SECONDS", help="Reduce the score when the restore takes longer.")
@click.option("--min-score", type=float, help="Pass at this score or above (0-100, default 100).")
@click.option("--deep", is_flag=True, help="Validate deeply: decode every segment and check every record.")
@click.option("--keep", is_flag=True, help="Keep the scratch topics for inspection (delete them yourself).")
@click.option("--replication-factor", type=int, help="Replication factor of the scratch topics.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@metrics_options
@handle_errors
def drill(
    *,
    config_path: Path | None,
    backup_id: str | None,
    storage_url: str | None,
    bootstrap_servers: str | None,
    drill_name: str | None,
    topics: tuple[str, ...],
    exclude: tuple[str, ...],
    sample_records: int | None,
    rto_target: float | None,
    min_score: float | None,
    deep: bool,
    keep: bool,
    replication_factor: int | None,
    as_json: bool,
    metrics: MetricsOptions,
) -> None:
    """Prove a backup restores: restore it into scratch topics, compare every record, delete them (exit 1 unless
    the score reaches --min-score)."""
    config = build_config(
        config_path,
        {
            "backup_id": ("--backup-id", backup_id),
            "storage.url": ("--storage-url", storage_url),
            "target.bootstrap_servers": ("--bootstrap-servers", bootstrap_servers),
            "drill": ("--name", drill_name),
            "topics.include": ("--topic", topics),
            "topics.exclude": ("--exclude-topic", exclude),
            "sample_records": ("--sample-records", sample_records),
            "rto_target_s": ("--rto-target", rto_target),
            "min_score": ("--min-score", min_score),
            "deep": ("--deep", deep),
            "keep": ("--keep", keep),
            "replication_factor": ("--replication-factor", replication_factor),
        },
    )
    stop = threading.Event()
    install_stop_handlers(stop)
    with telemetry_session(metrics, secrets=config.secrets()) as telemetry:
        client_extra = {
            "stats_cb": ClientStats(telemetry.metrics).callback,
            "statistics.interval.ms": 1000,
            "logger": kafka_logger("drill"),
        }
        report = DrillRun(config, metrics=telemetry.metrics, stop=stop, client_extra=client_extra).run()
    click.echo(json.dumps(report.to_dict()) if as_json else render(report))
    if report.cleanup_error:
        click.echo(
            f"warning: scratch topics {report.scratch_prefix}* could not be deleted: {report.cleanup_error}", err=True
        )
    if report.failure is not None:  # the drill could not run to its end: say why in the one error line
        failure = report.failure
        emit_error(failure.code, failure.message, failure.hint, EXIT_FAILED, as_json=False)
    if not report.passed:
        sys.exit(EXIT_FAILED)
