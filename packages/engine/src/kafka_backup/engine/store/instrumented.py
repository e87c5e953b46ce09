"""A :class:`Store` layer that measures every real storage call: latency, bytes, errors, and a span.

It sits directly around the fsspec store (inside the retry layer), so each attempt is measured as the backend
saw it, and a retried failure counts as one error per failed attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from opentelemetry import trace

from kafka_backup.engine.errors import StorageError, StorageNotFoundError
from kafka_backup.engine.store.base import Backend, ObjectInfo, Operation, Store
from kafka_backup.telemetry.catalog import Metrics

T = TypeVar("T")
_tracer = trace.get_tracer("kafka_backup.engine.store")


class InstrumentedStore:
    def __init__(self, inner: Store, metrics: Metrics, backup_id: str) -> None:
        self._inner = inner
        self._metrics = metrics
        self._backup_id = backup_id
        self._backend = inner.backend

    @property
    def backend(self) -> Backend:
        return self._inner.backend

    @property
    def url(self) -> str:
        return self._inner.url

    def _measure(self, name: str, key: str, fn: Callable[[], T]) -> T:
        with _tracer.start_as_current_span(
            f"storage.{name}", attributes={"storage.backend": self._backend, "storage.key": key}
        ):
            try:
                return fn()
            except StorageError as exc:
                # a missing key on read is an answer (no manifest yet), not a storage failure
                if not (name == "get" and isinstance(exc, StorageNotFoundError)):
                    self._metrics.backup_storage_errors_total.add(
                        1, {"backend": self._backend, "error_type": exc.error_type}
                    )
                raise

    def put(self, key: str, data: bytes, *, operation: Operation) -> None:
        started = time.perf_counter()
        self._measure("put", key, lambda: self._inner.put(key, data, operation=operation))
        attrs = {"backend": self._backend, "operation": operation}
        self._metrics.backup_storage_write_latency_seconds.record(time.perf_counter() - started, attrs)
        self._metrics.backup_storage_write_bytes_total.add(
            len(data), {"backend": self._backend, "backup_id": self._backup_id}
        )

    def get(self, key: str, *, operation: Operation, start: int | None = None, end: int | None = None) -> bytes:
        started = time.perf_counter()
        data = self._measure("get", key, lambda: self._inner.get(key, operation=operation, start=start, end=end))
        attrs = {"backend": self._backend, "operation": operation}
        self._metrics.backup_storage_read_latency_seconds.record(time.perf_counter() - started, attrs)
        self._metrics.backup_storage_read_bytes_total.add(
            len(data), {"backend": self._backend, "backup_id": self._backup_id}
        )
        return data

    def stat(self, key: str) -> ObjectInfo | None:
        return self._measure("stat", key, lambda: self._inner.stat(key))

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self._measure("list", prefix, lambda: self._inner.list(prefix))

    def delete(self, key: str) -> None:
        self._measure("delete", key, lambda: self._inner.delete(key))
