"""``kafka-backup backup``."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click
from kafka_backup.cli.errors import handle_errors
from kafka_backup.cli.summary import backup_block
from kafka_backup.engine.backup import BackupRun, summary_json
from kafka_backup.engine.config import BackupConfig, load_config


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGTERM/SIGINT ask the run to flush and commit open segments, then exit; a second signal is not needed."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@click.command("backup")
@click.option(
    "--config", "-c", "config_path", required=True, type=click.Path(path_type=Path), help="Backup job YAML file."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object (for scripts).")
@handle_errors
def backup(config_path: Path, as_json: bool) -> None:
    """Back up the topics selected by the config to its storage URL."""
    config = load_config(BackupConfig, config_path)
    stop = threading.Event()
    install_stop_handlers(stop)
    summary = BackupRun(config, stop=stop).run()
    if as_json:
        click.echo(summary_json(summary))
    else:
        click.echo(backup_block(summary.records, summary.duration_s, summary.compressed_bytes, summary.ratio))
