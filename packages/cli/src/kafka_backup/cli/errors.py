"""The only place that maps engine errors to exit codes and one-line messages."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
import structlog

from kafka_backup.engine.errors import BackupError
from kafka_backup.telemetry import MetricsFileError, TelemetryError

P = ParamSpec("P")
R = TypeVar("R")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

log = structlog.get_logger("kafka_backup.cli")


def report(exc: BackupError) -> int:
    click.echo(f"error[{exc.code}]: {exc}", err=True)
    return exc.exit_code


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Expected errors → one line + exit code; anything else → one line naming the bug, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except BackupError as exc:
            sys.exit(report(exc))
        except TelemetryError as exc:
            click.echo(f"error[{exc.code}]: {exc}", err=True)
            sys.exit(EXIT_FAILED if isinstance(exc, MetricsFileError) else EXIT_USAGE)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:
            log.exception("internal_error")
            click.echo(
                f"error[INTERNAL_ERROR]: {type(exc).__name__}: {exc} (a bug: please report it with the log above)",
                err=True,
            )
            sys.exit(EXIT_FAILED)

    return wrapper
