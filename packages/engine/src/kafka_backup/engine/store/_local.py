"""Local-file primitives of :class:`~.local.LocalStore`: the atomic write, the folder lock, the compare-and-write.

- :func:`atomic_write`: write ``<key>.tmp-<random>`` in the same folder (a large one with direct I/O where the
  filesystem allows, :mod:`._direct_io`), ``fsync`` it, ``os.replace`` it onto the key, then ``fsync`` the folder,
  so a crash leaves either the old object or the complete new one (plus, at worst, a temp file that no manifest
  references and that listings skip).
- :func:`locked_folder`: an exclusive ``flock`` on the folder itself (no lock file is created, so nothing is left
  behind and listings see nothing new). ``flock`` locks belong to an open file description, so two processes, or two
  threads that each opened the folder, exclude each other; the kernel drops the lock when its holder dies, so a
  crashed writer never leaves the folder locked. It holds on one host (and on NFS only where the client maps
  ``flock`` onto working NFS locks): two hosts sharing a folder through a filesystem without coherent locks get no
  exclusion, which ``docs/storage.md`` says.
- :func:`compare_and_write`: under the folder lock, the object's content hash (its version, :func:`content_version`)
  is compared with the one expected, then the object is written atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator

from kafka_backup.engine.errors import PreconditionFailedError
from kafka_backup.engine.store._direct_io import write_new
from kafka_backup.engine.store.base import Version

TEMP_MARKER = ".tmp-"


@contextlib.contextmanager
def locked_folder(folder: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` (created if missing) for the ``with`` block."""
    os.makedirs(folder, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor of this open file description releases the lock


def atomic_write(path: str, data: bytes) -> None:
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}{TEMP_MARKER}{uuid.uuid4().hex[:12]}"
    try:
        if not write_new(tmp, data):  # a segment goes around the page cache where the filesystem allows
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def content_version(data: bytes) -> Version:
    """The version of an object whose store has none of its own (local files, memory): its content hash."""
    return Version(f"sha256:{hashlib.sha256(data).hexdigest()}")


def file_version(path: str) -> Version | None:
    try:
        with open(path, "rb") as fh:
            return content_version(fh.read())
    except FileNotFoundError:
        return None


def compare_and_write(path: str, data: bytes, *, expect: Version | None, key: str) -> Version:
    """Write ``data`` at ``path`` only if the file is at version ``expect`` (None: absent), under the folder lock;
    the new version. Otherwise :class:`PreconditionFailedError`, the file left as it was."""
    with locked_folder(os.path.dirname(path)):
        current = file_version(path)
        if current != expect:
            raise lost_race(key, expect, "absent" if current is None else f"now {current}")
        atomic_write(path, data)
    return content_version(data)


def lost_race(key: str, expect: Version | None, detail: str | None = None) -> PreconditionFailedError:
    """The error of a conditional write that found the object changed by another writer."""
    what = "already exists" if expect is None else f"is no longer at version {expect}"
    if detail is not None and expect is not None:
        what += f" ({detail})"
    return PreconditionFailedError(f"{key} {what}", key=key, hint="another writer changed it first")
