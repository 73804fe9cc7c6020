"""Where the engine spills: ``engine.temp_dir``, else a folder of its own in the system's temporary folder, never
``.tmp`` in the working directory (DuckDB's own default)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from pipeline.core.config import EngineConfig
from pipeline.engine.duckdb import connect


def _spill(con) -> Path:
    con.execute("SET threads = 1")
    con.execute("CREATE TABLE t AS SELECT range AS a, random() AS b FROM range(3000000)")
    con.execute("SELECT a FROM t ORDER BY b LIMIT 1 OFFSET 100").fetchall()  # a sort beyond 30MB spills
    return Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0])


@pytest.mark.parametrize("given", [False, True])
def test_spills_go_to_the_set_folder_or_the_system_temporary_folder_and_are_removed(tmp_path, monkeypatch, given):
    work, system = tmp_path / "work", tmp_path / "system"
    work.mkdir()
    system.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(system))  # what TMPDIR sets
    chosen = tmp_path / "spills" if given else None
    con = connect(EngineConfig(memory_limit="30MB"), chosen)
    folder = _spill(con)
    # a folder of the connection's own, named for the sweep of folders left by killed runs (pipeline.core.scratch)
    assert folder.parent == (chosen if given else system) and folder.name.startswith("churn-spill-h")
    assert folder.is_dir() and any(folder.iterdir())  # it did spill there
    assert not (work / ".tmp").exists() and list(work.iterdir()) == []
    other = connect(EngineConfig(), chosen)  # each connection a folder of its own: closing one never removes another's
    assert Path(other.execute("SELECT current_setting('temp_directory')").fetchone()[0]) != folder
    con.close()
    assert not folder.exists()  # removed with the connection


def test_the_engine_and_each_spark_task_hand_back_memory_they_no_longer_use_and_name_a_bad_limit(tmp_path):
    """Both engines' connections come from one place: UTC, the limit, and the allocator's background thread that
    returns the memory a query peaked at (without it the process keeps it: docs/benchmarks.md). A limit DuckDB
    cannot read names the setting it came from."""
    from pipeline.core.errors import ConfigError
    from pipeline.engine.spark.dataset import task_connection

    for con in (connect(EngineConfig(memory_limit="1GB", threads=1), tmp_path), task_connection("500MB")):
        settings = con.execute("SELECT current_setting('allocator_background_threads'), current_setting('TimeZone'), "
                               "current_setting('threads')").fetchone()
        assert settings == (True, "UTC", 1)
    with pytest.raises(ConfigError, match="engine.spark.task_memory_limit: 'lots'"):
        task_connection("lots")
    with pytest.raises(ConfigError, match="engine.memory_limit: 'lots'"):
        connect(EngineConfig(memory_limit="lots"), tmp_path)
