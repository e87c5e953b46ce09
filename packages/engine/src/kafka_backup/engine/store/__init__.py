"""Storage: one narrow contract (:class:`Store`), one fsspec implementation, and layers that wrap it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kafka_backup.engine.store.base import Backend, ObjectInfo, Operation, Store
from kafka_backup.engine.store.fsspec import FsspecStore, backend_of
from kafka_backup.engine.store.retrying import RetryingStore, RetryPolicy

__all__ = [
    "Backend",
    "FsspecStore",
    "ObjectInfo",
    "Operation",
    "RetryPolicy",
    "RetryingStore",
    "Store",
    "backend_of",
    "open_store",
]


def open_store(
    url: str,
    options: Mapping[str, Any] | None = None,
    *,
    retry: RetryPolicy | None = None,
    on_retry: Callable[[str, BaseException], None] | None = None,
) -> Store:
    """The store for ``url``: fsspec underneath, retries around it."""
    return RetryingStore(FsspecStore(url, options), retry, on_retry)
