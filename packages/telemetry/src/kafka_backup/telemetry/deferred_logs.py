"""Logging configured on the first record, for commands whose normal run logs nothing (``list``, ``describe``).

:func:`~kafka_backup.telemetry.logs.configure_logging` imports structlog, which imports asyncio: together a tenth
of such a command's start-up, paid to print nothing. :func:`configure_logging_on_first_record` sets the levels
``configure_logging`` would (so the same records pass) and installs a stand-in root handler instead: the first
record that reaches it runs ``configure_logging`` and is then handled by the pipeline as if it had been there all
along. Output, levels and redaction are unchanged.

What the stand-in cannot see is a structlog call: a command that defers must not log through structlog unless it
calls :func:`ensure_logging` first (the CLI's error path does). Logging is configured at once when the settings
have a problem (``configure_logging`` warns about it on the spot) or when the pipeline's module is already loaded
(a second command in one process: nothing to save). Any ``configure_logging`` call takes the stand-in off, and with
it the pending configuration.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping

from kafka_backup.telemetry.log_settings import STAND_IN, read_log_settings, remove_stand_ins

__all__ = ["configure_logging_on_first_record", "ensure_logging"]

_LOGS_MODULE = "kafka_backup.telemetry.logs"
_lock = threading.RLock()


class _StandIn(logging.Handler):
    """The root handler until logging is configured: the first record configures it and is handed on."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__()
        self.environ = environ
        setattr(self, STAND_IN, True)

    def handle(self, record: logging.LogRecord) -> bool:
        ensure_logging()
        for handler in logging.getLogger().handlers:
            if not getattr(handler, STAND_IN, False) and record.levelno >= handler.level:
                handler.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() does the work
        raise AssertionError("unreachable: handle() is overridden")


def configure_logging_on_first_record(environ: Mapping[str, str] | None = None) -> None:
    """``configure_logging(environ=environ)`` when the first log record arrives (see the module docstring)."""
    env = dict(os.environ if environ is None else environ)
    settings = read_log_settings(env)
    if settings.problems or _LOGS_MODULE in sys.modules:
        from kafka_backup.telemetry.logs import configure_logging  # noqa: PLC0415 - nothing to defer

        configure_logging(environ=env)
        return
    root = logging.getLogger()
    with _lock:
        remove_stand_ins(root)
        root.addHandler(_StandIn(env))
    root.setLevel(settings.root_level)
    for name, value in settings.levels.items():
        logging.getLogger(name).setLevel(value)


def ensure_logging() -> None:
    """Run the pending ``configure_logging``, if a stand-in is installed; then every logger, structlog's too, is set
    up (a no-op when logging was configured otherwise)."""
    with _lock:
        pending = [h for h in logging.getLogger().handlers if isinstance(h, _StandIn)]
        if not pending:
            return
        from kafka_backup.telemetry.logs import configure_logging  # noqa: PLC0415 - the point of this module

        configure_logging(environ=pending[0].environ)  # takes the stand-in off
