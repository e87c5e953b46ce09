"""The ``kafka-backup`` console script: ``kafka-backup --version`` is answered before anything is imported (click
alone costs 50 ms of start-up); everything else goes to :func:`kafka_backup.cli.main.main`."""

from __future__ import annotations

import sys

from kafka_backup.cli.version import VERSION


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(f"kafka-backup, version {VERSION}\n")  # what click's version_option prints
        return
    from kafka_backup.cli.main import main as run  # noqa: PLC0415 - the point of this module

    run()
