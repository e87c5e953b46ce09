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

from kafka_backup.cli.error_line import emit_error

if TYPE_CHECKING:
    from kafka_backup.engine import BackupError

P = ParamSpec("P")
R = TypeVar("R")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def report(exc: BackupError, *, as_json: bool = False) -> int:
    emit_error(exc.code, exc.message, exc.hint, exc.exit_code, as_json=as_json)
    return exc.exit_code


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Expected errors → one line + exit code; anything else → one line naming the bug, never a traceback.

    A command with ``--json`` (an ``as_json`` argument) also gets the error as a JSON object on stdout."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        as_json = bool(kwargs.get("as_json"))
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, SystemExit, BrokenPipeError):
            raise  # click reports these (a closed stdout: quietly, exit 1), not a bug of ours
        except Exception as exc:
            sys.exit(_report_any(exc, as_json=as_json))

    return wrapper


def _report_any(exc: Exception, *, as_json: bool) -> int:
    """One line for ``exc`` (and the JSON object with ``as_json``); returns the exit code. Imports the error trees
    only now that one is needed."""
    from kafka_backup.engine import BackupError  # noqa: PLC0415 - lazy: see the module docstring
    from kafka_backup.telemetry import MetricsFileError, TelemetryError  # noqa: PLC0415

    if isinstance(exc, BackupError):
        return report(exc, as_json=as_json)
    if isinstance(exc, TelemetryError):
        code = EXIT_FAILED if isinstance(exc, MetricsFileError) else EXIT_USAGE
        emit_error(exc.code, str(exc), None, code, as_json=as_json)
        return code
    import structlog  # noqa: PLC0415

    from kafka_backup.telemetry import ensure_logging  # noqa: PLC0415

    ensure_logging()  # a command that configures logging on its first record has not yet (main.py)
    structlog.get_logger("kafka_backup.cli").exception("internal_error", exc_info=exc)
    hint = "a bug: please report it with the log above"
    emit_error("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}", hint, EXIT_FAILED, as_json=as_json)
    return EXIT_FAILED
