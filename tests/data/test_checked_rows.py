"""Typed sources with exact copies to set aside have their checked rows written once by validation and read by
every later scan (``check_rows`` with a ``store``): the clean rows, the quarantine and the accounts are those of
checking in place, the files go with the connection, and a scratch folder that cannot be written is a clear
settings error."""

from __future__ import annotations

import dataclasses
import gc
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core.config import load_params
from pipeline.core.errors import ConfigError
from pipeline.data.sources import discover_tables
from pipeline.data.validate import validate_sources
from pipeline.data.validate.ids import align_ids
from pipeline.data.validate.rows import _written
from pipeline.engine.duckdb import connect, open_dataset

NOW = datetime(2026, 1, 1, 12, 0)
PARAMS = load_params(None, ["validation.on_bad_rows=quarantine", "validation.max_bad_share=1"])


def transactions(seed: int, rows: int, duplicates: int, bad: int) -> pd.DataFrame:
    """Purchases of a few customers, some rows repeated exactly, some with a reason to be set aside (an empty id, a
    timestamp in the future or missing, an amount that is no number)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": rng.integers(0, 30, rows).astype(str),
        "timestamp": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 300 * 24, rows), unit="h"),
        "amount": rng.integers(1, 5000, rows).astype(str),
        "order_id": [f"o{k}" for k in range(rows)],
    })
    frame = pd.concat([frame, frame.sample(duplicates, replace=True, random_state=seed)], ignore_index=True)
    for k in rng.choice(len(frame), min(bad, len(frame)), replace=False):
        column, value = [("customer_id", ""), ("timestamp", pd.Timestamp("2027-03-03")), ("timestamp", pd.NaT),
                         ("amount", "$12")][k % 4]
        frame.loc[k, column] = value
    return frame


def everything(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """Each clean and quarantine relation's rows, in one order."""
    out = {}
    for relation in ("clean_transactions", "quarantine_transactions"):
        frame = con.sql(f"SELECT * FROM {relation}").to_df()
        out[relation] = frame.sort_values(list(frame.columns), ignore_index=True)
    return out


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 400), duplicates=st.integers(0, 20), bad=st.integers(0, 30))
def test_checked_rows_written_once_are_those_checked_in_place(tmp_path_factory, seed, rows, duplicates, bad):
    folder = tmp_path_factory.mktemp("data")
    transactions(seed, rows, duplicates, bad).to_parquet(folder / "transactions.parquet", index=False)
    sources, unknown = discover_tables(folder)
    written = open_dataset(sources, PARAMS, NOW, unknown)
    in_place = connect(PARAMS.engine)  # no folder to write to: every scan checks the source again
    report = validate_sources(in_place, sources, unknown, PARAMS.columns, PARAMS.validation, NOW, PARAMS.input)
    align_ids(in_place, report.tables)
    assert written.report.accounts == report.accounts
    assert written.report.problems == report.problems
    read = everything(written.con)
    for relation, frame in everything(in_place).items():
        pd.testing.assert_frame_equal(read[relation], frame, check_exact=True)
    # with exact copies to set aside, later scans read the written rows, not the source; without, the source
    [(definition,)] = written.con.execute(
        "SELECT sql FROM duckdb_views() WHERE view_name = '_checked_transactions'").fetchall()
    copies = everything(in_place)["quarantine_transactions"]["reason"].str.startswith("exact duplicate").any()
    assert ("churn-checked-" in definition) == copies and (str(folder) in definition) == (not copies)


def test_the_checked_rows_go_with_the_connection(tmp_path):
    data, scratch = tmp_path / "data", tmp_path / "scratch"
    data.mkdir()
    transactions(1, 50, 3, 0).to_parquet(data / "transactions.parquet", index=False)  # copies: written
    sources, unknown = discover_tables(data)
    con = open_dataset(sources, load_params(None, [f"engine.temp_dir={scratch}", "validation.max_bad_share=1"]), NOW,
                       unknown).con  # the dataset let go at once: the connection still reads the rows
    [folder] = scratch.glob("churn-checked-*")
    assert (folder / "transactions.parquet").is_file()
    assert con.execute("SELECT count(*) FROM clean_transactions").fetchone()[0] > 0
    del con
    gc.collect()
    assert not folder.exists()


def test_a_scratch_folder_that_cannot_be_written_is_a_clear_settings_error(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    con = connect(PARAMS.engine)
    with pytest.raises(ConfigError, match=r"engine.temp_dir: cannot write the checked rows of events to .*a-file.*Fix: "
                                          r"point engine.temp_dir at a folder with room"):
        _written(con, "SELECT 1 AS x", Path(tmp_path / "a-file" / "events.parquet"))
    with pytest.raises(duckdb.Error):  # a source that cannot be read stays the source's error
        _written(con, f"SELECT * FROM read_parquet('{tmp_path / 'missing.parquet'}')", tmp_path / "events.parquet")


def test_a_run_stopped_by_its_settings_leaves_no_scratch_folder(tmp_path):
    data, scratch = tmp_path / "data", tmp_path / "scratch"
    data.mkdir()
    transactions(2, 20, 0, 0).to_parquet(data / "transactions.parquet", index=False)
    sources, unknown = discover_tables(data)
    params = load_params(None, [f"engine.temp_dir={scratch}"])  # a limit the engine refuses (params checks it first)
    params = dataclasses.replace(params, engine=dataclasses.replace(params.engine, memory_limit="lots"))
    with pytest.raises(ConfigError, match="engine.memory_limit: 'lots'"):
        open_dataset(sources, params, NOW, unknown)
    assert scratch.is_dir() and not list(scratch.iterdir())
