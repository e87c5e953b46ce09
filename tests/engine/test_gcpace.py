"""GcPacer: automatic collection off inside the block, cycles still reclaimed by tick(), state restored after."""

from __future__ import annotations

import gc
import weakref

from kafka_backup.engine.gcpace import GcPacer


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def _orphan_cycle() -> weakref.ref[_Node]:
    return weakref.ref(_Node())


class TestGcPacer:
    def test_disables_and_restores(self) -> None:
        assert gc.isenabled()
        with GcPacer():
            assert not gc.isenabled()
        assert gc.isenabled()

    def test_keeps_collection_off_when_it_was_off(self) -> None:
        gc.disable()
        try:
            with GcPacer():
                pass
            assert not gc.isenabled()
        finally:
            gc.enable()

    def test_tick_collects_cycles_once_the_interval_passed(self) -> None:
        with GcPacer(interval_s=3600) as pacer:
            ref = _orphan_cycle()
            for _ in range(10_000):  # far past the allocation threshold that would trigger a collection
                _ = [[], []]
            pacer.tick()
            assert ref() is not None, "collected although automatic collection is off and the interval has not passed"
            pacer.interval_s = 0.0
            pacer.tick()
            assert ref() is None
            assert pacer.collections == 1

    def test_restores_on_error(self) -> None:
        try:
            with GcPacer():
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        assert gc.isenabled()
