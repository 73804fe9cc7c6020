"""No output ever replaces an input or another output: every command refuses, before any work (exit 6, nothing
written), an output that is one of its inputs, lies inside its data folder, or is named twice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    data = tmp_path / "data"
    data.mkdir()
    (data / "transactions.csv").write_text("customer_id,timestamp,amount\n1,2025-01-01,10\n")
    (tmp_path / "risk.parquet").write_bytes(b"a risk list")
    return tmp_path


def refused(*args: str) -> str:
    res = runner.invoke(app, list(args), catch_exceptions=False)
    assert res.exit_code == 6, res.output  # an output that cannot be written
    return " ".join(res.output.split())


CASES = {
    "features into the data folder": (["features", "--data", "data", "--as-of", "2025-12-31", "--out",
                                       "data/transactions.csv"], "inside the --data folder"),
    "a score over a customers table": (["score", "--data", "data", "--as-of", "2025-12-31", "--out",
                                        "data/customers.csv"], "inside the --data folder"),
    "a report over its risk list": (["report", "--scores", "risk.parquet", "--out", "risk.parquet"],
                                    "is the --scores input"),
    "the Excel file over the report": (["report", "--scores", "risk.parquet", "--out", "r.html", "--xlsx", "r.html"],
                                       "name the same file"),
    "the run record over the report": (["report", "--scores", "risk.parquet", "--out", "r.html", "--run-record",
                                        "r.html"], "name the same file"),
    "outcomes' figures over the risk list": (["outcomes", "--risk-list", "risk.parquet", "--data", "data", "--json",
                                              "risk.parquet"], "is the --risk-list input"),
    "a run record over the params": (["validate", "--data", "data", "--run-record", "params.yaml"],
                                     "is the --params input"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_output_over_an_input_is_refused_before_any_work(workdir, case):
    args, said = CASES[case]
    before = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
    assert said in refused(*args)
    after = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
    assert after == before


def test_sample_data_never_replaces_tables_already_in_the_folder(workdir):
    assert "already holds transactions.csv" in refused("sample-data", "--out", "data", "--customers", "10")
    assert (workdir / "data" / "transactions.csv").read_text().startswith("customer_id,timestamp,amount\n1,")
