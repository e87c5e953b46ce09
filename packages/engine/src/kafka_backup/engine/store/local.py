"""The :class:`~.base.Store` for local files (``file://`` URLs and plain paths), on the operating system's calls.

It keeps exactly the promises the fsspec store keeps for local files (same atomic write, same folder lock for
conditional writes, same listing rules: recursive, sorted, temp files and folders skipped) without importing fsspec,
whose import (with asyncio, its compression registry and ``importlib.metadata``) is most of what a ``list`` of a
local store would otherwise spend starting up. Object stores, ``memory://`` and local URLs with explicit fsspec
options still go through :class:`~.fsspec.FsspecStore`.
"""

from __future__ import annotations

import os

from kafka_backup.engine.errors import PreconditionFailedError, StorageNotFoundError
from kafka_backup.engine.store._local import TEMP_MARKER, atomic_write, compare_and_write, content_version
from kafka_backup.engine.store.base import Backend, ObjectInfo, Operation, RootedStore, Version
from kafka_backup.engine.store.classify import classify

__all__ = ["LocalStore"]


class LocalStore(RootedStore):
    """A store rooted at a local folder; ``url`` is ``file:///abs/path`` (or ``local://...``) or a plain path."""

    def __init__(self, url: str) -> None:
        scheme, sep, path = url.partition("://")
        if not sep or len(scheme) <= 1:  # a plain path (a one-letter "scheme" is a Windows drive)
            scheme, path = "file", url
        self._root = os.path.abspath(os.path.expanduser(path)).rstrip("/") or "/"
        self._url = f"{scheme}://{self._root}"
        self._backend: Backend = "filesystem"

    def put(self, key: str, data: bytes, *, operation: Operation) -> None:
        try:
            atomic_write(self._path(key), data)
        except Exception as exc:
            raise classify(exc, key=key, action=f"write {operation}") from exc

    def get(self, key: str, *, operation: Operation, start: int | None = None, end: int | None = None) -> bytes:
        try:
            with open(self._path(key), "rb") as fh:
                if start:
                    fh.seek(start)
                return fh.read() if end is None else fh.read(max(0, end - (start or 0)))
        except Exception as exc:
            raise classify(exc, key=key, action=f"read {operation}") from exc

    def get_versioned(self, key: str, *, operation: Operation) -> tuple[bytes, Version] | None:
        try:
            with open(self._path(key), "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise classify(exc, key=key, action=f"read {operation}") from exc
        return data, content_version(data)

    def put_if(self, key: str, data: bytes, *, operation: Operation, expect: Version | None) -> Version:
        try:
            return compare_and_write(self._path(key), data, expect=expect, key=key)
        except PreconditionFailedError:
            raise
        except Exception as exc:
            raise classify(exc, key=key, action=f"write {operation}") from exc

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            info = os.stat(self._path(key))
        except FileNotFoundError:
            return None
        except Exception as exc:
            error = classify(exc, key=key, action="stat")
            if isinstance(error, StorageNotFoundError):
                return None
            raise error from exc
        if os.path.isdir(self._path(key)):
            return None
        return ObjectInfo(key=key, size=info.st_size)

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self._path(prefix.rstrip("/")) if prefix else self._root
        # list the folder part of the prefix, then filter by the rest, so "topics/a" does not match "topics/ab/"
        folder = base if prefix.endswith("/") or not prefix else base.rsplit("/", 1)[0]
        if not os.path.isdir(folder):
            return []
        out: list[ObjectInfo] = []
        skip = len(self._root) + 1
        try:
            for here, _dirs, files in os.walk(folder, onerror=_walk_error, followlinks=True):
                for name in files:
                    path = f"{here}/{name}"
                    rel = path[skip:]
                    if rel.startswith(prefix) and TEMP_MARKER not in name:
                        try:
                            out.append(ObjectInfo(key=rel, size=os.stat(path).st_size))
                        except FileNotFoundError:
                            continue  # removed while listing
        except Exception as exc:
            raise classify(exc, key=prefix, action="list") from exc
        out.sort(key=lambda o: o.key)
        return out

    def delete(self, key: str) -> None:
        try:
            os.remove(self._path(key))
        except FileNotFoundError:
            return
        except Exception as exc:
            raise classify(exc, key=key, action="delete") from exc


def _walk_error(exc: OSError) -> None:
    """``os.walk`` ignores errors unless told: a folder that cannot be read fails the listing (one removed while
    listing holds nothing to list)."""
    if not isinstance(exc, FileNotFoundError):
        raise exc
