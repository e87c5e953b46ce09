"""Progress on a terminal, for restore and backup: one line on stderr, drawn by click's progress bar.

click's ``ProgressBar`` (click is already the CLI's one dependency for the terminal, and it is well kept) draws the
bar, the percentage and the ETA, and hides itself when its stream is not a terminal; the callers add their counts
as its item text. With no known end (a continuous backup) it draws no bar, only the label and the counts: a live
status line. Lines are redrawn at most every ``REDRAW_S``, so a caller may report as often as it likes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

REDRAW_S = 0.1


def wants_progress(no_progress: bool, as_json: bool, stream: TextIO | None = None) -> bool:
    """A bar only for a person watching: stderr is a terminal, no --no-progress, no --json."""
    return not no_progress and not as_json and (stream or sys.stderr).isatty()


def _no_end() -> Iterator[int]:
    """An iterable without a length hint: click then knows no end (no percentage, no ETA)."""
    yield from ()


class ProgressLine:
    """``label [#######.......]  45%  00:00:12  <info>``; ``total`` None: no percentage, no ETA."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self._info = ""
        self._total: int | None = None
        self._bar: ProgressBar[int] | None = None
        self._label = label
        self._stream = stream or sys.stderr
        self._width = width
        self._last = 0.0
        self._latest: tuple[int, int | None, str] | None = None
        self._ended: tuple[int, int | None] | None = None
        """Where the last closed line ended: a report of the same position does not draw it again."""

    def update(self, done: int, total: int | None, info: str, *, final: bool = False) -> None:
        """Show ``done`` of ``total`` with ``info`` after the bar (at most every ``REDRAW_S`` unless ``final``)."""
        if self._bar is None and self._ended == (done, total):
            return
        self._latest = (done, total, info)
        now = time.monotonic()
        if not final and now - self._last < REDRAW_S and self._bar is not None:
            return
        self._last = now
        if self._bar is None or (total is None) != (self._total is None):
            self._bar = self._open(total)
        self._total = total
        bar = self._bar
        if total is not None:
            bar.length = max(total, done, 1)  # the total grows when a rebalance adds partitions
        self._info = info
        bar.update(done - bar.pos)
        if final and total is not None and done >= total:
            bar.finished = True
            bar.render_progress()

    def _open(self, total: int | None) -> ProgressBar[int]:
        bar: ProgressBar[int] = click.progressbar(
            _no_end() if total is None else None,
            length=None if total is None else max(total, 1),
            # with no end, no bar: a status line of the label and the counts
            bar_template="%(label)s  [%(bar)s]  %(info)s" if total is not None else "%(label)s  %(info)s",
            label=self._label,
            file=self._stream,
            width=self._width,
            fill_char="#",
            empty_char=".",
            show_eta=True,
            show_percent=total is not None,
            item_show_func=lambda _item: self._info,
        )
        bar.entered = True
        return bar

    def close(self) -> None:
        """Draw the latest report (it may have been skipped by the redraw limit) and end the line; idempotent."""
        if self._latest is not None:
            self.update(*self._latest, final=True)
            self._ended = self._latest[:2]
        if self._bar is not None:
            self._bar.render_finish()
        # a later update starts a new line (log lines written meanwhile stay on their own)
        self._bar, self._latest = None, None
