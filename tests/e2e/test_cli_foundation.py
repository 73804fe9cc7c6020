"""churn sample-data (both kinds) / validate / features end to end, through the real command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def churn(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("cli")
    (wd / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    res = churn("sample-data", "--out", "data", "--customers", "400", "--seed", "5", cwd=wd)
    assert res.returncode == 0, res.stderr
    return wd


def test_sample_data_writes_all_five_tables(workdir):
    names = sorted(p.stem for p in (workdir / "data").glob("*.csv"))
    assert names == ["customers", "events", "invoices", "subscriptions", "transactions"]


def test_sample_data_is_seeded(workdir, tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    churn("sample-data", "--out", "again", "--customers", "400", "--seed", "5", cwd=tmp_path)
    assert (tmp_path / "again" / "events.csv").read_bytes() == (workdir / "data" / "events.csv").read_bytes()


def test_validate_prints_balanced_accounting(workdir):
    res = churn("validate", "--data", "data", cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert "balanced" in res.stderr and "NO" not in res.stderr
    assert "valid: customers, events, invoices, subscriptions, transactions" in res.stdout


def test_features_end_to_end_is_reproducible(workdir):
    for out in ("a.parquet", "b.parquet"):
        res = churn("features", "--data", "data", "--as-of", "2025-06-30", "--out", out, cwd=workdir)
        assert res.returncode == 0, res.stderr
    a, b = pd.read_parquet(workdir / "a.parquet"), pd.read_parquet(workdir / "b.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert a["customer_id"].is_unique and a["customer_id"].map(type).eq(str).all()
    assert (workdir / "a.parquet").read_bytes() == (workdir / "b.parquet").read_bytes()
    assert len(a.columns) > 60


def test_an_as_of_after_the_data_is_warned_about(workdir):
    res = churn("features", "--data", "data", "--as-of", "2026-03-01", "--out", "late.parquet", cwd=workdir)
    assert res.returncode == 0, res.stderr
    message = " ".join(res.stderr.split())
    assert "warning: --as-of 2026-03-01 is after the last transaction (2025-12-31): the 60 days between look" in message
    assert "Check that the data export is current" in message and "training labels" not in message
    res = churn("features", "--data", "data", "--as-of", "2025-06-30", "--out", "inside.parquet", cwd=workdir)
    assert "after the last transaction" not in res.stderr


def test_default_output_name_and_set_override(workdir):
    res = churn("features", "--data", "data", "--as-of", "2025-06-30", "--set", "features.windows_days=[30]",
                cwd=workdir)
    assert res.returncode == 0, res.stderr
    frame = pd.read_parquet(workdir / "features_asof=2025-06-30.parquet")
    assert "spend_last_30d" in frame and "spend_last_90d" not in frame


def test_bad_input_fails_without_traceback(workdir):
    bad = workdir / "bad"
    bad.mkdir()
    (bad / "transactions.csv").write_text("customer_id,timestamp,amount\n1,2025-01-01,ten\n2,2025-01-02,3\n")
    res = churn("validate", "--data", "bad", "--set", "validation.on_bad_rows=fail", cwd=workdir)
    assert res.returncode == 3
    assert "transactions.amount: 1 row: non-numeric value" in res.stderr
    assert "Traceback" not in res.stderr
    res = churn("validate", "--data", "bad", cwd=workdir)
    assert res.returncode == 3  # half the rows bad: more than validation.max_bad_share, a format problem
    assert "50.0% of the rows (1 of 2) are unusable" in " ".join(res.stderr.split()) and "Traceback" not in res.stderr
    res = churn("validate", "--data", "bad", "--set", "validation.max_bad_share=1", cwd=workdir)
    assert res.returncode == 0
    quarantined = pd.read_csv(workdir / "quarantine" / "transactions.csv", dtype=str)
    assert quarantined["reason"].tolist() == ["non-numeric value"]


@pytest.mark.parametrize("args, code, text", [
    (("features", "--data", "data", "--as-of", "June"), 3, "not a date"),
    (("features", "--data", "data", "--as-of", "tomorrow"), 3, "(e.g. 2025-12-31), data-end, today, yesterday"),
    (("validate", "--data", "data", "--set", "label.horizon=3"), 2, "unknown key 'label.horizon'"),
    (("validate", "--data", "missing"), 3, "does not exist"),
    (("features", "--data", "data", "--as-of", "2020-01-01"), 3, "no customer is in the population at 2020-01-01"),
])
def test_usage_errors_are_clear(workdir, args, code, text):
    res = churn(*args, cwd=workdir)
    assert res.returncode == code and text in res.stderr and "Traceback" not in res.stderr


def test_sample_data_kind_subscription(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    run = churn("sample-data", "--kind", "subscription", "--out", "data", "--customers", "40", "--seed", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert sorted(p.stem for p in (tmp_path / "data").glob("*.csv")) == [
        "customers", "events", "invoices", "subscriptions", "transactions"]
    bad = churn("sample-data", "--kind", "rentals", "--out", "x", cwd=tmp_path)
    assert bad.returncode == 3 and "--kind 'rentals'" in bad.stdout + bad.stderr
