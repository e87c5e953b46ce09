"""``kafka-backup backup``."""

from __future__ import annotations

import functools
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from kafka_backup.cli.errors import handle_errors
from kafka_backup.cli.progress import ProgressLine, wants_progress
from kafka_backup.cli.runtime import MetricsOptions, metrics_options, telemetry_session
from kafka_backup.cli.summary import backup_block, counted, human_bytes
from kafka_backup.engine import (
    BackupConfig,
    BackupProgress,
    BackupRun,
    BackupSummary,
    Repository,
    load_config,
    summary_json,
)
from kafka_backup.telemetry import QuietTelemetry, kafka_logger


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGTERM/SIGINT ask the run to flush and commit open segments, then exit."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def show_backup_progress(line: ProgressLine, p: BackupProgress) -> None:
    """A bar over the snapshot's known total, or a status line in continuous mode. Nothing while no partition is
    assigned (the ``waiting_for_partitions`` log line says why); the line ends when this worker's share is done, so
    the log lines of the shutdown do not run into it."""
    if p.waiting:
        return
    rate = f"{p.rate:,.0f} rec/s"
    if p.total is None:
        lag = "lag -" if p.lag is None else f"lag {p.lag:,}"
        info = f"{counted(p.records, 'record')}  {human_bytes(p.bytes)}  {lag}  {rate}"
    else:
        done = f"{p.partitions_done}/{counted(p.partitions, 'partition')}"
        info = f"{p.records:,}/{p.total:,} records  {human_bytes(p.bytes)}  {done}  {rate}"
    line.update(p.records, p.total, info)
    if p.total is not None and p.partitions and p.partitions_done == p.partitions and p.records >= p.total:
        line.close()


def _run(
    config: BackupConfig,
    metrics: MetricsOptions,
    endpoint: tuple[str, int, str] | None,
    bar: ProgressLine | None = None,
) -> BackupSummary:
    stop = threading.Event()
    install_stop_handlers(stop)
    holder: list[BackupRun] = []
    checks = {
        "kafka": lambda: bool(holder) and holder[0].source is not None,
        "storage": lambda: bool(holder) and Repository(holder[0].store).has_backup(config.backup_id),
    }
    with telemetry_session(metrics, secrets=config.secrets(), checks=checks, config_endpoint=endpoint) as telemetry:
        # librdkafka's statistics feed only the client metrics: a quiet run (no endpoint, file or OTLP) has no reader
        # for them, so it asks for none, and its shutdown does not wait for a last report (0.5 s of a short run)
        stats_cb = None
        if not isinstance(telemetry, QuietTelemetry):
            from kafka_backup.telemetry import ClientStats  # noqa: PLC0415 - only a run with a metrics reader

            stats_cb = ClientStats(telemetry.metrics).callback
        run = BackupRun(
            config,
            metrics=telemetry.metrics,
            stop=stop,
            stats_cb=stats_cb,
            kafka_logger=kafka_logger("backup"),
            on_progress=None if bar is None else functools.partial(show_backup_progress, bar),
        )
        holder.append(run)
        try:
            return run.run()
        finally:
            if bar is not None:
                bar.close()


@click.command("backup")
@click.option(
    "--config", "-c", "config_path", required=True, type=click.Path(path_type=Path), help="Backup job YAML file."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object (for scripts).")
@click.option("--no-progress", is_flag=True, help="No progress bar (or status line), even on a terminal.")
@metrics_options
@handle_errors
def backup(config_path: Path, as_json: bool, no_progress: bool, metrics: MetricsOptions) -> None:
    """Back up the topics selected by the config to its storage URL.

    On a terminal a snapshot backup shows a progress bar (records of the known total, bytes, partitions done,
    rate, ETA) and a continuous one a status line (records, lag, rate), on stderr.

    SIGTERM/SIGINT commit what was read and exit: 0 in continuous mode, 1 for a snapshot stopped before its end
    (rerun the same command to resume it).
    """
    config = load_config(BackupConfig, config_path)
    endpoint = (config.metrics.host, config.metrics.port, config.metrics.path) if config.metrics.enabled else None
    bar = ProgressLine("backup") if wants_progress(no_progress, as_json) else None
    summary = _run(config, metrics, endpoint, bar)
    if as_json:
        click.echo(summary_json(summary))
    else:
        click.echo(backup_block(summary))
    if summary.status == "stopped":
        raise SystemExit(1)  # a snapshot stopped before its end is not a backup to rely on yet


@click.command("service")
@click.option(
    "--config", "-c", "config_path", required=True, type=click.Path(path_type=Path), help="Backup job YAML file."
)
@metrics_options
@handle_errors
def service(config_path: Path, metrics: MetricsOptions) -> None:
    """Run a backup job as a long-running service: continuous mode, /metrics /healthz /readyz always on.

    The endpoint is the config's `metrics:` section (default 127.0.0.1:8080/metrics) unless --expose-metrics is
    given. SIGTERM/SIGINT flush and commit open segments, then exit 0.
    """
    config = load_config(BackupConfig, config_path)
    config = config.model_copy(update={"mode": "continuous"})
    endpoint = (config.metrics.host, config.metrics.port, config.metrics.path)
    summary = _run(config, metrics, endpoint)
    click.echo(backup_block(summary))
