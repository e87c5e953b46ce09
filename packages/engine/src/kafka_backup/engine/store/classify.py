"""Maps any exception from a storage backend to one :class:`StorageError` subclass.

The categories are the PRD's storage error types: ``timeout``, ``auth``, ``not_found``, ``quota``, ``unknown``.
Transient ones (timeouts, throttling, 5xx, connection resets) are marked retryable; authentication and missing
buckets are not, so a wrong credential fails at once instead of after minutes of retries.
"""

from __future__ import annotations

import errno
import socket

from kafka_backup.engine.errors import (
    StorageAuthError,
    StorageError,
    StorageNotFoundError,
    StorageQuotaError,
    StorageTimeoutError,
    StorageUnavailableError,
)

_AUTH_WORDS = ("accessdenied", "forbidden", "invalidaccesskeyid", "signaturedoesnotmatch", "unauthorized",
               "authenticationfailed", "authorizationfailure", "invalid_grant", "401", "403")  # fmt: skip
_NOT_FOUND_WORDS = ("nosuchbucket", "nosuchkey", "containernotfound", "blobnotfound", "not found", "404")
_QUOTA_WORDS = ("slowdown", "throttl", "quota", "toomanyrequests", "429", "serverbusy", "requestlimitexceeded")
_TIMEOUT_WORDS = ("timeout", "timed out")
_TRANSIENT_WORDS = ("connection reset", "connection refused", "cannot connect", "server disconnected",
                    "internalerror", "serviceunavailable", "503", "502", "500", "broken pipe", "connect call failed",
                    "clientconnectorerror", "connectionerror")  # fmt: skip


def classify(exc: BaseException, *, key: str | None, action: str) -> StorageError:
    """The storage error for ``exc``; the message names the action, the object and the cause (never credentials)."""
    if isinstance(exc, StorageError):
        return exc
    where = f" {key!r}" if key else ""
    cause = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
    text = f"{type(exc).__name__} {exc}".lower()
    message = f"could not {action}{where}: {cause}"
    if isinstance(exc, FileNotFoundError) or any(w in text for w in _NOT_FOUND_WORDS):
        return StorageNotFoundError(
            message, key=key, hint="check the storage URL, and that the bucket/container exists"
        )
    if isinstance(exc, PermissionError) or any(w in text for w in _AUTH_WORDS):
        return StorageAuthError(message, key=key, hint="check the storage credentials and permissions")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageQuotaError(message, key=key, hint="free space or raise the quota")
    if any(w in text for w in _QUOTA_WORDS):
        return StorageQuotaError(message, key=key)
    if isinstance(exc, TimeoutError | socket.timeout) or any(w in text for w in _TIMEOUT_WORDS):
        return StorageTimeoutError(message, key=key)
    if isinstance(exc, ConnectionError) or any(w in text for w in _TRANSIENT_WORDS):
        return StorageUnavailableError(message, key=key)
    return StorageError(message, key=key)
