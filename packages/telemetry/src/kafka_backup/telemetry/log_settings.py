"""What ``KAFKA_BACKUP_LOG_FORMAT`` and ``KAFKA_BACKUP_LOG_LEVEL`` (or the CLI's flags) ask of logging, read without
importing structlog: :mod:`.logs` builds the pipeline from it, :mod:`.deferred_logs` sets the same levels before
the pipeline exists.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import NamedTuple

from kafka_backup.telemetry import env as names

__all__ = ["LEVELS", "STAND_IN", "LogFormat", "LogSettings", "parse_levels", "read_log_settings", "remove_stand_ins"]

STAND_IN = "kafka_backup_stand_in"
"""Attribute set on :mod:`.deferred_logs`'s stand-in handler: ``configure_logging`` takes such handlers off the root
logger (by this mark, so that :mod:`.logs` need not import the module that imports it)."""

LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "off": logging.CRITICAL + 10,
}
"""Level names a ``KAFKA_BACKUP_LOG_LEVEL`` directive may use."""


class LogFormat(StrEnum):
    """``KAFKA_BACKUP_LOG_FORMAT`` values."""

    TEXT = "text"
    JSON = "json"


class LogSettings(NamedTuple):
    """The format, the root level, per-logger levels, and the settings that could not be used (with why)."""

    format: LogFormat
    root_level: int
    levels: dict[str, int]
    problems: list[str]


def parse_levels(spec: str) -> tuple[int, dict[str, int], list[str]]:
    """Parse ``info,kafka=debug,kafka_backup.engine=warning`` into a root level, per-logger levels and problems."""
    root = logging.INFO
    levels: dict[str, int] = {}
    problems: list[str] = []
    for raw in spec.split(","):
        directive = raw.strip()
        if not directive:
            continue
        name, sep, level_name = directive.rpartition("=")
        level = LEVELS.get(level_name.strip().lower())
        if level is None:
            problems.append(
                f"{names.KAFKA_BACKUP_LOG_LEVEL}: unknown level {level_name!r} in {directive!r} "
                f"(use one of {', '.join(LEVELS)})"
            )
            continue
        if sep:
            levels[name.strip()] = level
        else:
            root = level
    return root, levels, problems


def read_log_settings(env: Mapping[str, str], fmt: str | None = None, level: str | None = None) -> LogSettings:
    """The settings ``fmt`` and ``level`` give, else ``env``'s; an unknown format or level is a problem (the
    default is used in its place)."""
    problems: list[str] = []
    raw_format = (fmt if fmt is not None else env.get(names.KAFKA_BACKUP_LOG_FORMAT, "")).strip().lower()
    try:
        log_format = LogFormat(raw_format or LogFormat.TEXT.value)
    except ValueError:
        problems.append(f"{names.KAFKA_BACKUP_LOG_FORMAT}={raw_format!r} is not text or json; using text")
        log_format = LogFormat.TEXT
    root_level, levels, level_problems = parse_levels(
        level if level is not None else env.get(names.KAFKA_BACKUP_LOG_LEVEL, "info")
    )
    return LogSettings(log_format, root_level, levels, problems + level_problems)


def remove_stand_ins(root: logging.Logger) -> None:
    """Take a deferred configuration's stand-in handler off ``root`` (``configure_logging`` does as it installs the
    real handlers; with it goes the pending configuration)."""
    for handler in [h for h in root.handlers if getattr(h, STAND_IN, False)]:
        root.removeHandler(handler)
