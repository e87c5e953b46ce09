"""The ``kafka-backup`` console script: ``--version`` and the top-level ``--help`` are answered before anything else is
imported (click alone costs 50 ms of start-up); everything else goes to :func:`kafka_backup.cli.main.main`.

The help printed here is click's own, generated into :mod:`kafka_backup.cli.group_help` (a test fails on drift); it
is used where click would format at its full width (a terminal of 80 columns or more, or none), else click runs.
"""

from __future__ import annotations

import os
import sys

from kafka_backup.cli.version import VERSION

HELP_FLAGS = (["--help"], ["-h"])
FULL_WIDTH = 80
"""click formats help at ``min(columns, 80) - 2``: from 80 columns on, the generated text is what it prints."""


def _columns() -> int:
    """The terminal width as click reads it (``shutil.get_terminal_size``: ``COLUMNS``, then stdout; 80 when it is not
    a terminal), without importing shutil."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ is not None else FULL_WIDTH
    except (AttributeError, ValueError, OSError):
        return FULL_WIDTH


def main() -> None:
    try:
        try:
            _answer(sys.argv[1:])
        finally:
            sys.stdout.flush()  # now, not at interpreter exit, so that a reader gone away is handled below
    except BrokenPipeError:
        # whoever read stdout went away (`kafka-backup list | head -1`): stop quietly as click and Unix tools do,
        # exit 1 (the output was not all delivered), and point stdout at /dev/null so that exit does not fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)


def _answer(args: list[str]) -> None:
    if args == ["--version"]:
        sys.stdout.write(f"kafka-backup, version {VERSION}\n")  # what click's version_option prints
        return
    if args in HELP_FLAGS and os.path.basename(sys.argv[0]) == "kafka-backup" and _columns() >= FULL_WIDTH:
        from kafka_backup.cli.group_help import TEXT  # noqa: PLC0415 - only for this answer

        sys.stdout.write(TEXT)
        return
    from kafka_backup.cli.main import main as run  # noqa: PLC0415 - the point of this module

    run()
