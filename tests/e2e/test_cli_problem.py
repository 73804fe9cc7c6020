"""churn train --set label.horizon_days=60, then churn score without repeating it: the model carries its
problem; a contradicting --set is refused; the registry never compares on rows the champion has seen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FAST = ("--set", "tuning.n_trials=0", "--set", "model.max_rounds=120", "--set", "loyalty.max_rounds=80")


def churn(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}"}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env=env)


def _no_library_warning(res: subprocess.CompletedProcess) -> None:
    text = res.stdout + res.stderr
    for noise in ("Warning:", "All-NaN", "warnings.warn", "WARNING mlflow", "warning: mlflow", "warning: optuna"):
        assert noise not in text, text[-3000:]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("problem")
    (wd / "params.yaml").write_text((ROOT / "params.yaml").read_text())  # says horizon_days: 90
    assert churn("sample-data", "--out", "data", "--customers", "700", "--seed", "4", cwd=wd).returncode == 0
    res = churn("train", "--data", "data", "--as-of", "2025-12-31", "--set", "label.horizon_days=60", *FAST, cwd=wd)
    assert res.returncode == 0, res.stderr[-3000:]
    _no_library_warning(res)
    assert "Risk bands when scored: High risk: churn probability " in res.stdout and "(validation churn rate " in res.stdout
    return wd


def test_score_applies_the_problem_the_model_was_trained_for(workdir):
    res = churn("score", "--data", "data", "--as-of", "2025-12-31", "--out", "risk.parquet",
                "--set", "model.max_rounds=5", cwd=workdir)
    assert res.returncode == 0, res.stderr[-3000:]
    _no_library_warning(res)
    assert ("score: churn = no purchase in the 60 days after the as-of date; population: customers with an order in the "
            "365 days up to the as-of date") in " ".join(res.stdout.split())
    assert "label.horizon_days: the model was trained with 60, params say 90; the model's applies" in res.stderr
    assert "--set model.max_rounds is ignored" in res.stderr
    assert "Risk bands: High risk: churn probability " in res.stdout
    assert ("High risk from 3 times the average customer's odds of churning; Medium risk from a third of the average "
            "customer's odds of churning") in " ".join(res.stdout.split())
    summary = json.loads((workdir / "risk_summary.json").read_text())
    assert summary["problem"]["label"]["horizon_days"] == 60 and summary["label"]["horizon_days"] == 60
    rule = summary["band_rule"]
    assert rule["by"] == "base_rate_odds" and 0 < rule["base_rate"] < 1
    odds = 3 * rule["base_rate"] / (1 - rule["base_rate"])
    assert rule["thresholds"]["high"] == pytest.approx(odds / (1 + odds))
    third = 0.333 * rule["base_rate"] / (1 - rule["base_rate"])
    assert rule["thresholds"]["medium"] == pytest.approx(third / (1 + third))
    assert rule["multiples"] == {"high": 3.0, "medium": 0.333, "low": 0.0} and rule["bands"] == rule["thresholds"]
    assert set(summary["bands"]) == {"high", "medium", "low"} and all(summary["bands"].values())


def test_a_set_that_contradicts_the_model_is_refused_with_exit_2(workdir):
    res = churn("score", "--data", "data", "--as-of", "2025-12-31", "--out", "other.parquet",
                "--set", "label.horizon_days=90", cwd=workdir)
    assert res.returncode == 2
    assert "--set label.horizon_days=90 contradicts the model, which was trained with label.horizon_days=60" in res.stderr
    assert not (workdir / "other.parquet").exists()


def test_scoring_a_period_the_model_has_seen_warns(workdir):
    res = churn("score", "--data", "data", "--as-of", "2025-09-30", "--out", "past.parquet", cwd=workdir)
    assert res.returncode == 0, res.stderr[-3000:]
    # refitted on every labelled cutoff (the default), it learned labels up to its as-of date
    assert "warning: the model was trained on labels up to 2025-12-31: as of 2025-09-30 it scores a period it has seen" \
        in " ".join(res.stderr.split())
    # its outcomes, once the 60 days have passed, are judged under the same problem, without repeating the --set
    res = churn("outcomes", "--risk-list", "past.parquet", "--data", "data", "--json", "past.json", cwd=workdir)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "outcomes of: churn = no purchase in the 60 days after the as-of date" in " ".join(res.stdout.split())
    assert json.loads((workdir / "past.json").read_text())["horizon_end"] == "2025-11-29"
    res = churn("outcomes", "--risk-list", "past.parquet", "--data", "data", "--set", "label.horizon_days=90", cwd=workdir)
    assert res.returncode == 2 and "contradicts the model" in res.stderr


def test_an_earlier_model_is_never_judged_on_rows_the_champion_has_seen(workdir):
    # the champion (as of 2025-12-31, 60 days) learned labels up to 2025-11-01; this one validates on 2025-10-01
    res = churn("train", "--data", "data", "--as-of", "2025-11-30", "--set", "label.horizon_days=60", *FAST, cwd=workdir)
    assert res.returncode == 0, res.stderr[-3000:]
    _no_library_warning(res)
    line = next(x for x in res.stdout.splitlines() if x.startswith("registry:"))
    text = " ".join(res.stdout[res.stdout.index(line):].split())
    assert "-> challenger: not compared, no validation row is unseen by both" in text
    assert "registry.when_not_comparable=newer" in text and "does not beat" not in text
