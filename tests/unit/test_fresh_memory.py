"""Every process that runs the pipeline leaves numpy's huge-page advice off unless its environment says otherwise
(``pipeline/__init__.py``; docs/benchmarks.md, "Fresh memory")."""

import os
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
