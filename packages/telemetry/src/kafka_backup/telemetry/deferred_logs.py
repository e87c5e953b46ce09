"""Logging configured on the first record, for commands whose normal run logs nothing (``list``, ``describe``).

:func:`~kafka_backup.telemetry.logs.configure_logging` imports structlog, which imports asyncio: together a tenth
of such a command's start-up, paid to print nothing. :func:`configure_logging_on_first_record` sets the levels
``configure_logging`` would (so the same records pass) and installs a stand-in root handler instead: the first
record that reaches it runs ``configure_logging`` and is then handled by the pipeline as if it had been there all
along. Output, levels and redaction are unchanged.

What the stand-in cannot see is a structlog call: a command that defers must not log through structlog unless it
calls :func:`ensure_logging` first (the CLI's error path does). Logging is configured at once when the settings
have a problem (``configure_logging`` warns about it on the spot) or when the pipeline's module is already loaded
(a second command in one process: nothing to save).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping

from kafka_backup.telemetry.log_settings import read_log_settings

__all__ = ["configure_logging_on_first_record", "ensure_logging", "remove_stand_ins"]

_LOGS_MODULE = "kafka_backup.telemetry.logs"
_lock = threading.RLock()
_deferred: list[Mapping[str, str]] = []
"""The environment a deferred configuration will read (empty when none is pending)."""


class _StandIn(logging.Handler):
    """The root handler until logging is configured: the first record configures it and is handed on."""

    def handle(self, record: logging.LogRecord) -> bool:
        ensure_logging()
        for handler in logging.getLogger().handlers:
            if not isinstance(handler, _StandIn) and record.levelno >= handler.level:
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
        _deferred.append(env)
        root.addHandler(_StandIn())
    root.setLevel(settings.root_level)
    for name, value in settings.levels.items():
        logging.getLogger(name).setLevel(value)


def ensure_logging() -> None:
    """Run the deferred ``configure_logging``, if one is pending; then every logger, structlog's too, is set up."""
    with _lock:
        if not _deferred:
            return
        env = _deferred.pop()
        from kafka_backup.telemetry.logs import configure_logging  # noqa: PLC0415 - the point of this module

        configure_logging(environ=env)


def remove_stand_ins(root: logging.Logger) -> None:
    """Take the stand-in off ``root`` and drop a pending configuration: ``configure_logging`` calls this as it
    installs the real handlers, so a later :func:`ensure_logging` does not replace them."""
    with _lock:
        _deferred.clear()
        for handler in [h for h in root.handlers if isinstance(h, _StandIn)]:
            root.removeHandler(handler)
