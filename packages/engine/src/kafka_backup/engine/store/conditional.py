"""Conditional reads and writes per backend: what :meth:`.FsspecStore.get_versioned` and :meth:`.FsspecStore.put_if`
do on each filesystem, and why each holds when two writers race.

In every case the check and the write are one decision of the storage service (or, for local files, happen under
one lock), never a read followed by a separate write, so two writers that read the same version cannot both win.

- **S3** (s3fs's botocore client): ``GetObject`` returns the bytes and their ``ETag`` in one response; ``PutObject``
  with ``IfNoneMatch="*"`` (create) or ``IfMatch=<etag>`` (replace) is refused with ``412 PreconditionFailed`` when
  the object exists / has changed, and a replace of a removed object gets 404. AWS S3 supports both headers since
  2024 and answers ``409 ConditionalRequestConflict`` to a conditional write that raced another one: that is raised
  as a retryable error, and the retry sees the winner's ETag. MinIO supports both (checked by ``tests/storage``). An
  S3-compatible service that ignored the headers would silently make ``put_if`` an unconditional put: run the race
  test in ``tests/storage/test_conditional.py`` against a new service before trusting its fence.
- **GCS** (gcsfs's JSON API client): a media GET returns the bytes and their generation (``X-Goog-Generation``);
  a media upload with ``ifGenerationMatch=<generation>`` (``0`` = must not exist) is refused with 412.
- **Azure Blob** (adlfs's async SDK client): ``download_blob`` returns the bytes and their ETag (the SDK reads the
  later chunks of a large blob with ``If-Match`` on it); ``upload_blob(overwrite=False)`` is refused with
  ``409 BlobAlreadyExists`` for a create, ``etag=..., match_condition=IfNotModified`` with ``412 ConditionNotMet``.
  Azurite (not the service) also refuses a create where a dead writer left only uncommitted blocks, though no blob
  exists there; then the blob is written unconditionally (the blocks are discarded). Two creators racing in exactly
  that case could both succeed: the one overwritten holds a stale ETag, so its next conditional replace is refused.
- **Local files**: the version is the SHA-256 of the content (read from one open descriptor, so bytes and version
  belong together); ``put_if`` holds an exclusive ``flock`` on the key's folder while it compares the current
  content's hash with ``expect`` and writes (temp + fsync + rename), see :mod:`._local` for why the lock holds
  between processes on one host. Two states with identical bytes share a version; a writer that expected one and
  finds the other replaces a state identical to the one it read, which is what it meant to do.
- **memory** (fsspec's in-process filesystem, for tests): as local files, with a process-wide lock, since the
  filesystem itself lives in one process.
"""

from __future__ import annotations

import threading
from typing import Any

from fsspec.asyn import sync

from kafka_backup.engine.errors import PreconditionFailedError, StorageUnavailableError
from kafka_backup.engine.store._local import compare_and_write, content_version, lost_race
from kafka_backup.engine.store.base import Backend, Version
from kafka_backup.engine.store.classify import _error_code, _status

_memory_lock = threading.Lock()


def read_versioned(fs: Any, backend: Backend, path: str) -> tuple[bytes, Version]:
    """The object at ``path`` and its version, from one response. Missing → the backend's not-found exception."""
    if backend == "s3":
        return sync(fs.loop, _s3_read, fs, path)  # type: ignore[no-any-return]
    if backend == "gcs":
        bucket, name = _split(path)
        headers, data = fs.call("GET", "b/{}/o/{}", bucket, name, alt="media")
        return data, Version(headers["X-Goog-Generation"])
    if backend == "azure":
        return sync(fs.loop, _azure_read, fs, path)  # type: ignore[no-any-return]
    if backend == "filesystem":
        with open(path, "rb") as fh:
            data = fh.read()
        return data, content_version(data)
    data = fs.cat_file(path)
    return data, content_version(data)


def write_if_version(fs: Any, backend: Backend, path: str, data: bytes, *, expect: Version | None, key: str) -> Version:
    """Write ``data`` at ``path`` only if it is at ``expect`` (None: absent); the new version. A lost race →
    :class:`PreconditionFailedError`; other failures are the backend's exceptions, for the caller to classify."""
    try:
        if backend == "s3":
            return sync(fs.loop, _s3_write, fs, path, data, expect)  # type: ignore[no-any-return]
        if backend == "gcs":
            return _gcs_write(fs, path, data, expect)
        if backend == "azure":
            return sync(fs.loop, _azure_write, fs, path, data, expect)  # type: ignore[no-any-return]
        if backend == "filesystem":
            return compare_and_write(path, data, expect=expect, key=key)
        with _memory_lock:
            current = content_version(fs.cat_file(path)) if fs.exists(path) else None
            if current != expect:
                raise lost_race(key, expect, "absent" if current is None else f"now {current}")
            fs.pipe_file(path, data)
    except PreconditionFailedError:
        raise
    except Exception as exc:
        if _lost_race(backend, exc):
            raise lost_race(key, expect) from exc
        if _error_code(exc) == "ConditionalRequestConflict":
            # AWS: another conditional write to the key was in flight; retrying shows who won
            raise StorageUnavailableError(f"conditional write of {key} raced another one", key=key) from exc
        raise
    return content_version(data)


def _lost_race(backend: Backend, exc: BaseException) -> bool:
    status = _status(exc)
    if backend == "gcs":
        return status == 412 or isinstance(exc, FileExistsError)  # gcsfs turns every 412 into FileExistsError
    if backend == "azure":
        return status == 412 or (status == 409 and _error_code(exc) == "BlobAlreadyExists")
    return backend == "s3" and status == 412


def _split(path: str) -> tuple[str, str]:
    bucket, _, name = path.lstrip("/").partition("/")
    return bucket, name


async def _s3_read(fs: Any, path: str) -> tuple[bytes, Version]:
    bucket, name = _split(path)
    response = await fs._call_s3("get_object", Bucket=bucket, Key=name)
    body = response["Body"]
    try:
        data: bytes = await body.read()
    finally:
        body.close()
    return data, Version(response["ETag"])


async def _s3_write(fs: Any, path: str, data: bytes, expect: Version | None) -> Version:
    bucket, name = _split(path)
    condition = {"IfNoneMatch": "*"} if expect is None else {"IfMatch": expect}
    # one PutObject (up to 5 GiB), not s3fs's multipart upload: the condition then applies to the one request
    response = await fs._call_s3("put_object", Bucket=bucket, Key=name, Body=data, **condition)
    return Version(response["ETag"])


def _gcs_write(fs: Any, path: str, data: bytes, expect: Version | None) -> Version:
    from gcsfs.core import quote  # noqa: PLC0415 - heavy import, only for gs:// URLs

    bucket, name = _split(path)
    out = fs.call(
        "POST",
        f"{fs._location}/upload/storage/v1/b/{quote(bucket)}/o",
        uploadType="media",
        name=name,
        ifGenerationMatch="0" if expect is None else expect,
        headers={"Content-Type": "application/octet-stream"},
        data=data,
        json_out=True,
    )
    return Version(str(out["generation"]))


async def _azure_read(fs: Any, path: str) -> tuple[bytes, Version]:
    container, name = _split(path)
    downloader = await fs.service_client.get_blob_client(container, name).download_blob()
    data: bytes = await downloader.readall()
    return data, Version(downloader.properties.etag)


async def _azure_write(fs: Any, path: str, data: bytes, expect: Version | None) -> Version:
    from azure.core import MatchConditions  # noqa: PLC0415 - heavy import, only for az:// URLs
    from azure.core.exceptions import ResourceExistsError  # noqa: PLC0415

    container, name = _split(path)
    blob = fs.service_client.get_blob_client(container, name)
    if expect is None:
        try:
            result = await blob.upload_blob(data, overwrite=False)
        except ResourceExistsError:
            if await blob.exists():
                raise
            # only a dead writer's uncommitted blocks are there: Azurite counts them as a blob for If-None-Match
            # (the service does not, so this never runs against Azure); Put Blob discards them
            result = await blob.upload_blob(data, overwrite=True)
    else:
        result = await blob.upload_blob(
            data, overwrite=True, etag=expect, match_condition=MatchConditions.IfNotModified
        )
    return Version(result["etag"])
