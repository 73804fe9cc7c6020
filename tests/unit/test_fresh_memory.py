"""Every process that runs the pipeline leaves numpy's huge-page advice off, and keeps freed memory for reuse, unless
its environment says otherwise (``pipeline/__init__.py``; docs/benchmarks.md, "Fresh memory" and "Freed memory
kept")."""

import os
import platform
import subprocess
import sys

import pytest

PROBE = ("import {first}, numpy; "
         "print(numpy._core.multiarray._set_madvise_hugepage(True))")  # returns the setting it replaces


def advice(first: str, setting: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if setting is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = setting
    done = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="numpy gives the advice on Linux only")
@pytest.mark.parametrize(("first", "setting", "given"), [
    ("pipeline", None, "False"),  # the pipeline's default
    ("pipeline.cli", None, "False"),  # the churn command's
    ("pipeline", "1", "True"),  # a user's setting is kept
    ("pipeline", "0", "False"),
])
def test_the_pipeline_leaves_huge_page_advice_off_unless_the_environment_sets_it(first, setting, given):
    assert advice(first, setting) == given


FAULTS = """
import sys
if sys.argv[1] == "pipeline":
    import pipeline  # noqa: F401
import resource
import threading

import numpy as np


def work():  # a worker thread making and freeing 40 MB of 1 MB arrays, 50 times over
    for _ in range(50):
        blocks = [np.ones((256, 512)) for _ in range(40)]
        del blocks


before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
thread = threading.Thread(target=work)
thread.start()
thread.join()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(first: str, **environ: str) -> int:
    """Pages faulted in by a thread that makes and frees arrays, in a process that imports ``first`` first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(NUMPY_MADVISE_HUGEPAGE="0", **environ)
    done = subprocess.run([sys.executable, "-c", FAULTS, first], env=env, capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc malloc's")
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    # glibc's default hands a thread heap's free top back at once, and the next arrays fault it in again
    assert 3 * page_faults("pipeline") < page_faults("numpy")
    # glibc's own setting in the environment is kept: the pipeline then changes nothing
    plain, ours = page_faults("numpy", MALLOC_TOP_PAD_="131072"), page_faults("pipeline", MALLOC_TOP_PAD_="131072")
    assert abs(ours - plain) < 0.1 * plain
