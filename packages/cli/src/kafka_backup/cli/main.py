"""Entry point of the ``kafka-backup`` command."""

from __future__ import annotations

from importlib.metadata import version

import click
from kafka_backup.cli.backup_cmd import backup


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version("kafka-backup"), prog_name="kafka-backup")
def cli() -> None:
    """Back up Apache Kafka topics to object storage and restore them."""


cli.add_command(backup)


def main() -> None:
    cli()
