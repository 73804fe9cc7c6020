"""Atomic writes, CSV/Excel formula neutralisation and HTML escaping of hostile text."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.errors import DataError
from pipeline.core.files import write_parquet, write_table
from pipeline.core.safety import neutralise_formulas
from pipeline.outputs.report.html import build_report
from pipeline.outputs.sets import read_contributions, read_risk_list, write_excel
from pipeline.scoring.changes import COMPARED_COLUMNS

HOSTILE = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+2", "-3", "@SUM(A1)", "\tTAB", "\rCR", "<script>alert(1)</script>",
           "plain"]


def risk_list(ids=HOSTILE) -> pd.DataFrame:
    n = len(ids)
    frame = pd.DataFrame({
        "customer_id": ids, "as_of": pd.Timestamp("2025-12-31"), "churn_probability": np.linspace(0.9, 0.1, n),
        "risk_band": "high", "loyalty_score": 50.0, "loyalty_tier": ["=1+1"] + ["steady"] * (n - 1),
        "expected_value": 100.0, "value_at_risk": np.linspace(90, 10, n), "model_version": "v1",
        "action": ["<b>call</b>"] + ["Call"] * (n - 1),
    })
    for k in (1, 2, 3):
        frame[f"driver_{k}_feature"] = "complaints_last_90d"
        frame[f"driver_{k}_family"] = "service"
        frame[f"driver_{k}_value"] = -2.5  # a negative number must stay a number
        frame[f"driver_{k}_effect"] = 0.1
        frame[f"driver_{k}_reason"] = "=cmd|' /C calc'!A0" if k == 1 else "<img src=x onerror=alert(2)>"
    return frame


def test_csv_neutralises_formula_text_and_keeps_numbers(tmp_path):
    path = write_table(risk_list(), tmp_path / "risk.csv")
    back = pd.read_csv(path, dtype={"customer_id": str, "loyalty_tier": str})
    for original, written in zip(HOSTILE, back["customer_id"], strict=True):
        if original.startswith(("=", "+", "-", "@", "\t", "\r")):
            assert written == "'" + original
        else:
            assert written == original
    assert back["driver_1_reason"].iloc[0].startswith("'=")
    assert pd.api.types.is_float_dtype(back["driver_1_value"]) and back["driver_1_value"].iloc[0] == -2.5
    assert pd.api.types.is_float_dtype(back["churn_probability"])


def test_parquet_keeps_ids_exactly(tmp_path):
    ids = ["007", "0000123", "A-1", "=1+1"]
    path = write_table(risk_list(ids), tmp_path / "risk.parquet")
    assert pd.read_parquet(path)["customer_id"].tolist() == ids


def test_excel_text_is_never_a_formula_and_numbers_stay_numbers(tmp_path):
    from openpyxl import load_workbook

    from pipeline.outputs.labels import column_header

    path = write_excel(risk_list(), tmp_path / "risk.xlsx")
    ws = load_workbook(path)["all columns"]
    header = [c.value for c in ws[1]]
    col = header.index(column_header("customer_id")) + 1
    second = pd.read_excel(path, sheet_name="all columns", engine="calamine", dtype=object)  # a second reader
    for row, original in enumerate(HOSTILE, start=2):
        cell = ws.cell(row=row, column=col)
        # a carriage return is kept as Excel's escape _x000D_ (openpyxl does not undo it); it is text, never a formula
        assert cell.data_type == "s" and cell.value == original.replace("\r", "_x000D_")
        assert second[column_header("customer_id")].iloc[row - 2] == original
    prob = ws.cell(row=2, column=header.index(column_header("churn_probability")) + 1)
    assert prob.data_type == "n" and prob.value == pytest.approx(0.9)
    value = ws.cell(row=2, column=header.index(column_header("driver_1_value")) + 1)
    assert value.data_type == "n" and value.value == -2.5
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in z.read(name).decode()  # no formula anywhere


def test_html_escapes_hostile_text(tmp_path):
    html = build_report(risk_list(), {}, top_n=50)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<b>call</b>" not in html
    assert html.count("<script>") == 1  # the page's own script only


def test_report_reads_back_csv_without_the_neutralising_quote(tmp_path):
    write_table(risk_list(), tmp_path / "risk.csv")
    frame, _ = read_risk_list(tmp_path / "risk.csv")
    assert frame["customer_id"].tolist()[:2] == HOSTILE[:2]


@pytest.mark.parametrize("name", ["risk.parquet", "risk.csv"])
def test_a_risk_list_read_for_some_columns_holds_them_as_the_whole_read_does(tmp_path, name):
    # comparing with an earlier list reads five of its columns; they must be what reading all of it gives
    write_table(risk_list(), tmp_path / name)
    whole, _ = read_risk_list(tmp_path / name)
    for columns in (list(COMPARED_COLUMNS), ["action", "customer_id", "driver_1_reason"], ["customer_id", "absent"]):
        some, _ = read_risk_list(tmp_path / name, columns)
        assert list(some.columns) == [c for c in whole.columns if c in columns]  # the file's order; absent: left out
        pd.testing.assert_frame_equal(some, whole[list(some.columns)], check_exact=True)
    # still a risk list's check over the whole file, whatever is read of it
    write_table(risk_list().drop(columns="loyalty_tier"), tmp_path / name)
    with pytest.raises(DataError, match=r"is not a risk list from `churn score`: it lacks \['loyalty_tier'\]"):
        read_risk_list(tmp_path / name, list(COMPARED_COLUMNS))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 40), chunk=st.integers(1, 15), seed=st.integers(0, 1000))
def test_a_shap_file_read_for_some_customers_holds_their_rows_as_the_whole_read_does(tmp_path_factory, n, chunk, seed):
    rng = np.random.default_rng(seed)
    ids = [f"{i:08d}" for i in rng.permutation(1000)[:n]]  # text ids with leading zeros, in no order
    shap = pd.DataFrame({"customer_id": ids, "churn_a": rng.normal(size=n), "churn_base_value": -1.0,
                         "loyalty_a": rng.normal(size=n)})
    path = tmp_path_factory.mktemp("shap") / "risk_shap.parquet"
    write_parquet(shap, path, chunk_rows=chunk)  # row groups, as churn score writes it
    asked = list(rng.choice(ids, size=min(n, 5), replace=False)) + ["unknown", "8"]
    whole = read_contributions(path)
    some = read_contributions(path, ids=pd.Index(asked, dtype=object))
    assert list(whole.columns) == ["customer_id", "churn_a", "churn_base_value"]
    pd.testing.assert_frame_equal(some, whole[whole["customer_id"].isin(asked)].reset_index(drop=True), check_exact=True)


def test_a_shap_file_without_customer_ids_is_a_clear_error_whether_read_whole_or_for_some_customers(tmp_path):
    pd.DataFrame({"id": ["a", "b"], "churn_a": [0.1, 0.2]}).to_parquet(tmp_path / "risk_shap.parquet")
    for ids in (None, pd.Index(["a"], dtype=object)):
        with pytest.raises(DataError, match=r"risk_shap.parquet: cannot be read as a risk list's SHAP file .* Fix: "):
            read_contributions(tmp_path / "risk_shap.parquet", ids=ids)


@pytest.mark.parametrize(("name", "content", "says"), [
    ("risk.parquet", b"PAR1 cut short", "cannot be read as Parquet (ArrowInvalid"),
    ("risk.csv", b"customer_id,churn\n\xff\xfe\x00\x81", "cannot be read as CSV (UnicodeDecodeError"),
    ("risk.xlsx", b"PK", "not a .parquet or .csv file"),
])
def test_an_unreadable_risk_list_is_a_clear_error(tmp_path, name, content, says):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=re.escape(says)) as err:
        read_risk_list(tmp_path / name)
    assert str(tmp_path / name) in str(err.value) and "Fix:" in str(err.value)


def test_a_damaged_summary_beside_the_risk_list_is_a_clear_error(tmp_path):
    write_table(risk_list(), tmp_path / "risk.parquet")
    (tmp_path / "risk_summary.json").write_text('{"bands": ')
    with pytest.raises(DataError, match=r"risk_summary.json: the risk list's summary is not valid JSON .* Fix: run"):
        read_risk_list(tmp_path / "risk.parquet")


class Boom(RuntimeError):
    pass


def test_interrupted_write_leaves_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "risk.parquet"
    write_table(risk_list(["old"]), target)
    before = target.read_bytes()

    def half_write(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 partial")
        raise Boom("killed half way")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_write)
    with pytest.raises(Boom):
        write_table(risk_list(["new"]), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["risk.parquet"]  # no temporary file left behind


def test_killed_process_leaves_the_previous_file(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "risk.csv"
    write_table(risk_list(["old"]), target)
    before = target.read_bytes()
    script = (
        "import sys, time, pandas as pd\n"
        "from pipeline.core.files import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.1)
    assert target.read_bytes() == before


def test_neutralise_leaves_numeric_columns_alone():
    frame = pd.DataFrame({"a": [-1.0, 2.0], "b": ["-x", "y"]})
    out = neutralise_formulas(frame)
    assert out["a"].tolist() == [-1.0, 2.0] and out["b"].tolist() == ["'-x", "y"]
    assert frame["b"].tolist() == ["-x", "y"]  # input untouched
