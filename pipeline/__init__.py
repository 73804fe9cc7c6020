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
