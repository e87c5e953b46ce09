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
from kafka_backup.telemetry.redact import default_redactor

P = ParamSpec("P")
R = TypeVar("R")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

log = structlog.get_logger("kafka_backup.cli")


def _echo_error(line: str) -> None:
    # the same redaction as the logs: an exception's text may quote a URL, a header or a configuration value
    click.echo(default_redactor().redact_text(line), err=True)


def report(exc: BackupError) -> int:
    _echo_error(f"error[{exc.code}]: {exc}")
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
            _echo_error(f"error[{exc.code}]: {exc}")
            sys.exit(EXIT_FAILED if isinstance(exc, MetricsFileError) else EXIT_USAGE)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:
            log.exception("internal_error")
            bug = "a bug: please report it with the log above"
            _echo_error(f"error[INTERNAL_ERROR]: {type(exc).__name__}: {exc} ({bug})")
            sys.exit(EXIT_FAILED)

    return wrapper
