"""Log records over OTLP: the same processed (redacted) event the console line shows, as an OpenTelemetry record.

A ``logging.Handler`` written against the OpenTelemetry logs API (``LoggerProvider.get_logger().emit()``), with the
recursion guard of the stock handler in ``opentelemetry-instrumentation-logging``. That package is not used: its
import (wrapt, semantic conventions, the instrumentor machinery) took about 0.1 s of every run that exports logs, for
a handler whose translation we replaced anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import MutableMapping, Sequence
from contextvars import ContextVar
from time import time_ns
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.context import get_current
from opentelemetry.sdk._logs import LoggerProvider
from structlog.typing import Processor

_OTLP_OWN_FIELDS = ("event", "timestamp", "level", "logger", "trace_id", "span_id")
"""Fields an OTLP log record carries in its own slots, not as attributes."""

_SEVERITY_BASE = {
    10: SeverityNumber.DEBUG,
    20: SeverityNumber.INFO,
    30: SeverityNumber.WARN,
    40: SeverityNumber.ERROR,
    50: SeverityNumber.FATAL,
}


def severity(levelno: int) -> SeverityNumber:
    """The OpenTelemetry severity of a stdlib level: DEBUG..FATAL, levels between steps as the 2-4 variants (the
    mapping of the logs data model, as in OpenTelemetry's own handler)."""
    if levelno < logging.DEBUG:
        return SeverityNumber.UNSPECIFIED
    if levelno >= logging.CRITICAL:
        return SeverityNumber(SeverityNumber.FATAL.value + min(levelno - logging.CRITICAL, 3))
    decade = levelno - levelno % 10
    return SeverityNumber(_SEVERITY_BASE[decade].value + min(levelno % 10, 3))


def _attribute(value: Any) -> str | bool | int | float:
    return value if isinstance(value, str | bool | int | float) else str(value)


class OtlpLogHandler(logging.Handler):
    """Sends each log record to an OpenTelemetry ``LoggerProvider``, built from the processed (redacted) event.

    Raw ``LogRecord`` attributes (structlog's internals, unredacted exception text) are never copied.
    """

    _is_emitting: ContextVar[bool] = ContextVar("kafka_backup_otlp_log_emitting", default=False)

    def __init__(self, logger_provider: LoggerProvider, chain: Sequence[Processor]) -> None:
        super().__init__()
        self._logger_provider = logger_provider
        self._chain = list(chain)

    def emit(self, record: logging.LogRecord) -> None:
        # The SDK may log while a record is translated or emitted (an invalid attribute, a full queue); with this
        # handler installed that would re-enter emit() and hold the handler lock forever.
        if self._is_emitting.get():
            return
        token = self._is_emitting.set(True)
        try:
            self._logger_provider.get_logger(record.name).emit(self._translate(record))
        except Exception:
            self.handleError(record)
        finally:
            self._is_emitting.reset(token)

    def flush(self) -> None:
        # in a thread: force_flush can wait on an export that itself logs (opentelemetry-python#4636)
        threading.Thread(target=self._logger_provider.force_flush, name="otlp-log-flush", daemon=True).start()

    def _translate(self, record: logging.LogRecord) -> LogRecord:
        event = event_dict(record, self._chain)
        body = str(event.get("event", ""))
        stacktrace = event.pop("exception", None)
        attributes: dict[str, Any] = {
            key: _attribute(value) for key, value in event.items() if key not in _OTLP_OWN_FIELDS
        }
        if stacktrace is not None:
            attributes["exception.stacktrace"] = str(stacktrace)
        level_name = {"WARNING": "WARN", "CRITICAL": "FATAL"}.get(record.levelname, record.levelname)
        return LogRecord(
            timestamp=int(record.created * 1e9),
            observed_timestamp=time_ns(),
            context=get_current(),
            severity_text=level_name,
            severity_number=severity(record.levelno),
            body=body,
            attributes=attributes,
        )


_STRUCTLOG_META = ("_record", "_from_structlog", "positional_args")
"""Keys ProcessorFormatter adds to an event for its own use, dropped before export."""


def event_dict(record: logging.LogRecord, chain: Sequence[Processor]) -> dict[str, Any]:
    """The processed event of a record, as ``ProcessorFormatter`` builds it, without rendering it."""
    if isinstance(record.msg, dict) and hasattr(record, "_logger"):
        # A structlog event: the shared chain (redaction included) already ran in wrap_for_formatter's caller.
        return dict(record.msg)
    event: MutableMapping[str, Any] = {"event": record.getMessage(), "_record": record, "_from_structlog": False}
    if record.exc_info:
        event["exc_info"] = record.exc_info
    if record.stack_info:
        event["stack_info"] = record.stack_info
    method = record.levelname.lower()
    for processor in chain:
        event = processor(None, method, event)  # type: ignore[assignment]  # every processor in the chain returns a dict
    for key in _STRUCTLOG_META:
        event.pop(key, None)
    return dict(event)
