"""Entry point of the ``kafka-backup`` command."""

from __future__ import annotations

from importlib.metadata import version

import click

from kafka_backup.cli.backup_cmd import backup, service
from kafka_backup.cli.catalog_cmd import describe_cmd, list_cmd, prune_cmd
from kafka_backup.cli.drill_cmd import drill
from kafka_backup.cli.offset_reset_cmd import offset_reset
from kafka_backup.cli.restore_cmd import restore
from kafka_backup.cli.validate_cmd import validate_cmd
from kafka_backup.telemetry import configure_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version("kafka-backup"), prog_name="kafka-backup")
def cli() -> None:
    """Back up Apache Kafka topics to object storage and restore them."""
    # logs go to stderr from the first line on, so stdout holds only results (--json stays parseable);
    # commands with a telemetry session re-configure with OTLP export when it is set up
    configure_logging()


cli.add_command(backup)
cli.add_command(service)
cli.add_command(restore)
cli.add_command(offset_reset)
cli.add_command(validate_cmd)
cli.add_command(list_cmd)
cli.add_command(describe_cmd)
cli.add_command(prune_cmd)
cli.add_command(drill)


def main() -> None:
    cli()
