"""Large local writes around the page cache (``store/_direct_io.py``): exact bytes at every size around the chunk
and block boundaries, through the store's atomic write, and the buffered way where the kernel refuses direct I/O."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from kafka_backup.engine.store import _direct_io
from kafka_backup.engine.store._local import atomic_write
from kafka_backup.engine.store.local import LocalStore

CHUNK = _direct_io.CHUNK_BYTES
SIZES = [
    _direct_io.MIN_BYTES - 1,  # below the threshold: buffered
    _direct_io.MIN_BYTES,
    CHUNK + 1,
    CHUNK + _direct_io.ALIGN,
    2 * CHUNK - 1,
    3 * CHUNK,
    3 * CHUNK + 4095,
    5_000_017,
]


def _blob(seed: int, size: int) -> bytes:
    """Bytes that differ at every offset and from seed to seed: a misplaced chunk or a stale buffer shows."""
    return hashlib.shake_256(seed.to_bytes(8, "little")).digest(size)


def _supports_direct(folder: Path) -> bool:
    probe = folder / "probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
    except OSError:
        return False
    os.close(fd)
    probe.unlink()
    return True


@pytest.fixture
def direct_dir(tmp_path: Path) -> Path:
    if not _supports_direct(tmp_path):
        pytest.skip(f"{tmp_path} is on a filesystem without O_DIRECT")
    return tmp_path


@pytest.mark.parametrize("size", SIZES)
def test_write_new_is_exact_at_every_boundary(direct_dir: Path, size: int) -> None:
    data = _blob(size, size)
    path = direct_dir / "segment"
    used = _direct_io.write_new(str(path), data)
    assert used is (size >= _direct_io.MIN_BYTES)
    if used:
        assert path.read_bytes() == data
        assert os.stat(path).st_size == size
    else:
        assert not path.exists()  # nothing left behind for the buffered write to create


def test_atomic_write_of_a_segment_goes_direct_and_reads_back(direct_dir: Path) -> None:
    data = _blob(7, 3 * CHUNK + 123)
    store = LocalStore(str(direct_dir))
    store.put("topics/t/0/segments/a.parquet", data, operation="segment")
    assert store.get("topics/t/0/segments/a.parquet", operation="segment") == data
    assert [p.name for p in (direct_dir / "topics/t/0/segments").iterdir()] == ["a.parquet"]  # no temp file left


def test_threads_write_through_their_own_buffers(direct_dir: Path) -> None:
    blobs = {f"f{i}": _blob(i, 2 * CHUNK + 1000 * i + 1) for i in range(6)}
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            for _ in range(3):
                target = direct_dir / name
                target.unlink(missing_ok=True)
                atomic_write(str(target), blobs[name])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(name,)) for name in blobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for name, blob in blobs.items():
        assert (direct_dir / name).read_bytes() == blob


def test_existing_path_is_an_error_not_an_overwrite(direct_dir: Path) -> None:
    path = direct_dir / "taken"
    path.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        _direct_io.write_new(str(path), bytes(CHUNK))
    assert path.read_bytes() == b"old"


def test_a_refused_write_falls_back_to_buffered(direct_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's own refusal: the last chunk padded to 256 bytes is not block-aligned, so after a full first chunk
    its direct write fails with EINVAL, as on a filesystem that takes ``O_DIRECT`` at open but not its writes."""
    monkeypatch.setattr(_direct_io, "ALIGN", 256)
    monkeypatch.setattr(_direct_io, "_refused", set())
    data = _blob(5, CHUNK + 7)
    assert not _direct_io.write_new(str(direct_dir / "x"), data)
    assert not (direct_dir / "x").exists()
    assert _direct_io._refused == {os.stat(direct_dir).st_dev}  # not tried again on this filesystem
    atomic_write(str(direct_dir / "y"), data)
    assert (direct_dir / "y").read_bytes() == data
    assert sorted(p.name for p in direct_dir.iterdir()) == ["y"]
