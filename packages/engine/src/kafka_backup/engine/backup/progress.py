"""How far a backup run is: what this worker owns, how much of it is read, at what rate, and how long to go.

The run updates a :class:`ProgressTracker` once per consumed batch and per partition event (assigned, target
reached, released), never per record; the tracker hands a frozen :class:`BackupProgress` to its callback at most
every ``interval_s`` (and once more at the end), for the CLI's bar or status line.

Offsets stand for records: a compacted or transactional log has fewer records than offsets, and counting offsets
makes a snapshot partition reach exactly its total at its target end offset.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

TP = tuple[str, int]


@dataclass(frozen=True)
class BackupProgress:
    """One report. ``total`` is None in continuous mode (no end); ``lag`` is None until first measured."""

    records: int
    """Offsets read since each owned partition was assigned (up to its target in a snapshot)."""
    total: int | None
    """Snapshot: the target end offsets minus the positions at assignment, over the partitions this worker owns or
    finished."""
    bytes: int
    """Record payload bytes read."""
    partitions_done: int
    partitions: int
    elapsed_s: float
    """Working time: since the first assignment (not the wait for it)."""
    lag: int | None
    """Records behind the end offsets, over the owned partitions (updated once per metrics interval)."""
    waiting: bool
    """No partition assigned yet: the worker waits for the group (see the ``waiting_for_partitions`` log line)."""

    @property
    def rate(self) -> float:
        return self.records / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def percent(self) -> float:
        if self.total is None:
            return 0.0
        return 100.0 if self.total <= 0 else min(100.0, 100.0 * self.records / self.total)

    @property
    def eta_s(self) -> float | None:
        if self.total is None:
            return None
        if self.records >= self.total:
            return 0.0
        return (self.total - self.records) / self.rate if self.rate > 0 else None


class ProgressTracker:
    """Counters kept incrementally (O(1) per update), so reporting costs nothing per batch."""

    def __init__(
        self,
        on_progress: Callable[[BackupProgress], None] | None,
        *,
        snapshot: bool,
        interval_s: float = 0.1,
    ) -> None:
        self.on_progress = on_progress
        self.snapshot = snapshot
        self.interval_s = interval_s
        self.started_at: float | None = None
        """monotonic time of the first assignment: where working time starts."""
        self._positions: dict[TP, tuple[int, int | None]] = {}
        """Owned partition -> (position reached, target)."""
        self._done: set[TP] = set()
        self._records = 0
        self._total = 0
        self._bytes = 0
        self._lag: int | None = None
        self._last_report = 0.0

    def assign(self, tp: TP, position: int, target: int | None, done: bool) -> None:
        if self.started_at is None:
            self.started_at = time.monotonic()
        self._positions[tp] = (position, target)
        if target is not None:
            self._total += max(0, target - position)
        if done:
            self._done.add(tp)

    def advance(self, tp: TP, position: int, payload_bytes: int) -> None:
        """``tp`` was read up to (excluding) ``position``; ``payload_bytes`` more were read."""
        reached, target = self._positions.get(tp, (position, None))
        if target is not None:
            position = min(position, target)
        if position > reached:
            self._records += position - reached
            self._positions[tp] = (position, target)
        self._bytes += payload_bytes

    def finish(self, tp: TP) -> None:
        """``tp`` reached its target (the offsets after the last record, transaction markers say, count too)."""
        _reached, target = self._positions.get(tp, (0, None))
        if target is not None:
            self.advance(tp, target, 0)
        self._done.add(tp)

    def release(self, tp: TP) -> None:
        """``tp`` moved to another worker: what is left of it no longer counts here."""
        entry = self._positions.pop(tp, None)
        if entry is not None and entry[1] is not None and tp not in self._done:
            self._total -= max(0, entry[1] - entry[0])
        self._done.discard(tp)

    def set_lag(self, lag: int) -> None:
        self._lag = lag

    def current(self) -> BackupProgress:
        started = self.started_at
        return BackupProgress(
            records=self._records,
            total=self._total if self.snapshot else None,
            bytes=self._bytes,
            partitions_done=len(self._done),
            partitions=len(self._positions),
            elapsed_s=0.0 if started is None else time.monotonic() - started,
            lag=self._lag,
            waiting=started is None,
        )

    def report(self, *, force: bool = False) -> None:
        """Call back with the current progress, unless it was called less than ``interval_s`` ago."""
        if self.on_progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last_report < self.interval_s:
            return
        self._last_report = now
        self.on_progress(self.current())
