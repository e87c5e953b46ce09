"""A :class:`Store` layer that measures every real storage call: latency, bytes, errors, and a span.

A conditional write counts as a write and a versioned read as a read (same latency and byte series, own span
names); a lost race (:class:`~kafka_backup.engine.errors.PreconditionFailedError`) is an answer, not a storage
error, so it is not counted in ``backup_storage_errors_total``.

It sits directly around the fsspec store (inside the retry layer), so each attempt is measured as the backend
saw it, and a retried failure counts as one error per failed attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from opentelemetry import trace

from kafka_backup.engine.errors import StorageError, StorageNotFoundError
from kafka_backup.engine.store.base import ObjectInfo, Operation, Store, StoreLayer, Version
from kafka_backup.telemetry.catalog import Metrics

T = TypeVar("T")
_tracer = trace.get_tracer("kafka_backup.engine.store")


class InstrumentedStore(StoreLayer):
    def __init__(self, inner: Store, metrics: Metrics, backup_id: str) -> None:
        self.inner = inner
        self._metrics = metrics
        self._backup_id = backup_id
        self._backend = inner.backend

    def _measure(self, name: str, key: str, fn: Callable[[], T]) -> T:
        with _tracer.start_as_current_span(
            f"storage.{name}", attributes={"storage.backend": self._backend, "storage.key": key}
        ):
            try:
                return fn()
            except StorageError as exc:
                # a missing key on read is an answer (no manifest yet), not a storage failure
                if not (name.startswith("get") and isinstance(exc, StorageNotFoundError)):
                    self._metrics.backup_storage_errors_total.add(
                        1, {"backend": self._backend, "error_type": exc.error_type}
                    )
                raise

    def put(self, key: str, data: bytes, *, operation: Operation) -> None:
        started = time.perf_counter()
        self._measure("put", key, lambda: self.inner.put(key, data, operation=operation))
        self._count_write(operation, started, len(data))

    def get(self, key: str, *, operation: Operation, start: int | None = None, end: int | None = None) -> bytes:
        started = time.perf_counter()
        data = self._measure("get", key, lambda: self.inner.get(key, operation=operation, start=start, end=end))
        self._count_read(operation, started, len(data))
        return data

    def _count_write(self, operation: Operation, started: float, size: int) -> None:
        attrs = {"backend": self._backend, "operation": operation}
        self._metrics.backup_storage_write_latency_seconds.record(time.perf_counter() - started, attrs)
        self._metrics.backup_storage_write_bytes_total.add(
            size, {"backend": self._backend, "backup_id": self._backup_id}
        )

    def _count_read(self, operation: Operation, started: float, size: int) -> None:
        attrs = {"backend": self._backend, "operation": operation}
        self._metrics.backup_storage_read_latency_seconds.record(time.perf_counter() - started, attrs)
        self._metrics.backup_storage_read_bytes_total.add(
            size, {"backend": self._backend, "backup_id": self._backup_id}
        )

    def get_versioned(self, key: str, *, operation: Operation) -> tuple[bytes, Version] | None:
        started = time.perf_counter()
        found = self._measure("get_versioned", key, lambda: self.inner.get_versioned(key, operation=operation))
        self._count_read(operation, started, len(found[0]) if found is not None else 0)
        return found

    def put_if(self, key: str, data: bytes, *, operation: Operation, expect: Version | None) -> Version:
        started = time.perf_counter()
        version = self._measure("put_if", key, lambda: self.inner.put_if(key, data, operation=operation, expect=expect))
        self._count_write(operation, started, len(data))
        return version

    def stat(self, key: str) -> ObjectInfo | None:
        return self._measure("stat", key, lambda: self.inner.stat(key))

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self._measure("list", prefix, lambda: self.inner.list(prefix))

    def delete(self, key: str) -> None:
        self._measure("delete", key, lambda: self.inner.delete(key))
