"""The one real :class:`Store` implementation: any fsspec filesystem (local, s3fs, gcsfs, adlfs).

Atomicity per backend:
- local files: temp file + ``fsync`` + ``os.replace`` + ``fsync`` of the folder (:func:`._local.atomic_write`);
- object stores: a single ``pipe_file`` call, which is one PUT (or a multipart upload, resumable upload or block
  list that only becomes visible when completed). An upload that never completes is never listed, read or stat-ed:
  S3 keeps incomplete multipart uploads apart from objects, GCS keeps resumable sessions apart, and Azure keeps
  uncommitted blocks out of blob listings (each checked against a real server by ``tests/storage``).

Conditional writes (``get_versioned``/``put_if``) are done per backend by :mod:`.conditional`.

A missing bucket or container is never mistaken for an empty prefix: when a listing comes back empty, or an
operation fails with "not found", the store asks whether the bucket exists and, if not, says how to create it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from fsspec.core import split_protocol

from kafka_backup.engine.errors import BucketNotFoundError, PreconditionFailedError, StorageError, StorageNotFoundError
from kafka_backup.engine.store._filesystems import make_filesystem
from kafka_backup.engine.store._local import TEMP_MARKER, atomic_write
from kafka_backup.engine.store.base import ObjectInfo, Operation, RootedStore, Version
from kafka_backup.engine.store.classify import classify, missing_bucket_error
from kafka_backup.engine.store.conditional import read_versioned, write_if_version
from kafka_backup.engine.store.options import backend_of

__all__ = ["TEMP_MARKER", "FsspecStore"]


class FsspecStore(RootedStore):
    """A :class:`~.base.Store` over an fsspec filesystem rooted at ``url``."""

    def __init__(self, url: str, options: Mapping[str, Any] | None = None) -> None:
        self._backend = backend_of(url)
        protocol, path = split_protocol(url)
        protocol = protocol or "file"
        if self._backend == "filesystem":
            path = os.path.abspath(os.path.expanduser(path))
        self._url = f"{protocol}://{path.rstrip('/')}"
        self._root = path.rstrip("/")
        self._bucket = path.strip("/").split("/", 1)[0] if self._backend not in ("filesystem", "memory") else None
        self._bucket_seen = False  # once seen, assume the bucket stays: a missing key then costs no second request
        try:
            self._fs = make_filesystem(protocol, dict(options or {}))
        except Exception as exc:
            raise classify(exc, key=None, action="open storage") from exc

    def put(self, key: str, data: bytes, *, operation: Operation) -> None:
        path = self._path(key)
        try:
            if self._backend == "filesystem":
                atomic_write(path, data)
            else:
                self._fs.pipe_file(path, data)
        except Exception as exc:
            raise self._error(exc, key=key, action=f"write {operation}") from exc

    def get(self, key: str, *, operation: Operation, start: int | None = None, end: int | None = None) -> bytes:
        try:
            data: bytes = self._fs.cat_file(self._path(key), start=start, end=end)
        except Exception as exc:
            raise self._error(exc, key=key, action=f"read {operation}") from exc
        return data

    def get_versioned(self, key: str, *, operation: Operation) -> tuple[bytes, Version] | None:
        try:
            return read_versioned(self._fs, self._backend, self._path(key))
        except Exception as exc:
            error = self._error(exc, key=key, action=f"read {operation}")
            if isinstance(error, StorageNotFoundError) and not isinstance(error, BucketNotFoundError):
                return None
            raise error from exc

    def put_if(self, key: str, data: bytes, *, operation: Operation, expect: Version | None) -> Version:
        try:
            return write_if_version(self._fs, self._backend, self._path(key), data, expect=expect, key=key)
        except PreconditionFailedError:
            raise
        except Exception as exc:
            error = self._error(exc, key=key, action=f"write {operation}")
            if isinstance(error, StorageNotFoundError) and not isinstance(error, BucketNotFoundError):
                # a replace of an object that was removed meanwhile (S3 answers 404 to If-Match on a missing key)
                raise PreconditionFailedError(f"{key} was removed by another writer", key=key) from exc
            raise error from exc

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            info = self._fs.info(self._path(key))
        except Exception as exc:
            error = self._error(exc, key=key, action="stat")
            if isinstance(error, StorageNotFoundError) and not isinstance(error, BucketNotFoundError):
                return None
            raise error from exc
        if info.get("type") == "directory":
            return None
        return ObjectInfo(key=key, size=int(info["size"]))

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self._path(prefix.rstrip("/")) if prefix else self._root
        # list the folder part of the prefix, then filter by the rest, so "topics/a" does not match "topics/ab/"
        folder = base if prefix.endswith("/") or not prefix else base.rsplit("/", 1)[0]
        try:
            found = self._fs.find(folder, detail=True)
        except Exception as exc:
            error = self._error(exc, key=prefix, action="list")
            if isinstance(error, StorageNotFoundError) and not isinstance(error, BucketNotFoundError):
                return []
            raise error from exc
        if not found:
            self._check_bucket(action="list", key=prefix)
        root = self._fs._strip_protocol(self._root).rstrip("/")
        out: list[ObjectInfo] = []
        for path, info in found.items():
            rel = self._fs._strip_protocol(path)[len(root) :].lstrip("/")
            if rel.startswith(prefix) and TEMP_MARKER not in rel.rsplit("/", 1)[-1] and info.get("type") != "directory":
                out.append(ObjectInfo(key=rel, size=int(info["size"])))
        out.sort(key=lambda o: o.key)
        return out

    def delete(self, key: str) -> None:
        try:
            self._fs.rm_file(self._path(key))
        except Exception as exc:
            error = self._error(exc, key=key, action="delete")
            if not isinstance(error, StorageNotFoundError) or isinstance(error, BucketNotFoundError):
                raise error from exc

    def _error(self, exc: BaseException, *, key: str | None, action: str) -> StorageError:
        """``classify(exc)``, except that "not found" in a missing bucket becomes the missing-bucket error."""
        error = classify(exc, key=key, action=action)
        if isinstance(error, StorageNotFoundError) and self._bucket is not None:
            try:
                self._check_bucket(action=action, key=key)
            except BucketNotFoundError as missing:
                return missing
            except StorageError:
                pass  # the original error is the better one if this check fails
        return error

    def _check_bucket(self, *, action: str, key: str | None) -> None:
        """Raise the missing-bucket error when the store's bucket/container does not exist (object stores only)."""
        if self._bucket is None or self._bucket_seen:
            return
        try:
            self._bucket_seen = bool(self._fs.exists(self._bucket))
        except Exception as exc:
            raise classify(exc, key=key, action=action) from exc
        if not self._bucket_seen:
            raise missing_bucket_error(self._backend, self._bucket, action=action, key=key)
