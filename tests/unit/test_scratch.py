"""Scratch folders left by a run that was killed are removed by the next run, and nothing else is
(``pipeline.core.scratch``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline.core import scratch


def _dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def test_the_sweep_removes_only_this_machines_folders_whose_process_has_ended(tmp_path):
    host = scratch.prefix("x").split("-")[2]  # h<hash of this machine's name>
    dead = _dead_pid()
    left = {
        "dead": tmp_path / f"churn-checked-{host}-p{dead}-abc",
        "dead, a kind of two words": tmp_path / f"churn-driver-rows-{host}-p{dead}-abc",
        "ours": scratch.make("checked", tmp_path),
        "alive, another process": tmp_path / f"churn-shards-{host}-p{os.getppid()}-abc",
        "another machine's": tmp_path / f"churn-checked-h0000beef-p{dead}-abc",
        "old name, no machine": tmp_path / f"churn-checked-{dead}-abc",
        "not ours": tmp_path / "something-else",
    }
    for path in left.values():
        path.mkdir(exist_ok=True)
        (path / "rows.parquet").write_bytes(b"x" * 10)
    a_file = tmp_path / f"churn-spill-{host}-p{dead}-file"
    a_file.write_text("a file, not a folder")

    removed = scratch.sweep(tmp_path)

    assert sorted(removed) == sorted([left["dead"], left["dead, a kind of two words"]])
    assert [name for name, path in left.items() if not path.exists()] == ["dead", "dead, a kind of two words"]
    assert a_file.exists()
    assert scratch.sweep(tmp_path) == []  # nothing more to do
    assert scratch.sweep(tmp_path / "missing") == []  # a folder that is not there is not an error


PARAMS = ["validation.max_bad_share=1"]


def _transactions(folder: Path, copies: bool) -> Path:
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    rows = pd.DataFrame({"customer_id": ["a", "a", "b"] if copies else ["c"],
                         "timestamp": pd.to_datetime(["2025-01-01"] * (3 if copies else 1)),
                         "amount": [1.0, 1.0, 2.0] if copies else [3.0]})
    rows.to_parquet(folder / "transactions.parquet", index=False)
    return folder


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_runs_checked_rows_are_removed_by_the_next_run(tmp_path):
    """A process that validated data with exact copies (so its checked rows were written) and was killed outright
    leaves its folder; the next validation with the same scratch folder removes it, and keeps its own."""
    from datetime import datetime

    from pipeline.core.config import load_params
    from pipeline.data.sources import discover_tables
    from pipeline.engine.duckdb import open_dataset

    temp, copied = tmp_path / "scratch", _transactions(tmp_path / "copied", copies=True)
    child = textwrap.dedent(f"""
        import time
        from datetime import datetime
        from pipeline.core.config import load_params
        from pipeline.data.sources import discover_tables
        from pipeline.engine.duckdb import open_dataset
        sources, unknown = discover_tables({str(copied)!r})
        ds = open_dataset(sources, load_params(None, {PARAMS!r}), datetime(2026, 1, 1), unknown, temp_dir={str(temp)!r})
        print("validated", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout.readline().strip() == "validated"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = [p for p in temp.iterdir() if p.name.startswith("churn-checked-")]
    assert len(left) == 1 and (left[0] / "transactions.parquet").is_file()  # the copies' rows, written and left

    sources, unknown = discover_tables(_transactions(tmp_path / "plain", copies=False))
    ds = open_dataset(sources, load_params(None, PARAMS), datetime(2026, 1, 1), unknown, temp_dir=str(temp))
    assert not left[0].exists()
    own = f"-p{os.getpid()}-"
    assert all(own in p.name for p in temp.iterdir())  # only this run's folders remain
    assert ds.con.execute("SELECT count(*) FROM clean_transactions").fetchone() == (1,)
