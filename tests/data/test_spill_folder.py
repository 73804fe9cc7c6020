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
    if given:
        assert folder == chosen
    else:
        assert folder.parent == system and folder.name.startswith("churn-spill-")
    assert folder.is_dir() and any(folder.iterdir())  # it did spill there
    assert not (work / ".tmp").exists() and list(work.iterdir()) == []
    if not given:  # each connection a folder of its own: closing one never removes another's spills
        other = connect(EngineConfig(), None)
        assert Path(other.execute("SELECT current_setting('temp_directory')").fetchone()[0]) != folder
    con.close()
    assert not folder.exists()  # removed with the connection
