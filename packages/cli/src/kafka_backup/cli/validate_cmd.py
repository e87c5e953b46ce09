"""``kafka-backup validate``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kafka_backup.cli.errors import EXIT_FAILED, handle_errors
from kafka_backup.cli.locate import locate, storage_options
from kafka_backup.cli.runtime import MetricsOptions, metrics_options, telemetry_session
from kafka_backup.engine import validate_backup


@click.command("validate")
@storage_options
@click.option("--deep", is_flag=True, help="Also decode every segment and check every record against the manifest.")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@metrics_options
@handle_errors
def validate_cmd(
    config_path: Path | None,
    storage_url: str | None,
    backup_id: str | None,
    deep: bool,
    as_json: bool,
    metrics: MetricsOptions,
) -> None:
    """Check a backup: manifests, every segment's size and SHA-256, offset coverage (exit 1 on any defect)."""
    located = locate(config_path, storage_url, backup_id)
    bid = located.require_backup_id()
    with telemetry_session(metrics, secrets=located.secrets()) as telemetry:
        report = validate_backup(located.store(telemetry.metrics), bid, deep=deep, metrics=telemetry.metrics)
    click.echo(report.to_json() if as_json else report.render())
    if not report.valid:
        sys.exit(EXIT_FAILED)
