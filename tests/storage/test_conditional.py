"""Conditional writes (``get_versioned`` + ``put_if``) on every backend: local files, S3 (MinIO), GCS
(fake-gcs-server), Azure (Azurite), including two writers racing with their own store instances."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from kafka_backup.engine.errors import StorageUnavailableError
from kafka_backup.engine.store import (
    ObjectInfo,
    Operation,
    PreconditionFailedError,
    RetryingStore,
    RetryPolicy,
    Store,
    Version,
)
from kafka_backup.engine.testing.store import RecordingStore
from rig.storage_fixtures import StorageTarget

KEY = "topics/orders/partition=0/manifest.json"
ROUNDS = 25
"""Rounds per race test: a read-then-put "condition" lets both writers through in nearly every round."""


class TestConditionalWrite:
    def test_create_if_absent(self, storage_target: StorageTarget) -> None:
        """put_if(expect=None) creates a missing object once; a second create is refused and changes nothing."""
        store = storage_target.store()
        assert store.get_versioned(KEY, operation="manifest") is None
        version = store.put_if(KEY, b"first", operation="manifest", expect=None)
        with pytest.raises(PreconditionFailedError) as refused:
            store.put_if(KEY, b"second", operation="manifest", expect=None)
        assert refused.value.key == KEY
        assert store.get_versioned(KEY, operation="manifest") == (b"first", version)

    def test_replace_at_current_version_only(self, storage_target: StorageTarget) -> None:
        """A replace at the version read succeeds and yields a new version; a replace at a stale version is refused."""
        store = storage_target.store()
        v1 = store.put_if(KEY, b"one", operation="manifest", expect=None)
        v2 = store.put_if(KEY, b"two", operation="manifest", expect=v1)
        assert v2 != v1
        with pytest.raises(PreconditionFailedError):
            store.put_if(KEY, b"three", operation="manifest", expect=v1)
        assert store.get_versioned(KEY, operation="manifest") == (b"two", v2)
        assert store.get(KEY, operation="manifest") == b"two"

    def test_version_changes_with_an_unconditional_put(self, storage_target: StorageTarget) -> None:
        """A plain put moves the version too, so a writer holding the older one is refused."""
        store = storage_target.store()
        v1 = store.put_if(KEY, b"one", operation="manifest", expect=None)
        store.put(KEY, b"overwritten", operation="manifest")
        found = store.get_versioned(KEY, operation="manifest")
        assert found is not None and found[0] == b"overwritten" and found[1] != v1
        with pytest.raises(PreconditionFailedError):
            store.put_if(KEY, b"late", operation="manifest", expect=v1)

    def test_replace_of_removed_object_is_refused(self, storage_target: StorageTarget) -> None:
        """An object removed after it was read is not recreated by a replace that expected the old version."""
        store = storage_target.store()
        v1 = store.put_if(KEY, b"one", operation="manifest", expect=None)
        store.delete(KEY)
        with pytest.raises(PreconditionFailedError):
            store.put_if(KEY, b"two", operation="manifest", expect=v1)
        assert store.stat(KEY) is None

    def test_listing_shows_only_the_object(self, storage_target: StorageTarget) -> None:
        """Conditional writes leave nothing else behind (no lock or temp files in listings)."""
        store = storage_target.store()
        v1 = store.put_if(KEY, b"one", operation="manifest", expect=None)
        store.put_if(KEY, b"two!", operation="manifest", expect=v1)
        assert store.list("") == [ObjectInfo(KEY, 4)]


class _LosesFirstAnswer(RecordingStore):
    """A real store whose first ``put_if`` answer is lost on the way back, like a connection reset after the service
    applied the write (``apply=True``) or before the request reached it (``apply=False``)."""

    def __init__(self, inner: Store, *, apply: bool, meanwhile: Callable[[], None] = lambda: None) -> None:
        super().__init__(inner)
        self.apply = apply
        self.meanwhile = meanwhile

    def put_if(self, key: str, data: bytes, *, operation: Operation, expect: Version | None) -> Version:
        if not self.written:
            self._note("put", key)
            if self.apply:
                self.inner.put_if(key, data, operation=operation, expect=expect)
            self.meanwhile()
            raise StorageUnavailableError("connection reset by peer", key=key)
        return super().put_if(key, data, operation=operation, expect=expect)


QUICK = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05, deadline=10.0)


class TestRetriedConditionalWrite:
    @pytest.mark.parametrize("expect_existing", [False, True], ids=["create", "replace"])
    def test_applied_attempt_whose_answer_was_lost_succeeds(
        self, storage_target: StorageTarget, expect_existing: bool
    ) -> None:
        """The retry of a conditional write that was applied is refused by its own precondition: that is a success."""
        store = storage_target.store()
        expect = store.put_if(KEY, b"before", operation="manifest", expect=None) if expect_existing else None
        lossy = _LosesFirstAnswer(store, apply=True)
        version = RetryingStore(lossy, QUICK).put_if(KEY, b"mine", operation="manifest", expect=expect)
        assert lossy.written == [KEY, KEY]
        assert store.get_versioned(KEY, operation="manifest") == (b"mine", version)

    def test_other_writer_winning_during_the_retry_is_a_lost_race(self, storage_target: StorageTarget) -> None:
        """When another writer changed the object between a failed attempt and its retry, the retry loses."""
        store = storage_target.store()
        v1 = store.put_if(KEY, b"before", operation="manifest", expect=None)

        def other_writer() -> None:
            storage_target.store().put_if(KEY, b"theirs", operation="manifest", expect=v1)

        lossy = _LosesFirstAnswer(store, apply=False, meanwhile=other_writer)
        with pytest.raises(PreconditionFailedError):
            RetryingStore(lossy, QUICK).put_if(KEY, b"mine", operation="manifest", expect=v1)
        assert store.get(KEY, operation="manifest") == b"theirs"


def _race(key: str, expect: Version | None, writers: list[tuple[Store, bytes]]) -> tuple[list[int], list[int]]:
    """Every writer calls ``put_if(key, its bytes, expect=expect)`` at the same instant, one thread each; the indexes
    of the writers that won and of those refused."""
    barrier = threading.Barrier(len(writers))

    def run(writer: tuple[Store, bytes]) -> bool:
        store, data = writer
        barrier.wait()
        try:
            store.put_if(key, data, operation="manifest", expect=expect)
        except PreconditionFailedError:
            return False
        return True

    with ThreadPoolExecutor(len(writers)) as pool:
        results = list(pool.map(run, writers))
    return [i for i, won in enumerate(results) if won], [i for i, won in enumerate(results) if not won]


class TestTwoWriters:
    """Two writers, each with its own store instance, race with the same expectation: exactly one wins."""

    def test_replace_race(self, storage_target: StorageTarget) -> None:
        """Both read the same version and replace at once: one write lands, the other is refused, every round."""
        a, b = storage_target.store(), storage_target.store()
        a.put_if(KEY, b"round -1", operation="manifest", expect=None)
        for n in range(ROUNDS):
            seen_a, seen_b = a.get_versioned(KEY, operation="manifest"), b.get_versioned(KEY, operation="manifest")
            assert seen_a is not None and seen_a == seen_b
            mine, theirs = f"round {n} by a".encode(), f"round {n} by b".encode()
            won, lost = _race(KEY, seen_a[1], [(a, mine), (b, theirs)])
            assert len(won) == 1 and len(lost) == 1, f"round {n}: winners {won}"
            assert a.get(KEY, operation="manifest") == (mine, theirs)[won[0]]

    def test_create_race(self, storage_target: StorageTarget) -> None:
        """Both create the same missing object at once: one creates it, the other is refused, every round."""
        a, b = storage_target.store(), storage_target.store()
        for n in range(ROUNDS):
            key = f"topics/orders/partition={n}/manifest.json"
            mine, theirs = f"{n} by a".encode(), f"{n} by b".encode()
            won, lost = _race(key, None, [(a, mine), (b, theirs)])
            assert len(won) == 1 and len(lost) == 1, f"round {n}: winners {won}"
            assert b.get(key, operation="manifest") == (mine, theirs)[won[0]]
