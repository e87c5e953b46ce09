"""The storage contract, checked against every backend: local files, S3 (MinIO), GCS (fake-gcs-server), Azure (Azurite).

One suite, parametrized by the ``storage_target`` fixture; a backend that cannot show a property says why it skips.
"""

from __future__ import annotations

import threading

import pytest

from kafka_backup.engine.errors import (
    StorageAuthError,
    StorageError,
    StorageNotFoundError,
    StorageUnavailableError,
)
from kafka_backup.engine.store import BucketNotFoundError, ObjectInfo, RetryPolicy, Store
from rig.storage_fixtures import StorageTarget

SEGMENT = "topics/orders.v1/partition=0/segment-00000000000000000000-00000000000000000099.parquet"


def _payload(size: int, seed: int = 0) -> bytes:
    return bytes((i * 31 + seed) % 251 for i in range(size))


class _Attempts:
    """Counts the retries RetryingStore makes (its ``on_retry`` hook)."""

    def __init__(self) -> None:
        self.retries: list[tuple[str, BaseException]] = []

    def __call__(self, action: str, exc: BaseException) -> None:
        self.retries.append((action, exc))


def _needs_server(target: StorageTarget) -> None:
    if target.server is None:
        pytest.skip("local files have no server, credentials or bucket")


class TestReadWrite:
    def test_put_get_roundtrip(self, storage_target: StorageTarget) -> None:
        """A whole object written with put is read back byte for byte."""
        store = storage_target.store()
        data = _payload(100_000)
        store.put(SEGMENT, data, operation="segment")
        assert store.get(SEGMENT, operation="segment") == data

    def test_ranged_get(self, storage_target: StorageTarget) -> None:
        """get(start, end) returns exactly bytes [start, end); open ends read to the end or from the start."""
        store = storage_target.store()
        data = _payload(10_000, seed=3)
        store.put("ranged.bin", data, operation="segment")
        assert store.get("ranged.bin", operation="segment", start=100, end=1_100) == data[100:1_100]
        assert store.get("ranged.bin", operation="segment", start=9_990) == data[9_990:]
        assert store.get("ranged.bin", operation="segment", end=10) == data[:10]

    def test_stat(self, storage_target: StorageTarget) -> None:
        """stat gives the size of an object and None for a missing one."""
        store = storage_target.store()
        store.put("a/b/manifest.json", b"{}" * 50, operation="manifest")
        assert store.stat("a/b/manifest.json") == ObjectInfo(key="a/b/manifest.json", size=100)
        assert store.stat("a/b/missing.json") is None
        assert store.stat("a/b") is None  # a "folder" is not an object

    def test_empty_object(self, storage_target: StorageTarget) -> None:
        """A zero-byte object is stored, listed and read like any other."""
        store = storage_target.store()
        store.put("empty", b"", operation="checkpoint")
        assert store.get("empty", operation="checkpoint") == b""
        assert store.list("") == [ObjectInfo(key="empty", size=0)]

    def test_keys_with_dots_dashes_and_equals(self, storage_target: StorageTarget) -> None:
        """Keys shaped like our layout (dots, dashes, ``=``, long digit runs) round-trip and list exactly."""
        store = storage_target.store()
        keys = [
            SEGMENT,
            "topics/orders.v1/partition=0/manifest.json",
            "topics/orders-v1/partition=10/.hidden-dot-file",
            "topics/orders_v1..x/partition=1/a.b.c-d--e.parquet",
        ]
        for i, key in enumerate(keys):
            store.put(key, f"object {i}".encode(), operation="segment")
        assert [o.key for o in store.list("")] == sorted(keys)
        for i, key in enumerate(keys):
            assert store.get(key, operation="segment") == f"object {i}".encode()

    def test_delete(self, storage_target: StorageTarget) -> None:
        """delete removes the object; deleting a missing object is not an error."""
        store = storage_target.store()
        store.put("doomed", b"x", operation="checkpoint")
        store.delete("doomed")
        assert store.stat("doomed") is None
        assert store.list("") == []
        store.delete("doomed")
        store.delete("never/existed")


class TestList:
    def test_list_by_prefix(self, storage_target: StorageTarget) -> None:
        """list(prefix) returns every object under the prefix, recursively, sorted, with sizes."""
        store = storage_target.store()
        for key in ["t/a/1", "t/a/2", "t/ab/1", "t/b/deep/er/1", "u/1"]:
            store.put(key, key.encode(), operation="segment")
        assert store.list("t/a/") == [ObjectInfo("t/a/1", 5), ObjectInfo("t/a/2", 5)]
        assert [o.key for o in store.list("t/a")] == ["t/a/1", "t/a/2", "t/ab/1"]
        assert [o.key for o in store.list("t/")] == ["t/a/1", "t/a/2", "t/ab/1", "t/b/deep/er/1"]
        assert [o.key for o in store.list("")] == ["t/a/1", "t/a/2", "t/ab/1", "t/b/deep/er/1", "u/1"]
        assert store.list("nothing/here/") == []

    def test_list_excludes_temp_objects(self, storage_target: StorageTarget) -> None:
        """Objects named like the local store's temp files are never listed as objects."""
        store = storage_target.store()
        store.put("p/real", b"1", operation="segment")
        storage_target.put_raw("p/real.tmp-0123456789ab", b"partial")
        assert store.list("p/") == [ObjectInfo("p/real", 1)]

    def test_incomplete_upload_is_not_an_object(self, storage_target: StorageTarget) -> None:
        """An upload that never completed (multipart, resumable, uncommitted blocks, temp file) is invisible."""
        store = storage_target.store()
        store.put("seg/complete", b"done", operation="segment")
        storage_target.leave_incomplete_upload("seg/incomplete", _payload(4096))
        assert store.list("seg/") == [ObjectInfo("seg/complete", 4)]
        assert store.stat("seg/incomplete") is None
        with pytest.raises(StorageNotFoundError):
            store.get("seg/incomplete", operation="segment")


class TestAtomicity:
    def test_overwrite_replaces_whole_object(self, storage_target: StorageTarget) -> None:
        """Overwriting with a shorter object leaves exactly the new bytes (no tail of the old one)."""
        store = storage_target.store()
        store.put("m", _payload(50_000), operation="manifest")
        store.put("m", b"short", operation="manifest")
        assert store.get("m", operation="manifest") == b"short"
        assert store.stat("m") == ObjectInfo("m", 5)

    def test_readers_never_see_a_partial_object(self, storage_target: StorageTarget) -> None:
        """While one thread overwrites an object again and again, readers only ever see a complete version."""
        store, reader = storage_target.store(), storage_target.store()
        versions = [_payload(3 * 2**20, seed=s) for s in range(3)]
        store.put("hot", versions[0], operation="manifest")
        done = threading.Event()
        errors: list[BaseException] = []

        def write() -> None:
            try:
                for i in range(6):
                    store.put("hot", versions[(i + 1) % 3], operation="manifest")
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        writer = threading.Thread(target=write)
        writer.start()
        reads = 0
        while not done.is_set() or reads < 3:
            info = reader.stat("hot")
            assert info == ObjectInfo("hot", len(versions[0]))
            assert reader.get("hot", operation="manifest") in versions
            assert [o.key for o in reader.list("")] == ["hot"]
            reads += 1
        writer.join()
        assert not errors

    def test_nothing_visible_before_put_returns(self, storage_target: StorageTarget) -> None:
        """A new key is absent from stat, get and list until its put completes, then present in full."""
        store, reader = storage_target.store(), storage_target.store()
        data = _payload(6 * 2**20, seed=9)
        seen: list[int | None] = []
        started, done = threading.Event(), threading.Event()

        def poll() -> None:
            started.set()
            while not done.is_set():
                info = reader.stat("new")
                seen.append(None if info is None else info.size)

        poller = threading.Thread(target=poll)
        poller.start()
        started.wait()
        try:
            store.put("new", data, operation="segment")
        finally:
            done.set()
            poller.join()
        assert set(seen) <= {None, len(data)}
        assert store.get("new", operation="segment") == data


class TestErrors:
    def test_missing_key(self, storage_target: StorageTarget) -> None:
        """Reading a missing key raises StorageNotFoundError naming the key, at once (no retries)."""
        attempts = _Attempts()
        store = storage_target.store(on_retry=attempts)
        with pytest.raises(StorageNotFoundError) as info:
            store.get("no/such/key", operation="segment")
        assert not isinstance(info.value, BucketNotFoundError)
        assert info.value.error_type == "not_found"
        assert "no/such/key" in str(info.value)
        assert attempts.retries == []

    def test_wrong_credentials_fail_at_once(self, storage_target: StorageTarget) -> None:
        """A rejected credential is a StorageAuthError on the first attempt: no retries, no waiting."""
        _needs_server(storage_target)
        server = storage_target.server
        assert server is not None
        if server.kind == "gcs":
            pytest.skip("fake-gcs-server accepts any credential, so it cannot reject one (see docs/storage.md)")
        attempts = _Attempts()
        store = storage_target.store(on_retry=attempts, settings=server.bad_settings())
        for call in (
            lambda: store.put("k", b"v", operation="segment"),
            lambda: store.get("k", operation="segment"),
            lambda: store.list(""),
        ):
            with pytest.raises(StorageAuthError) as info:
                call()
            assert info.value.error_type == "auth"
            assert not info.value.retryable
        assert attempts.retries == []  # rejected at once: not one retry
        assert "wrong" not in str(info.value)  # the message never carries the secret

    def test_missing_bucket(self, storage_target: StorageTarget) -> None:
        """Every operation on a missing bucket/container fails with a not_found error saying how to create it."""
        _needs_server(storage_target)
        server = storage_target.server
        assert server is not None
        attempts = _Attempts()
        store = storage_target.store(on_retry=attempts, url=server.url("no-such-bucket-1f3a", "backups"))
        noun = "container" if storage_target.backend == "azure" else "bucket"
        for call in (
            lambda: store.put("k", b"v", operation="segment"),
            lambda: store.get("k", operation="segment"),
            lambda: store.stat("k"),
            lambda: store.list(""),
        ):
            with pytest.raises(BucketNotFoundError) as info:
                call()
            error = info.value
            assert error.error_type == "not_found"
            assert f"the {noun} 'no-such-bucket-1f3a' does not exist" in error.message
            assert error.hint is not None
            assert "no-such-bucket-1f3a" in error.hint
            assert "create" in error.hint
        assert attempts.retries == []


class TestServerOutage:
    def test_stopped_server_is_retried_then_reported(self, storage_target: StorageTarget) -> None:
        """With the server down, each call is retried up to the policy's attempts, then fails as unavailable."""
        _needs_server(storage_target)
        server = storage_target.server
        assert server is not None
        attempts = _Attempts()
        store = storage_target.store(
            retry=RetryPolicy(attempts=3, initial_delay=0.05, max_delay=0.1, deadline=30), on_retry=attempts
        )
        store.put("before", b"1", operation="segment")
        server.stop()
        try:
            with pytest.raises(StorageUnavailableError) as info:
                store.get("before", operation="segment")
            assert info.value.retryable
            assert "'before'" in str(info.value)
            assert [action for action, _ in attempts.retries] == ["get", "get"]
        finally:
            server.start()
        assert store.get("before", operation="segment") == b"1"

    def test_server_back_during_retries(self, storage_target: StorageTarget) -> None:
        """A server that comes back while the store is retrying serves the call: the caller sees success."""
        _needs_server(storage_target)
        server = storage_target.server
        assert server is not None
        attempts = _Attempts()
        store: Store = storage_target.store(
            retry=RetryPolicy(attempts=30, initial_delay=0.2, max_delay=0.5, deadline=60), on_retry=attempts
        )
        store.put("k", b"before", operation="segment")
        server.stop()
        restarter = threading.Timer(1.5, server.start)
        restarter.start()
        try:
            store.put("k", b"after", operation="segment")
        finally:
            restarter.join()
            server.start()
        assert attempts.retries, "the call should have needed retries while the server was down"
        assert all(isinstance(exc, StorageError) and exc.retryable for _, exc in attempts.retries)
        assert store.get("k", operation="segment") == b"after"
