"""The only place that maps engine errors to exit codes and one-line messages."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
import structlog

from kafka_backup.cli.error_line import emit_error
from kafka_backup.engine.errors import BackupError
from kafka_backup.telemetry import MetricsFileError, TelemetryError

P = ParamSpec("P")
R = TypeVar("R")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

log = structlog.get_logger("kafka_backup.cli")


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
        except BackupError as exc:
            sys.exit(report(exc, as_json=as_json))
        except TelemetryError as exc:
            code = EXIT_FAILED if isinstance(exc, MetricsFileError) else EXIT_USAGE
            emit_error(exc.code, str(exc), None, code, as_json=as_json)
            sys.exit(code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:
            log.exception("internal_error")
            hint = "a bug: please report it with the log above"
            emit_error("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}", hint, EXIT_FAILED, as_json=as_json)
            sys.exit(EXIT_FAILED)

    return wrapper
