"""churn score twice (2025-11-30, then 2025-12-31 with --previous): what changed since the last run, in process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.in_process import churn, trained_workdir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    with trained_workdir(tmp_path_factory, "changes", "2025-12-31") as wd:
        res = churn("score", "--data", "data", "--as-of", "2025-11-30")  # risk_asof=2025-11-30.parquet
        assert res.exit_code == 0, res.output[-3000:]
        assert "changes since" not in res.output  # nothing earlier to compare with
        yield wd


def test_second_run_says_what_changed_since_the_first(workdir):
    res = churn("score", "--data", "data", "--as-of", "2025-12-31", "--out", "now.parquet",
                "--previous", "risk_asof=2025-11-30.parquet")
    assert res.exit_code == 0, res.output[-3000:]
    assert "changes since 2025-11-30 (risk_asof=2025-11-30.parquet)" in res.output and "newly in the high risk band" in res.output
    now, before = pd.read_parquet("now.parquet"), pd.read_parquet("risk_asof=2025-11-30.parquet")
    summary = json.loads(Path("now_summary.json").read_text())
    c = summary["changes"]
    for key in ("previous_as_of", "previous_model_version", "comparable", "note", "entered", "left", "newly_high",
                "largest_rises"):
        assert key in c, key
    assert c["previous_as_of"] == "2025-11-30" and c["comparable"] is True and c["note"] is None
    assert c["previous_model_version"] == now["model_version"].iloc[0]

    joined = now.merge(before[["customer_id", "churn_probability", "risk_band"]], on="customer_id", how="left",
                       suffixes=("", "_before"))
    pd.testing.assert_series_equal(joined["previous_probability"], joined["churn_probability_before"],
                                   check_names=False)
    assert (joined["probability_change"] - (joined["churn_probability"] - joined["churn_probability_before"])
            ).abs().max() < 1e-12
    assert c["entered"] == int(joined["churn_probability_before"].isna().sum())
    assert c["left"] == int((~before["customer_id"].isin(now["customer_id"])).sum())
    assert c["entered"] + c["left"] > 0  # the population moves in a month
    assert c["newly_high"] == int(((now["risk_band"] == "high") & (joined["risk_band_before"] != "high")).sum())

    rose = now["probability_change"] >= 0.01
    assert rose.any() and now.loc[rose, "change_reason"].str.match(r"Risk up \d+ points since 2025-11-30").all()
    assert now.loc[~rose, "change_reason"].isna().all()
    assert now.loc[rose, "change_reason"].str.contains(": ").mean() > 0.5  # most rises name what moved them
    top = c["largest_rises"]
    assert 0 < len(top) <= 20 and top[0]["probability_change"] == pytest.approx(now["probability_change"].max())
    assert set(top[0]) == {"customer_id", "previous_probability", "churn_probability", "probability_change",
                           "change_reason"}


def test_the_newest_earlier_list_in_the_output_folder_is_found_by_default(workdir):
    res = churn("score", "--data", "data", "--as-of", "2025-12-31")
    assert res.exit_code == 0, res.output[-3000:]
    assert "changes since 2025-11-30 (risk_asof=2025-11-30.parquet)" in res.output
    summary = json.loads(Path("risk_asof=2025-12-31_summary.json").read_text())
    assert summary["changes"]["previous_list"] == "risk_asof=2025-11-30.parquet"
    res = churn("score", "--data", "data", "--as-of", "2025-12-31", "--out", "alone.parquet", "--no-previous")
    assert res.exit_code == 0 and "changes since" not in res.output
    assert "changes" not in json.loads(Path("alone_summary.json").read_text())
    assert "previous_probability" not in pd.read_parquet("alone.parquet")


def test_a_previous_list_of_another_horizon_is_not_compared(workdir):
    summary = json.loads(Path("risk_asof=2025-11-30_summary.json").read_text())
    shutil.copy("risk_asof=2025-11-30.parquet", "other.parquet")
    Path("other_summary.json").write_text(json.dumps({**summary, "label": {**summary["label"], "horizon_days": 30}}))
    res = churn("score", "--data", "data", "--as-of", "2025-12-31", "--out", "vs_other.parquet", "--previous",
                "other.parquet")
    assert res.exit_code == 0, res.output[-3000:]
    assert "probabilities not compared" in res.output and "over 30 days" in res.output
    assert pd.read_parquet("vs_other.parquet")["previous_probability"].isna().all()


def test_a_missing_previous_list_is_a_clear_error(workdir):
    res = churn("score", "--data", "data", "--as-of", "2025-12-31", "--out", "x.parquet", "--previous", "nope.parquet")
    assert res.exit_code == 3 and "nope.parquet does not exist" in res.output and "Traceback" not in res.output
