"""Logging: structlog configured once over stdlib logging, so our events, third-party and librdkafka lines share one
pipeline, one format, one redaction and (when configured) one OTLP export.

Pipeline, run once per record in the thread that logs (so the current span is the right one)::

    contextvars -> logger name -> level -> extra= fields -> timestamp -> trace_id/span_id -> exc_info -> redaction
        -> text (ConsoleRenderer, colour only on a TTY) or JSON (one object per line) on stderr
        -> OTLP log record (body = event, attributes = the other fields), when an OTLP logs endpoint is set

Engine code logs events with bound context and constant event names::

    log = get_logger(__name__).bind(backup_id=backup_id)
    log.info("segment_committed", topic=topic, partition=3, records=500)

stdlib loggers work too (``logging.getLogger(__name__).info("x", extra={"topic": t})``). Output goes to stderr so a
CLI's stdout stays for its results.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor

from kafka_backup.telemetry.log_settings import LogFormat, parse_levels, read_log_settings, remove_stand_ins
from kafka_backup.telemetry.redact import Redactor, default_redactor
from kafka_backup.telemetry.repeats import RepeatFilter, flush_repeats

if TYPE_CHECKING:
    # a type only: list and describe configure logging without the OpenTelemetry SDK
    from opentelemetry.sdk._logs import LoggerProvider

__all__ = [
    "KAFKA_LOGGER_NAME",
    "LogFormat",
    "LoggingConfig",
    "add_trace_context",
    "configure_logging",
    "get_logger",
    "kafka_logger",
    "parse_levels",
    "reset_logging",
]

KAFKA_LOGGER_NAME = "kafka"
"""Logger librdkafka's lines go to; ``KAFKA_BACKUP_LOG_LEVEL=info,kafka=debug`` shows them at debug."""


@dataclass(frozen=True)
class LoggingConfig:
    """What ``configure_logging`` installed; ``problems`` are the settings it could not use (already warned)."""

    format: LogFormat
    root_level: int
    levels: Mapping[str, int]
    redactor: Redactor
    handlers: tuple[logging.Handler, ...] = field(repr=False)
    problems: tuple[str, ...] = ()


def add_trace_context(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
    """Add ``trace_id`` and ``span_id`` (hex, as in OTLP) when the line is logged inside a recording span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def _shared_chain(redactor: Redactor) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        structlog.processors.StackInfoRenderer(),
        # Tracebacks become text here so redaction sees them before any renderer or exporter does.
        structlog.processors.format_exc_info,
        redactor,
    ]


_installed: list[logging.Handler] = []
_levelled: list[str] = []


def configure_logging(
    *,
    environ: Mapping[str, str] | None = None,
    fmt: str | None = None,
    level: str | None = None,
    stream: IO[str] | None = None,
    logger_provider: LoggerProvider | None = None,
    redactor: Redactor | None = None,
) -> LoggingConfig:
    """Configure structlog and stdlib logging for the process; calling it again replaces the previous setup.

    ``fmt`` and ``level`` override ``KAFKA_BACKUP_LOG_FORMAT`` / ``KAFKA_BACKUP_LOG_LEVEL`` (the CLI's flags).
    ``stream`` defaults to stderr. ``logger_provider`` adds OTLP export of the same records (``setup()`` passes it
    when an OTLP logs endpoint is set). ``redactor`` defaults to the process-wide one ``register_secret`` feeds.
    An unknown format or level is warned about and the default used.
    """
    env = os.environ if environ is None else environ
    redactor = redactor if redactor is not None else default_redactor()
    log_format, root_level, levels, problems = read_log_settings(env, fmt, level)

    shared = _shared_chain(redactor)
    output = stream if stream is not None else sys.stderr
    renderer: Processor
    if log_format is LogFormat.JSON:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_isatty(output))
    console = logging.StreamHandler(output)
    console.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    handlers: list[logging.Handler] = [console]
    if logger_provider is not None:
        # imported here: OpenTelemetry's logging instrumentation takes ~60 ms to import, paid only with OTLP logs
        from kafka_backup.telemetry.otlp_logs import OtlpLogHandler  # noqa: PLC0415

        handlers.append(OtlpLogHandler(logger_provider, shared))

    root = logging.getLogger()
    remove_stand_ins(root)
    for handler in _installed:
        root.removeHandler(handler)
    for name in _levelled:
        logging.getLogger(name).setLevel(logging.NOTSET)
    _installed[:] = handlers
    _levelled[:] = list(levels)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(root_level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)

    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached, so a later configure_logging (tests, the CLI after parsing flags) reaches existing loggers.
        cache_logger_on_first_use=False,
    )
    log = logging.getLogger("kafka_backup.telemetry")
    for problem in problems:
        log.warning("log_setting_ignored", extra={"problem": problem})
    return LoggingConfig(log_format, root_level, levels, redactor, tuple(handlers), tuple(problems))


def reset_logging() -> None:
    """Remove what ``configure_logging`` installed (handlers, logger levels, structlog config); for tests."""
    flush_repeats()
    root = logging.getLogger()
    remove_stand_ins(root)
    for handler in _installed:
        root.removeHandler(handler)
        handler.close()
    for name in _levelled:
        logging.getLogger(name).setLevel(logging.NOTSET)
    _installed.clear()
    _levelled.clear()
    root.setLevel(logging.WARNING)
    structlog.reset_defaults()


def get_logger(name: str | None = None, **context: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger named ``name`` (use ``__name__``), bound to ``context``."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**context) if context else logger


def kafka_logger(client: str | None = None) -> logging.Logger:
    """The stdlib logger to pass as confluent-kafka's ``logger`` config, so librdkafka lines join our pipeline.

    ``client`` names a child (``kafka.backup-consumer``) to tell clients apart; levels set on ``kafka`` apply to all.
    librdkafka delivers its lines from ``poll()``/``consume()``/``flush()``, in the calling thread. Repeated lines
    are collapsed by a :class:`~kafka_backup.telemetry.repeats.RepeatFilter` on the logger (one per logger).
    """
    logger = logging.getLogger(f"{KAFKA_LOGGER_NAME}.{client}" if client else KAFKA_LOGGER_NAME)
    if not any(isinstance(f, RepeatFilter) for f in logger.filters):
        logger.addFilter(RepeatFilter())
    return logger


def _isatty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
