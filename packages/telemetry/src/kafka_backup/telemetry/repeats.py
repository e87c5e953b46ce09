"""Collapses repeated librdkafka log lines: the first one, then a count of the repeats it stood for.

An unreachable broker makes every librdkafka client log the same "Connect to ... failed: Connection refused" line
on each reconnect attempt (hundreds per run) and report it again through ``error_cb``. :class:`RepeatFilter` sits on
the ``kafka.*`` loggers (``kafka_logger()`` installs it; the backup's ``error_cb`` logs there too), so both paths are
collapsed in one place:

- the first line of a kind passes as it is;
- repeats within ``interval_s`` of the last line that passed are dropped and counted;
- the first repeat after the interval passes with ``repeats_suppressed=N`` (the count since the last line);
- :func:`flush_repeats` (called by ``Telemetry.shutdown`` and ``reset_logging``) logs one line per kind with a
  pending count, so a run that fails after 3 s still says how often the line repeated.

"A kind" is the logger, the level and the text with the parts librdkafka varies between repeats removed
(``after 0ms in state CONNECT``, ``3 identical error(s) suppressed``), so a different broker or error is its own kind.
Thread-safe: librdkafka delivers lines from whichever thread polls.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_INTERVAL_S", "RepeatFilter", "flush_repeats", "line_kind"]

DEFAULT_INTERVAL_S = 30.0
"""How long repeats of one kind stay silent after a line of that kind was logged."""

# librdkafka's own repeat counter and the timing inside its messages change on every repeat
_VARYING = re.compile(r", \d+ identical error\(s\) suppressed|\bafter \d+ms\b|\b\d+ms\b")


def line_kind(record: logging.LogRecord) -> tuple[str, int, str]:
    """What makes two records "the same line": logger, level, and text without the varying parts."""
    text = record.getMessage()
    detail = getattr(record, "error", None)  # error_cb lines carry the error as an extra field
    if detail is not None:
        text = f"{text} {detail}"
    return (record.name, record.levelno, _VARYING.sub("", text))


@dataclass
class _Kind:
    record: logging.LogRecord
    """The last record that passed, re-logged by ``flush`` with the pending count."""
    passed_at: float
    suppressed: int = 0


class RepeatFilter(logging.Filter):
    """A ``logging.Filter`` that passes the first line of a kind and counts its repeats (see module doc)."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._kinds: dict[tuple[str, int, str], _Kind] = {}
        # set while flush() re-logs its summaries through the logger this filter sits on
        self._flushing = threading.local()
        _FILTERS.add(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self._flushing, "active", False):
            return True
        key = line_kind(record)
        now = self._clock()
        with self._lock:
            kind = self._kinds.get(key)
            if kind is None:
                self._kinds[key] = _Kind(record, now)
                return True
            if now - kind.passed_at < self.interval_s:
                kind.suppressed += 1
                return False
            record.repeats_suppressed = kind.suppressed
            self._kinds[key] = _Kind(record, now)
            return True

    def flush(self) -> None:
        """Log one line per kind whose repeats were suppressed since its last line, with their count."""
        with self._lock:
            pending = [k for k in self._kinds.values() if k.suppressed]
            for kind in pending:
                kind.suppressed, count = 0, kind.suppressed
                kind.passed_at = self._clock()
                kind.record = _summary(kind.record, count)
        self._flushing.active = True
        try:
            for kind in pending:
                logging.getLogger(kind.record.name).handle(kind.record)
        finally:
            self._flushing.active = False


def _summary(record: logging.LogRecord, count: int) -> logging.LogRecord:
    summary = logging.makeLogRecord(record.__dict__)
    summary.created = time.time()
    summary.repeats_suppressed = count
    return summary


_FILTERS: weakref.WeakSet[RepeatFilter] = weakref.WeakSet()


def flush_repeats() -> None:
    """Flush every live :class:`RepeatFilter` (a one-shot command calls this before it exits)."""
    for repeat_filter in list(_FILTERS):
        repeat_filter.flush()
