"""fsspec filesystems with the backend libraries' own retries turned off, so :class:`~.retrying.RetryingStore` is the
one retry layer (bounded by its policy, counted by telemetry, and never retrying a wrong credential).

Why each needs help:
- gcsfs retries every request 6 times with up to 32 s sleeps, fixed at class definition, and counts a
  ``401 Invalid Credentials`` as retryable: a stopped server or a wrong key took ~30 s per call before we saw it.
- The Azure SDK retries connection failures 3 times with 15 s, 18 s and 24 s back-offs, and adlfs offers no knob.
- botocore's retries are configurable per client: :mod:`.options` sets ``total_max_attempts=1``
  (``max_attempts`` counts retries: set to 1, a 503 was sent twice). s3fs adds a retry loop of its own around
  every call (``S3FileSystem.retries``, 5 attempts with sleeps), set to one attempt here.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import fsspec


def make_filesystem(protocol: str, options: dict[str, Any]) -> Any:
    """An fsspec filesystem for ``protocol``; object stores get listing caches off and their own retries off."""
    if protocol in ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"):
        # Another process (a second backup worker, a restore) may change what a listing shows; never serve stale ones.
        options = {"use_listings_cache": False, **options}
    if protocol in ("gs", "gcs"):
        return _gcs_class()(**options)
    if protocol in ("az", "abfs", "abfss"):
        return _azure_class()(**options)
    fs = fsspec.filesystem(protocol, **options)
    if protocol in ("s3", "s3a"):
        fs.retries = 1  # one attempt in s3fs's own loop (the instance is cached per options: same value for all)
    return fs


@cache
def _gcs_class() -> type:
    # gcsfs.core's class, not the package's default export: gcsfs 2026.10 exports an experimental subclass (on
    # unless GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false) that asks a gRPC control-plane API for every bucket's layout
    # and, when that fails (an emulator, or an account without storage.buckets.get), asks again on every call, with
    # a 60 s timeout and a warning each time. The JSON API is all our objects need.
    from gcsfs.core import GCSFileSystem  # noqa: PLC0415 - heavy import, only for gs:// URLs
    from gcsfs.retry import retry_request  # noqa: PLC0415

    class SingleAttemptGCSFileSystem(GCSFileSystem):  # type: ignore[misc]  # gcsfs ships no types
        # retry_request(retries=1) keeps gcsfs's error translation (HttpError, 404 → FileNotFoundError) but makes
        # one attempt. __wrapped__ is the undecorated coroutine function the decorator package keeps.
        _request = retry_request(retries=1)(GCSFileSystem._request.__wrapped__)

    # With one attempt, every failed request is "out of retries", and gcsfs logs each with a full traceback at ERROR
    # (on stderr, before our own one-line error); the retry layer reports and counts these failures itself.
    logging.getLogger("gcsfs").addFilter(_drop_gcsfs_request_failures)
    return SingleAttemptGCSFileSystem


def _drop_gcsfs_request_failures(record: logging.LogRecord) -> bool:
    message = str(record.msg)
    return not (message.startswith("_request out of retries") or message.startswith("_request non-retriable"))


@cache
def _azure_class() -> type:
    from adlfs import AzureBlobFileSystem  # noqa: PLC0415 - heavy import, only for az:// URLs

    class SingleAttemptAzureBlobFileSystem(AzureBlobFileSystem):  # type: ignore[misc]  # adlfs ships no types
        def do_connect(self) -> None:
            super().do_connect()
            # The service client's pipeline (shared by the container and blob clients made from it) holds this one
            # policy object; adlfs creates the client with the SDK's defaults and takes no retry options.
            policy = getattr(getattr(self.service_client, "_config", None), "retry_policy", None)
            if policy is not None and hasattr(policy, "total_retries"):
                policy.total_retries = 0

    return SingleAttemptAzureBlobFileSystem
