"""Storage: one narrow contract (:class:`Store`), two implementations (local files; fsspec for object stores and
memory) and layers that wrap them.

The implementations and the telemetry layer are imported when a store is opened, not with this package: many
modules import :class:`Store` for its type, and fsspec (with asyncio) or the OpenTelemetry catalog would otherwise
load with every command that only reads a local store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kafka_backup.engine.errors import BucketNotFoundError, PreconditionFailedError, StorageError
from kafka_backup.engine.store.base import Backend, ObjectInfo, Operation, Store, StoreLayer, Version
from kafka_backup.engine.store.options import (
    StorageSettings,
    backend_of,
    check_url,
    credential_values,
    reject_url_credentials,
    storage_options,
)
from kafka_backup.engine.store.retrying import ACTIONS, RetryingStore, RetryPolicy

if TYPE_CHECKING:
    from kafka_backup.engine.store.fsspec import FsspecStore
    from kafka_backup.engine.store.instrumented import InstrumentedStore
    from kafka_backup.engine.store.local import LocalStore
    from kafka_backup.telemetry.catalog import Metrics

__all__ = [
    "Backend",
    "BucketNotFoundError",
    "FsspecStore",
    "InstrumentedStore",
    "LocalStore",
    "ObjectInfo",
    "Operation",
    "PreconditionFailedError",
    "RetryPolicy",
    "RetryingStore",
    "StorageSettings",
    "Store",
    "StoreLayer",
    "Version",
    "backend_of",
    "check_url",
    "credential_values",
    "open_store",
    "reject_url_credentials",
    "storage_options",
]


def open_store(
    url: str,
    options: Mapping[str, Any] | None = None,
    *,
    metrics: Metrics | None = None,
    backup_id: str = "",
    retry: RetryPolicy | None = None,
    on_retry: Callable[[str, BaseException], None] | None = None,
    settings: StorageSettings | None = None,
) -> Store:
    """The store for ``url``: local files or fsspec underneath, measured per call when ``metrics`` is given, retries
    around it.

    ``options`` are fsspec options, used as given. Without them (``None`` or empty), :func:`storage_options` builds
    them from ``settings`` and the standard environment (endpoint override, region, path style, credential chains).
    A local URL with no options is a :class:`LocalStore`; anything else an :class:`FsspecStore`.
    With ``metrics``, the store's storage-error and retry series exist at zero from here on (``telemetry.baseline``).
    """
    if not options:
        options = storage_options(url, settings)
    elif settings is not None:
        raise TypeError("pass either fsspec options or settings, not both")
    store: Store
    if backend_of(url) == "filesystem" and not options:
        from kafka_backup.engine.store.local import LocalStore  # noqa: PLC0415 - see the module docstring

        store = LocalStore(url)
    else:
        from kafka_backup.engine.store.fsspec import FsspecStore  # noqa: PLC0415 - see the module docstring

        store = FsspecStore(url, options)
    if metrics is not None:
        from kafka_backup.engine.store.instrumented import InstrumentedStore  # noqa: PLC0415
        from kafka_backup.telemetry.baseline import zero_storage  # noqa: PLC0415

        store = InstrumentedStore(store, metrics, backup_id)
        zero_storage(
            metrics,
            backend=store.backend,
            backup_id=backup_id,
            error_types=StorageError.error_types(),
            # a caller's own on_retry counts its own way: only the counter installed below is pre-created
            retry_operations=[f"storage_{action}" for action in ACTIONS] if on_retry is None else [],
            retry_reasons=StorageError.error_types(retryable=True),
        )
        if on_retry is None:
            counter = metrics.backup_retries_total

            def on_retry(action: str, exc: BaseException) -> None:
                reason = getattr(exc, "error_type", type(exc).__name__)
                counter.add(1, {"backup_id": backup_id, "operation": f"storage_{action}", "reason": reason})

    return RetryingStore(store, retry, on_retry)


def __getattr__(name: str) -> Any:
    """The implementations and the telemetry layer, imported on first use (see the module docstring)."""
    if name == "FsspecStore":
        from kafka_backup.engine.store.fsspec import FsspecStore  # noqa: PLC0415

        return FsspecStore
    if name == "LocalStore":
        from kafka_backup.engine.store.local import LocalStore  # noqa: PLC0415

        return LocalStore
    if name == "InstrumentedStore":
        from kafka_backup.engine.store.instrumented import InstrumentedStore  # noqa: PLC0415

        return InstrumentedStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
