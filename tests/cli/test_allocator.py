"""The console script's malloc settings (``kafka_backup.cli.allocator``): a freed multi-megabyte buffer stays mapped
for the next one, so allocating it again faults no pages in; and the operator's own ``GLIBC_TUNABLES`` stand.

Each check runs in a fresh interpreter: the settings are the process's, and the test process's must not decide it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from kafka_backup.cli.allocator import MMAP_THRESHOLD

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
from kafka_backup.cli.allocator import tune_allocator
print(tune_allocator() if sys.argv[1] == "tune" else None)
buffers = [bytearray({BUFFER}) for _ in range({BUFFERS})]; del buffers  # the first round faults in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range({ROUNDS}):
    buffers = [bytearray({BUFFER}) for _ in range({BUFFERS})]  # zero-filled: every page written
    del buffers
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _churn(mode: str, **env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    done = subprocess.run(
        [sys.executable, "-c", CHURN, mode], env=clean | env, capture_output=True, text=True, check=True, timeout=60
    )
    took, faults = done.stdout.split()
    return took, int(faults)


def test_tuned_buffers_are_reused_instead_of_faulted_in_again() -> None:
    assert BUFFER < MMAP_THRESHOLD  # the buffer is one the setting keeps on the heap
    took, tuned = _churn("tune")
    assert took == "True"
    _, default = _churn("default")
    # glibc's default gives the memory back at the end of each round: the next faults its 8,192 pages in again
    assert default >= ROUNDS * PAGES // 2
    assert tuned < PAGES


def test_the_operators_malloc_tunables_stand() -> None:
    took, faults = _churn("tune", GLIBC_TUNABLES="glibc.malloc.mmap_threshold=131072")
    assert took == "False"
    assert faults >= ROUNDS * PAGES // 2  # the operator's 128 KB threshold, not ours, decided
