"""The only place that maps engine errors to exit codes and one-line messages.

The engine's and telemetry's error classes are imported when an error is being reported, not with this module:
every command imports it, and ``--help`` must not pay for the engine.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click

if TYPE_CHECKING:
    from kafka_backup.engine.errors import BackupError

P = ParamSpec("P")
R = TypeVar("R")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def report(exc: BackupError) -> int:
    click.echo(f"error[{exc.code}]: {exc}", err=True)
    return exc.exit_code


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Expected errors → one line + exit code; anything else → one line naming the bug, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:
            sys.exit(_report_any(exc))

    return wrapper


def _report_any(exc: Exception) -> int:
    """One line for ``exc``; returns the exit code. Imports the error trees only now that one is needed."""
    from kafka_backup.engine.errors import BackupError  # noqa: PLC0415 - lazy: see the module docstring
    from kafka_backup.telemetry.errors import MetricsFileError, TelemetryError  # noqa: PLC0415

    if isinstance(exc, BackupError):
        return report(exc)
    if isinstance(exc, TelemetryError):
        click.echo(f"error[{exc.code}]: {exc}", err=True)
        return EXIT_FAILED if isinstance(exc, MetricsFileError) else EXIT_USAGE
    import structlog  # noqa: PLC0415

    structlog.get_logger("kafka_backup.cli").exception("internal_error", exc_info=exc)
    click.echo(
        f"error[INTERNAL_ERROR]: {type(exc).__name__}: {exc} (a bug: please report it with the log above)",
        err=True,
    )
    return EXIT_FAILED
