"""Maps any exception from a storage backend to one :class:`StorageError` subclass.

The categories are the PRD's storage error types: ``timeout``, ``auth``, ``not_found``, ``quota``, ``unknown``.
Transient ones (timeouts, throttling, 5xx, connection resets) are marked retryable; authentication and missing
buckets are not, so a wrong credential fails at once instead of after minutes of retries.
"""

from __future__ import annotations

import errno
import socket

__all__ = ["BucketNotFoundError", "classify", "missing_bucket_error"]

from kafka_backup.engine.errors import (
    BucketNotFoundError,
    StorageAuthError,
    StorageError,
    StorageNotFoundError,
    StorageQuotaError,
    StorageTimeoutError,
    StorageUnavailableError,
)

_AUTH_WORDS = ("accessdenied", "forbidden", "invalidaccesskeyid", "signaturedoesnotmatch", "unauthorized",
               "authenticationfailed", "authorizationfailure", "invalid_grant", "invalid credentials",
               "defaultcredentialserror", "permission denied", "does not have storage.")  # fmt: skip
_NOT_FOUND_WORDS = ("nosuchbucket", "nosuchkey", "containernotfound", "blobnotfound", "not found")
_QUOTA_WORDS = ("slowdown", "throttl", "quota", "toomanyrequests", "serverbusy", "requestlimitexceeded")
_TIMEOUT_WORDS = ("timeout", "timed out")
_TRANSIENT_WORDS = ("connection reset", "connection refused", "cannot connect", "server disconnected",
                    "internalerror", "serviceunavailable", "broken pipe", "connect call failed",
                    "clientconnectorerror", "connectionerror", "endpointconnectionerror",
                    "proxyerror",  # gcsfs turns a 502 into requests' ProxyError, status dropped
                    # a response cut short by a server going away (aiohttp): the request can be repeated
                    "contentlengtherror", "clientpayloaderror",
                    "not enough data to satisfy content length",
                    # the connection broke while a request was being sent (aiohttp ClientOSError)
                    "clientoserror", "clientconnectionerror", "can not write request body")  # fmt: skip
_THROTTLING_CODES = frozenset(("slowdown", "serverbusy", "throttling", "throttlingexception", "requestlimitexceeded",
                               "toomanyrequests", "ratelimitexceeded", "userratelimitexceeded"))  # fmt: skip
"""Service error codes that mean "slow down" even when the status is a 503 (S3 SlowDown, Azure ServerBusy)."""
_ABORTED_CODES = frozenset(("clientdisconnected",))
"""Service error codes for a request the server dropped before acting on it, whatever the status: MinIO answers
400 ``ClientDisconnected`` to the requests in flight when it shuts down. Retried as a 5xx is (seen in CI: a manifest
write failed at once, unretried, while the server stopped)."""


def _status(exc: BaseException) -> int | None:
    """The HTTP status a backend library attached to ``exc`` or to an exception it was raised from.

    Structured codes beat words: messages carry object names, and a key like ``segment-401`` must not read as a
    rejected credential. gcsfs's ``HttpError.code``, the Azure SDK's ``status_code``, aiohttp's ``status``, and
    botocore's ``response["ResponseMetadata"]["HTTPStatusCode"]`` (s3fs keeps the ClientError as ``__cause__``).
    """
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        for attribute in ("status_code", "code", "status"):
            value = getattr(seen, attribute, None)
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
                return value
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if isinstance(status, int):
                return status
        seen = seen.__cause__ or seen.__context__
    return None


def _error_code(exc: BaseException) -> str | None:
    """The service's own error code (``SlowDown``, ``ServerBusy``), from structured fields only, never the message.

    botocore's ``response["Error"]["Code"]`` (kept by s3fs as the cause), the Azure SDK's ``error_code``, gcsfs's
    ``HttpError.errors[0]["reason"]``.
    """
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if isinstance(code, str) and code:
                return code
        code = getattr(seen, "error_code", None)
        if isinstance(code, str) and code:
            return code
        errors = getattr(seen, "errors", None)
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            reason = errors[0].get("reason")
            if isinstance(reason, str) and reason:
                return reason
        seen = seen.__cause__ or seen.__context__
    return None


def classify(exc: BaseException, *, key: str | None, action: str) -> StorageError:
    """The storage error for ``exc``; the message names the action, the object and the cause (never credentials)."""
    if isinstance(exc, StorageError):
        return exc
    where = f" {key!r}" if key else ""
    cause = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
    text = f"{type(exc).__name__} {exc}".lower()
    message = f"could not {action}{where}: {cause}"
    not_found_hint = "check the storage URL, and that the bucket/container exists"
    auth_hint = "check the storage credentials and permissions"
    status = _status(exc)
    if status in (401, 403):
        return StorageAuthError(message, key=key, hint=auth_hint)
    if status == 404 or isinstance(exc, FileNotFoundError):
        return StorageNotFoundError(message, key=key, hint=not_found_hint)
    code = (_error_code(exc) or "").lower()
    if status == 429 or (status in (None, 503) and code in _THROTTLING_CODES):
        return StorageQuotaError(message, key=key, hint="the service is throttling requests; retried with back-off")
    if status in (408, 504):
        return StorageTimeoutError(message, key=key)
    if (status is not None and status >= 500) or code in _ABORTED_CODES:
        return StorageUnavailableError(message, key=key)
    if any(w in text for w in _NOT_FOUND_WORDS):
        return StorageNotFoundError(message, key=key, hint=not_found_hint)
    if isinstance(exc, PermissionError) or any(w in text for w in _AUTH_WORDS):
        return StorageAuthError(message, key=key, hint=auth_hint)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageQuotaError(message, key=key, hint="free space or raise the quota")
    if any(w in text for w in _QUOTA_WORDS):
        return StorageQuotaError(message, key=key)
    if isinstance(exc, TimeoutError | socket.timeout) or any(w in text for w in _TIMEOUT_WORDS):
        return StorageTimeoutError(message, key=key)
    if _broken_connection(exc) or any(w in text for w in _TRANSIENT_WORDS):
        return StorageUnavailableError(message, key=key)
    return StorageError(message, key=key)


def _broken_connection(exc: BaseException) -> bool:
    """A connection that failed or broke mid-request (anywhere in the cause chain): repeating the request may work."""
    import aiohttp  # noqa: PLC0415 - installed with every object-store backend; not needed for local files

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ConnectionError | aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


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
