"""The churn pipeline: data, features, models, scoring and their outputs."""

import os

# Set before numpy is imported, which holds where this package is imported first (the ``churn`` command, the
# benchmarks that measure it; a process that imports numpy first keeps numpy's default). numpy asks the kernel to back
# each array over 4 MB with 2 MB pages. Where the kernel makes those pages slowly on first use, every fresh feature
# table, encoded copy and batch of contributions pays for it: on the 2-core benchmark machine, a virtual machine that
# hands free memory back to its host, fresh huge pages were first written at 100 MB/s and plain ones at 1.8 GB/s, and
# `churn train` of 100,000 customers took 277 s with the advice and 256 s without (docs/benchmarks.md, "Fresh
# memory"). NUMPY_MADVISE_HUGEPAGE=1 in the environment turns the advice back on; any value set there is kept.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

# Freed memory kept for reuse rather than handed back to the kernel at once (glibc's malloc; elsewhere nothing is
# done). By default a thread's heap gives its free top back once it passes the trim threshold (madvise), and the
# next arrays fault the same pages in again: TreeSHAP's worker threads, which make and free a few MB of temporaries per
# block of 256 customers, faulted 12 GB of pages for 68,351 customers in a fresh `churn score` process, 6.8 s of
# kernel time and three times the work's own 2 s. Each heap now keeps 64 MB at its top, and arrays up to 32 MB come
# from the heaps (glibc's own ceiling for its moving threshold) instead of a fresh mapping each. `churn score` of
# 100,000 customers: features and scoring 12.5-14.7 s -> 9.5-10.8 s, kernel time 9-11 s -> 4 s, up to 0.19 GB more
# resident (docs/benchmarks.md, "Freed memory kept"). glibc's own MALLOC_TOP_PAD_ or MALLOC_MMAP_THRESHOLD_ in the
# environment is kept instead.
_M_TOP_PAD, _M_MMAP_THRESHOLD = -2, -3  # mallopt's option numbers (malloc.h)
_TOP_PAD, _MMAP_THRESHOLD = 64 << 20, 32 << 20


def _keep_freed_memory() -> None:
    if any(k in os.environ for k in ("MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_")):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt  # glibc and musl have it (musl ignores it); macOS and Windows do not
    except (OSError, AttributeError, TypeError):  # TypeError: Windows has no process-wide handle
        return
    mallopt(_M_TOP_PAD, _TOP_PAD)
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)


_keep_freed_memory()
