//! The process's malloc settings (glibc): freed buffers stay mapped for reuse instead of going back to the kernel.
//!
//! glibc serves every allocation above its mmap threshold (dynamic, 128 KB to 32 MB) with a fresh `mmap` and gives
//! it back with `munmap`, and returns the top of a heap to the kernel past its trim threshold (twice the mmap one).
//! The backup's buffers (librdkafka's fetch buffers, the batch columns this module builds, pyarrow's and zstd's
//! working memory) are megabytes each and are freed together and allocated again every batch, so the same memory
//! was faulted in page by page again: 97-166 thousand page faults and their kernel page-clearing per million 1 KB records.
//! With the mmap threshold at 32 MB and the trim threshold at 256 MB the memory is reused instead: 54-61 thousand
//! faults, 2% less CPU for +5 MB of peak RSS (docs/performance.md, "Where the backup's CPU goes"). The console script
//! calls this (through kafka_backup.engine.tune_allocators); the engine as a library does not.

/// `mallopt(M_MMAP_THRESHOLD)` and `mallopt(M_TRIM_THRESHOLD)` with these sizes: the same as
/// `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=…:glibc.malloc.trim_threshold=…` at start-up. True if glibc took
/// both; false where the C library is not glibc.
#[pyo3::pyfunction]
pub fn tune_allocator(mmap_threshold: i32, trim_threshold: i32) -> bool {
    set(mmap_threshold, trim_threshold)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set(mmap_threshold: i32, trim_threshold: i32) -> bool {
    // SAFETY: mallopt only changes two parameters of the allocator; it is safe to call at any time, from any thread
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, mmap_threshold) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, trim_threshold) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set(_mmap_threshold: i32, _trim_threshold: i32) -> bool {
    false
}
