"""The process's allocator settings (``kafka_backup.engine.allocator``): with glibc's malloc tuned, freed
multi-megabyte buffers stay mapped for the next batch, so allocating them again faults no pages in; pyarrow allocates
from jemalloc; and the operator's own ``GLIBC_TUNABLES`` and ``ARROW_DEFAULT_MEMORY_POOL`` stand.

Each check runs in a fresh interpreter: the settings are the process's, and the test process's must not decide it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from kafka_backup.engine.allocator import MMAP_THRESHOLD

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's"
)

BUFFER = 8 * 1024 * 1024
BUFFERS = 4
"""A round holds four buffers at once, as a batch holds its fetch buffers, columns and encoder's memory: freeing
them leaves 32 MB at the heap's top, more than glibc's default trim threshold ever grows to for 8 MB buffers."""
ROUNDS = 20
PAGES = BUFFERS * BUFFER // 4096

CHURN = f"""
import resource, sys
from kafka_backup.engine.allocator import tune_malloc
print(tune_malloc() if sys.argv[1] == "tune" else None)
buffers = [bytearray({BUFFER}) for _ in range({BUFFERS})]; del buffers  # the first round faults in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range({ROUNDS}):
    buffers = [bytearray({BUFFER}) for _ in range({BUFFERS})]  # zero-filled: every page written
    del buffers
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


POOL = """
import pyarrow as pa
from kafka_backup.engine.allocator import arrow_on_jemalloc
took = arrow_on_jemalloc()
buffer = pa.allocate_buffer(1 << 20)
print(took, pa.default_memory_pool().backend_name, pa.jemalloc_memory_pool().bytes_allocated() >= buffer.size)
"""


def _python(code: str, *args: str, **env: str) -> list[str]:
    """Runs ``code`` in a fresh interpreter without the operator variables of this environment, plus ``env``."""
    clean = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "ARROW_DEFAULT_MEMORY_POOL")}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=clean | env, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.split()


def _churn(mode: str, **env: str) -> tuple[str, int]:
    took, faults = _python(CHURN, mode, **env)
    return took, int(faults)


def test_tuned_buffers_are_reused_instead_of_faulted_in_again() -> None:
    assert BUFFER < MMAP_THRESHOLD  # the buffer is one the setting keeps on the heap
    took, tuned = _churn("tune")
    assert took == "True"
    _, default = _churn("default")
    # glibc's default gives the memory back at the end of most rounds (how many depends on how its adaptive
    # thresholds meet the heap's layout: 9 to 20 of 20 seen): the next faults its 8,192 pages in again
    assert default >= 5 * PAGES
    assert tuned < PAGES  # tuned, not one round's worth in all 20


def test_the_operators_malloc_tunables_stand() -> None:
    took, faults = _churn("tune", GLIBC_TUNABLES="glibc.malloc.mmap_threshold=131072")
    assert took == "False"
    assert faults >= ROUNDS * PAGES // 2  # the operator's 128 KB threshold, not ours, decided


def test_arrow_allocates_from_jemalloc() -> None:
    assert _python(POOL) == ["True", "jemalloc", "True"]


def test_the_operators_arrow_pool_stands() -> None:
    assert _python(POOL, ARROW_DEFAULT_MEMORY_POOL="mimalloc") == ["False", "mimalloc", "False"]
