"""Thread-safe state behind asynchronous (observable) instruments.

A synchronous OTel gauge keeps every label set it has ever seen, so a partition that moved to another consumer after
a rebalance would keep exporting its last value forever. Values whose label set changes therefore live here instead:
the engine writes the current value (or forgets a series), and the SDK reads a snapshot when a reader collects, so a
forgotten series disappears from the next scrape and from the next OTLP export.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from opentelemetry.metrics import CallbackOptions, Observation

__all__ = ["LagTracker", "ObservedValues"]

_Key = tuple[str, ...]


class ObservedValues:
    """The current value of each series of one observable instrument, keyed by its label values.

    ``set`` and ``forget`` take the same attribute mapping a synchronous instrument takes, so engine code reads the
    same either way. Label names are checked on every write: a misspelt label would otherwise create a series that no
    dashboard queries, which is exactly the "metric registered but never updated" failure users reported.
    """

    def __init__(self, name: str, labels: tuple[str, ...]) -> None:
        self.name = name
        self.labels = labels
        self._label_set = frozenset(labels)
        self._values: dict[_Key, float] = {}
        self._lock = threading.Lock()

    def _key(self, attributes: Mapping[str, str]) -> _Key:
        if attributes.keys() != self._label_set:
            raise ValueError(f"{self.name} takes labels {sorted(self._label_set)}, got {sorted(attributes)}")
        return tuple(str(attributes[label]) for label in self.labels)

    def set(self, value: float, attributes: Mapping[str, str]) -> None:
        """Set the current value of the series named by ``attributes`` (every declared label, values as strings)."""
        key = self._key(attributes)
        with self._lock:
            self._values[key] = float(value)

    def forget(self, attributes: Mapping[str, str]) -> None:
        """Stop exporting the series named by ``attributes``; unknown series are ignored."""
        key = self._key(attributes)
        with self._lock:
            self._values.pop(key, None)

    def forget_matching(self, **labels: str) -> None:
        """Stop exporting every series whose labels include all of ``labels`` (e.g. ``backup_id="b1"``)."""
        positions = self._positions(labels)
        with self._lock:
            for key in [k for k in self._values if all(k[i] == v for i, v in positions)]:
                del self._values[key]

    def replace_matching(self, match: Mapping[str, str], series: Iterable[tuple[Mapping[str, str], float]]) -> None:
        """Atomically replace every series matching ``match`` by ``series`` (a full snapshot for that subset).

        Used for client statistics: each librdkafka statistics document is complete, so partitions or brokers missing
        from it must disappear, and a reader must never observe the half-updated state in between.
        """
        positions = self._positions(match)
        fresh = {self._key(attributes): float(value) for attributes, value in series}
        with self._lock:
            for key in [k for k in self._values if all(k[i] == v for i, v in positions)]:
                del self._values[key]
            self._values.update(fresh)

    def get(self, attributes: Mapping[str, str]) -> float | None:
        """The current value of one series, or None when it is not exported."""
        key = self._key(attributes)
        with self._lock:
            return self._values.get(key)

    def snapshot(self) -> dict[_Key, float]:
        """A copy of every series, keyed by label values in declaration order."""
        with self._lock:
            return dict(self._values)

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        """The instrument callback: one observation per current series."""
        return [Observation(value, dict(zip(self.labels, key, strict=True))) for key, value in self.snapshot().items()]

    def _positions(self, labels: Mapping[str, str]) -> list[tuple[int, str]]:
        unknown = labels.keys() - self._label_set
        if unknown:
            raise ValueError(f"{self.name} has no labels {sorted(unknown)}")
        return [(self.labels.index(name), str(value)) for name, value in labels.items()]


@dataclass(frozen=True, slots=True)  # one per tracked partition: no per-instance __dict__
class _PartitionLag:
    """One partition's latest position, as reported by the engine once per fetched batch."""

    end_offset: int
    next_offset: int
    last_record_timestamp_ms: int | None
    avg_record_bytes: float | None


class LagTracker:
    """Per-partition consumer lag of running backups, observed by the ``kafka_backup_lag_*`` gauges.

    The engine calls ``update`` once per fetched batch (never per record) with the partition's high watermark and the
    offset it will read next, and ``forget`` when a partition is revoked or the backup ends. Values are derived at
    collection time, so ``kafka_backup_lag_seconds`` keeps growing while a stalled consumer reads nothing.

    Definitions (labels ``backup_id``, ``topic``, ``partition``):

    - records: ``max(0, end_offset - next_offset)``; the PRD's "high watermark minus committed offset", using the
      position actually reached because the backup commits only after its manifest is stored.
    - bytes: ``records * avg_record_bytes``; absent until the engine knows an average record size.
    - seconds: ``now - last_record_timestamp`` while records > 0, else 0; absent until a record timestamp is known.
    - records_max (label ``backup_id``): the largest records lag across that backup's partitions.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._partitions: dict[tuple[str, str, str], _PartitionLag] = {}
        self._lock = threading.Lock()

    def update(
        self,
        backup_id: str,
        topic: str,
        partition: int | str,
        end_offset: int,
        next_offset: int,
        *,
        last_record_timestamp_ms: int | None = None,
        avg_record_bytes: float | None = None,
    ) -> None:
        """Record a partition's high watermark (``end_offset``) and the offset the backup reads next."""
        state = _PartitionLag(end_offset, next_offset, last_record_timestamp_ms, avg_record_bytes)
        with self._lock:
            self._partitions[(backup_id, topic, str(partition))] = state

    def forget(self, backup_id: str, topic: str, partition: int | str) -> None:
        """Stop exporting a partition (revoked in a rebalance, or finished)."""
        with self._lock:
            self._partitions.pop((backup_id, topic, str(partition)), None)

    def forget_backup(self, backup_id: str) -> None:
        """Stop exporting every partition of a backup (the run ended)."""
        with self._lock:
            for key in [k for k in self._partitions if k[0] == backup_id]:
                del self._partitions[key]

    def records(self, backup_id: str, topic: str, partition: int | str) -> int | None:
        """The current records lag of one partition, or None when it is not tracked."""
        with self._lock:
            state = self._partitions.get((backup_id, topic, str(partition)))
        return None if state is None else max(0, state.end_offset - state.next_offset)

    def _items(self) -> list[tuple[dict[str, str], _PartitionLag]]:
        with self._lock:
            items = list(self._partitions.items())
        return [({"backup_id": b, "topic": t, "partition": p}, s) for (b, t, p), s in items]

    def observe_records(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Callback of ``kafka_backup_lag_records``."""
        return [Observation(max(0, s.end_offset - s.next_offset), attrs) for attrs, s in self._items()]

    def observe_bytes(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Callback of ``kafka_backup_lag_bytes``."""
        return [
            Observation(max(0, s.end_offset - s.next_offset) * s.avg_record_bytes, attrs)
            for attrs, s in self._items()
            if s.avg_record_bytes is not None
        ]

    def observe_seconds(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Callback of ``kafka_backup_lag_seconds``."""
        now = self._clock()
        observations = []
        for attrs, s in self._items():
            if s.last_record_timestamp_ms is None:
                continue
            behind = s.end_offset > s.next_offset
            age = max(0.0, now - s.last_record_timestamp_ms / 1000.0) if behind else 0.0
            observations.append(Observation(age, attrs))
        return observations

    def observe_records_max(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Callback of ``kafka_backup_lag_records_max``."""
        worst: dict[str, int] = {}
        for attrs, s in self._items():
            backup_id = attrs["backup_id"]
            worst[backup_id] = max(worst.get(backup_id, 0), s.end_offset - s.next_offset, 0)
        return [Observation(value, {"backup_id": backup_id}) for backup_id, value in worst.items()]
