"""Log records over OTLP: the same processed (redacted) event the console line shows, as an OpenTelemetry record.

Imported only when logs are exported (``logs.configure_logging`` with a logger provider): OpenTelemetry's logging
instrumentation is slow to import and every other command would pay for it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from time import time_ns
from typing import Any

from opentelemetry._logs import LogRecord
from opentelemetry.context import get_current
from opentelemetry.instrumentation.log_utils import std_to_otel
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from structlog.typing import Processor

from kafka_backup.telemetry.logs import event_dict

_OTLP_OWN_FIELDS = ("event", "timestamp", "level", "logger", "trace_id", "span_id")
"""Fields an OTLP log record carries in its own slots, not as attributes."""


def _attribute(value: Any) -> str | bool | int | float:
    return value if isinstance(value, str | bool | int | float) else str(value)


class OtlpLogHandler(LoggingHandler):
    """OpenTelemetry's logging handler, fed the same processed (redacted) event the console line shows.

    The stock translation would copy raw ``LogRecord`` attributes (structlog's internals, unredacted exception text);
    only the translation is replaced, the handler's emit path and recursion guard are kept.
    """

    def __init__(self, logger_provider: LoggerProvider, chain: Sequence[Processor]) -> None:
        super().__init__(logger_provider=logger_provider)
        self._chain = list(chain)

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
            severity_number=std_to_otel(record.levelno),
            body=body,
            attributes=attributes,
        )
