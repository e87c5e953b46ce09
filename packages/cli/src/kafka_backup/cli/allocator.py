"""The console script's malloc settings: large buffers freed by one batch are reused by the next.

glibc maps allocations above its mmap threshold afresh and unmaps them when freed, and gives the free memory at
a heap's top back to the kernel past its trim threshold. Both adapt (the mmap threshold rises to the largest mapped
chunk freed, the trim threshold to twice that), but a batch frees its buffers together (librdkafka's fetch buffers,
the native consumer's columns, pyarrow's and zstd's working memory, megabytes each), more than the trim threshold
grows to: each batch faulted the same memory in again, page by page. With the thresholds below, 1M x 1 KB backed
up takes 54-61 thousand page faults instead of 97-166 thousand and 2% less CPU (6.66 -> 6.52 s, means of 12 paired
rounds), for 5 MB more peak RSS (docs/performance.md, "Where the backup's CPU goes").

This is a setting of the whole process, so only the console script makes it (:func:`kafka_backup.cli.main.main`),
never the engine as a library, and not where the operator has set glibc's malloc tunables themselves.
"""

from __future__ import annotations

import os

MMAP_THRESHOLD = 32 * 1024 * 1024
"""glibc's largest mmap threshold (``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit): every buffer of a batch comes from
the heap, which keeps it for the next."""
TRIM_THRESHOLD = 256 * 1024 * 1024
"""Free memory at a heap's top given back to the kernel only past this much: above one batch's working set (a
12-partition backup peaks under 300 MB in all)."""
OPERATOR_TUNABLES = "glibc.malloc."


def tune_allocator() -> bool:
    """Sets both thresholds (``mallopt``); false where the C library is not glibc or ``GLIBC_TUNABLES`` already
    sets malloc parameters (the operator's choice stands)."""
    if OPERATOR_TUNABLES in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    from kafka_backup.engine._native import tune_allocator as mallopt  # noqa: PLC0415 - the data plane's commands only

    return mallopt(MMAP_THRESHOLD, TRIM_THRESHOLD)
