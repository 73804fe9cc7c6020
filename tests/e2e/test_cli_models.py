"""churn train -> score -> report end to end, and the report in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import find_chromium

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def churn(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}"}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env=env)


FAST = ("--set", "tuning.n_trials=2", "--set", "tuning.timeout_s=60", "--set", "model.max_rounds=200",
        "--set", "loyalty.max_rounds=150")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("models")
    (wd / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    assert churn("sample-data", "--out", "data", "--customers", "1200", "--seed", "9", cwd=wd).returncode == 0
    res = churn("score", "--data", "data", "--as-of", "2025-12-31", "--out", "early.csv", cwd=wd)
    assert res.returncode == 4 and "no model is registered as churn-model@champion" in res.stderr  # before training
    res = churn("train", "--data", "data", "--as-of", "2025-12-31", *FAST, cwd=wd)
    assert res.returncode == 0, res.stderr[-3000:]
    wd.joinpath("train.log").write_text(res.stdout)
    return wd


def test_train_prints_metrics_baselines_decision_and_time(workdir):
    log = (workdir / "train.log").read_text()
    for text in ("churn model vs baselines", "recency", "btyd", "rfm", "loyalty value model", "margin over the best",
                 "registry: churn-model v1 -> champion", "training time:", "mlflow ui"):
        assert text in log, text


def test_score_writes_risk_list_and_reruns_identically(workdir):
    outputs = []
    for _ in range(2):
        res = churn("score", "--data", "data", "--as-of", "2025-12-31", "--out", "risk.parquet", cwd=workdir)
        assert res.returncode == 0, res.stderr[-2000:]
        outputs.append((workdir / "risk.parquet").read_bytes())
    assert outputs[0] == outputs[1]
    risk = pd.read_parquet(workdir / "risk.parquet")
    gone = risk["contact_group"] == "win_back"  # the call list's order: the retention list, then the win-back list
    assert not gone.iloc[:(~gone).sum()].any() and risk["customer_id"].is_unique
    assert risk.loc[~gone, "priority"].is_monotonic_decreasing and risk.loc[gone, "priority"].is_monotonic_decreasing
    assert risk["model_version"].iloc[0] == "churn-model v1 (champion)"
    for sidecar in ("risk_shap.parquet", "risk_summary.json", "risk_shap_summary.png"):
        assert (workdir / sidecar).exists()
    assert "customers scored" in res.stdout and "value at risk" in res.stdout


def test_score_refuses_a_model_whose_features_do_not_match(workdir):
    # feature settings are part of the problem stored with the model: another value is refused up front
    res = churn("score", "--data", "data", "--as-of", "2025-12-31", "--out", "x.csv",
                "--set", "features.windows_days=[30, 90]", cwd=workdir)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "features.windows_days=[30, 90] contradicts the model" in " ".join(res.stderr.split())
    # data that no longer gives a feature the model needs (the events table is gone)
    shutil.copytree(workdir / "data", workdir / "data_no_events", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("events*"))
    # is named as a missing table (a data problem, exit 3), not as a list of the features it would have given
    res = churn("score", "--data", "data_no_events", "--as-of", "2025-12-31", "--out", "x.csv", cwd=workdir)
    assert res.returncode == 3 and "Traceback" not in res.stderr
    message = " ".join(res.stderr.split())
    assert "does not have: the events table" in message and "visits_last_30d" not in message


def test_score_leaves_out_features_the_model_was_not_trained_on_with_a_note(workdir):
    shutil.copytree(workdir / "data", workdir / "data_new_column", dirs_exist_ok=True)
    customers = next((workdir / "data_new_column").glob("customers*"))
    frame = pd.read_parquet(customers) if customers.suffix == ".parquet" else pd.read_csv(customers, dtype=str)
    frame = frame.assign(email_opt_in=np.arange(len(frame)) % 3)
    (frame.to_parquet if customers.suffix == ".parquet" else frame.to_csv)(customers, index=False)
    res = churn("score", "--data", "data_new_column", "--as-of", "2025-12-31", "--out", "new_column.parquet",
                cwd=workdir)
    assert res.returncode == 0, res.stderr[-2000:]
    message = " ".join(res.stderr.split())
    assert ("note: 1 feature(s) of today's data are not in the model and are left out of scoring: "
            "profile_email_opt_in. Retrain to use them.") in message
    res = churn("score", "--data", "data", "--as-of", "2025-12-31", "--out", "same_data.parquet", cwd=workdir)
    assert res.returncode == 0 and "not in the model" not in res.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(workdir / "new_column.parquet"),
                                  pd.read_parquet(workdir / "same_data.parquet"))


@pytest.mark.browser
def test_report_renders_in_headless_chromium(workdir):
    res = churn("score", "--data", "data", "--as-of", "2025-12-31", "--out", "risk.csv", cwd=workdir)
    assert res.returncode == 0, res.stderr[-2000:]
    res = churn("report", "--scores", "risk.csv", "--out", "report.html", "--xlsx", "risk.xlsx", cwd=workdir)
    assert res.returncode == 0, res.stderr[-2000:]
    html = (workdir / "report.html").read_text()
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html  # self-contained
    chromium = find_chromium()
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={workdir / 'chrome'}", "--virtual-time-budget=5000", "--dump-dom",
         (workdir / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120).stdout
    assert 'data-ready="1"' in dom and 'data-js-errors="0"' in dom
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)  # 3 charts and the customer-base health's
    assert loaded and loaded.group(1) == loaded.group(2) and int(loaded.group(1)) >= 7
    summary = json.loads((workdir / "risk_summary.json").read_text())
    assert summary["population"]["left_out"] >= 0 and summary["health"]["churn"] and summary["health"]["cohorts"]
    assert "Health of the customer base" in html and "What the figures mean" in html
    assert 'data-visible-rows="50"' in dom
    assert dom.count('class="detail"') == 50 and dom.count("<svg") >= 50
    assert (workdir / "risk.xlsx").exists()


def test_evaluate_backtest_writes_table_and_plots(workdir):
    res = churn("evaluate", "--data", "data", "--as-of", "2025-12-31", "--cutoffs", "2", "--out", "bt",
                "--in-period-folds", "3", "--set", "model.max_rounds=150", "--set", "loyalty.max_rounds=100", cwd=workdir)
    assert res.returncode == 0, res.stderr[-2000:]
    table = pd.read_csv(workdir / "bt" / "backtest.csv")
    assert set(table["scorer"]) == {"model", "recency", "rfm", "btyd", "in_period_cv"} and table["cutoff"].nunique() == 2
    assert (workdir / "bt" / "backtest_roc_auc.png").exists()
    model = table[table["scorer"] == "model"].set_index("cutoff")["roc_auc"]
    best = table[~table["scorer"].isin(["model", "in_period_cv"])].groupby("cutoff")["roc_auc"].max()
    assert (model > best).all()
    # The printed margin is over the baselines only, not over the in-period reference, and its 90% bootstrap
    # interval (backtest.csv's margin_low, margin_high) holds it.
    margins = table[table["scorer"] == "model"].set_index("cutoff")
    assert np.allclose(margins["margin_over_best_baseline"], model - best)
    assert (margins["margin_low"] < margins["margin_over_best_baseline"]).all()
    assert (margins["margin_over_best_baseline"] < margins["margin_high"]).all()
    printed = [line for line in res.stdout.splitlines() if line.count("│") > 3 and "20" in line]
    assert len(printed) == 2
    for line, (cutoff, margin) in zip(printed, (model - best).items(), strict=True):
        low, high = margins.loc[cutoff, ["margin_low", "margin_high"]]
        assert cutoff in line and line.rstrip(" │").endswith(f"{margin:+.4f} │ {low:+.4f} to {high:+.4f}")
    # logged as an MLflow run with its table and charts, named by what it backtested
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("churn").experiment_id], "tags.kind = 'evaluate'")
    assert len(runs) == 1 and f"MLflow run {runs[0].info.run_id}" in " ".join(res.stdout.split())
    run = runs[0]
    assert run.info.run_name == "evaluate churn-model inactivity 90d as of 2025-12-31"
    assert run.info.status == "FINISHED" and run.data.tags["churn.command"] == "evaluate"
    assert run.data.metrics["backtest_model_roc_auc_mean"] == pytest.approx(model.mean())
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"backtest.csv", "plots"}
    assert {a.path for a in client.list_artifacts(run.info.run_id, "plots")} == {
        f"plots/backtest_{m}.png" for m in ("roc_auc", "pr_auc", "lift_at_10")}


def test_evaluate_rejects_an_in_period_fold_count_it_cannot_use_before_any_training(workdir):
    res = churn("evaluate", "--data", "data", "--as-of", "2025-12-31", "--in-period-folds", "2", cwd=workdir)
    assert res.returncode == 2 and "--in-period-folds must be 0 (off) or at least 3" in res.stderr
    assert "Traceback" not in res.stderr and "training on" not in res.stdout


def test_evaluate_reaching_before_the_data_names_the_cutoff_and_the_fix(workdir):
    res = churn("evaluate", "--data", "data", "--as-of", "2025-12-31", "--cutoffs", "40", cwd=workdir)
    assert res.returncode == 3 and "Traceback" not in res.stderr
    message = " ".join(res.stderr.split())
    assert "backtest test cutoff" in message and "(1 of 40, 30 days apart; the data starts" in message
    assert "Fix: fewer --cutoffs" in message


def test_train_with_a_damaged_store_stops_before_training_with_exit_5(workdir, tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "mlflow.db").write_text("not a database")
    res = churn("train", "--data", str(workdir / "data"), "--as-of", "2025-12-31", *FAST, cwd=tmp_path)
    assert res.returncode == 5 and "Traceback" not in res.stderr
    assert "MLflow tracking store" in res.stderr and "cannot be opened" in res.stderr
    assert "training time" not in res.stdout
