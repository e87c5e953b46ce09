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


class BucketNotFoundError(StorageNotFoundError):
    """The bucket/container in the storage URL does not exist (``error_type`` ``not_found``, not retried)."""

    def __init__(self, message: str, *, bucket: str, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, key=key, hint=hint)
        self.bucket = bucket


_CREATE_BUCKET = {
    "s3": "create it, e.g. `aws s3 mb s3://{bucket}` (add `--endpoint-url URL` for an S3-compatible server)",
    "gcs": "create it, e.g. `gcloud storage buckets create gs://{bucket}`",
    "azure": "create it, e.g. `az storage container create --name {bucket} --account-name ACCOUNT`",
}


def missing_bucket_error(backend: str, bucket: str, *, action: str, key: str | None) -> BucketNotFoundError:
    """The error for a missing bucket/container, with the command that creates it."""
    noun = "container" if backend == "azure" else "bucket"
    hint = _CREATE_BUCKET.get(backend, "create it").format(bucket=bucket)
    where = f" {key!r}" if key else ""
    return BucketNotFoundError(
        f"could not {action}{where}: the {noun} {bucket!r} does not exist", bucket=bucket, key=key, hint=hint
    )
