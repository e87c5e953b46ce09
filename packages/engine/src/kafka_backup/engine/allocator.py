"""The process's allocators: large buffers freed by one batch are reused by the next, not faulted in again.

- **glibc's malloc** (librdkafka, the native module, Python): glibc maps allocations above its mmap threshold afresh
  and unmaps them when freed, and gives the free memory at a heap's top back to the kernel past its trim threshold.
  Both adapt (the mmap threshold rises to the largest mapped chunk freed, the trim threshold to twice that), but a
  batch frees its buffers together (librdkafka's fetch buffers, the native consumer's columns, megabytes each), more
  than the trim threshold grows to: each batch faulted the same memory in again, page by page. With the thresholds
  below, 1M x 1 KB backed up takes 54-61 thousand page faults instead of 97-166 thousand and 2% less CPU (6.66 ->
  6.52 s, means of 12 paired rounds), for 5 MB more peak RSS.
- **Arrow's memory pool** (the segments' tables, Parquet's and zstd's buffers): jemalloc instead of pyarrow's default
  mimalloc. mimalloc backs its pages with transparent huge pages, and Arrow's freed memory goes back to the OS after
  each segment (``RELEASE_ARROW_MEMORY``), so every segment faulted in 2 MB pages that the kernel zeroes first: 10-11%
  of the backup's CPU in ``clear_page_erms``. Backup of 1M x 1 KB, 6 paired rounds: CPU 6.62 -> 6.24 s (-6%, every
  round), wall 5.46 -> 5.08 s, peak RSS 263 -> 242 MB; its restore, 4 paired rounds: CPU and wall within 2%, peak
  RSS 297 -> 251 MB. Over 12 and 48 partitions (500,000 x 1 KB) the backup peaks 7-10 MB higher (274 -> 281 MB,
  258 -> 268 MB; two rounds each, in two runs).

(docs/performance.md, "Where the backup's CPU goes".) These are settings of the whole process, so the engine never
makes them by itself: the program that owns the process calls :func:`tune_allocators` once at start (the console
script does, :mod:`kafka_backup.cli.main`, for the commands that move records). Neither applies where the operator
chose: ``GLIBC_TUNABLES`` with malloc parameters, ``ARROW_DEFAULT_MEMORY_POOL``.
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
ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def tune_allocators() -> None:
    """Both settings below; for the program that owns the process, once, before records move."""
    tune_malloc()
    arrow_on_jemalloc()


def tune_malloc() -> bool:
    """Sets both glibc thresholds (``mallopt``); false where the C library is not glibc or ``GLIBC_TUNABLES``
    already sets malloc parameters (the operator's choice stands)."""
    if OPERATOR_TUNABLES in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    from kafka_backup.engine._native import tune_allocator as mallopt  # noqa: PLC0415 - the data plane's commands only

    return mallopt(MMAP_THRESHOLD, TRIM_THRESHOLD)


def arrow_on_jemalloc() -> bool:
    """Makes jemalloc pyarrow's default memory pool; false where pyarrow was built without it or the operator set
    ``ARROW_DEFAULT_MEMORY_POOL``. Buffers allocated before keep their own pool, so switching is safe at any time."""
    if os.environ.get(ARROW_POOL_VARIABLE):
        return False
    import pyarrow as pa  # noqa: PLC0415 - the data plane's commands import it anyway

    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    pa.set_memory_pool(pool)
    return True
