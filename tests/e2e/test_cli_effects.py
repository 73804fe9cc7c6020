"""Whom the call helps, end to end with the CLI in process: churn sample-data --campaigns 4 -> train -> learn-effects
-> score (picks up the registered effect model) -> report, on a few thousand generated customers."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pipeline.outputs.labels import EFFECT_GROUPS, EFFECTS_SECTION, UPLIFT_CURVE, WHY_THIS_ACTION
from tests.e2e.in_process import ROOT, churn

pytestmark = pytest.mark.slow

# A small run whose four campaigns teach an effect model that passes its gate. At 4,000 customers the held-out Qini's
# 90% interval is about +-0.007 around a coefficient of -0.002 to 0.009, so most seeds do not pass: this test follows
# the path a passing model takes, and the gate itself is tested in tests/model/test_effects.py. The seed is re-chosen
# when the features change: after issue 29's condition features, seed 3's interval was -0.0002 to 0.0136 (fails);
# seeds 4 and 6-13 fail too, seed 14 gives 0.0088 (0.0027 to 0.0150).
CUSTOMERS, SEED = "4000", "14"
TRAIN_AS_OF = "2025-09-30"
SCORE_AS_OF = "2025-12-29"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    import mlflow

    wd = tmp_path_factory.mktemp("effects")
    previous_uri = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(wd)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{wd / 'mlflow.db'}")
        mp.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        shutil.copy(ROOT / "params.yaml", wd / "params.yaml")
        res = churn("sample-data", "--out", "data", "--customers", CUSTOMERS, "--campaigns", "4", "--format", "parquet",
                    "--seed", SEED)
        assert res.exit_code == 0, res.output[-3000:]
        res = churn("train", "--data", "data", "--as-of", TRAIN_AS_OF, "--set", "tuning.n_trials=0", "--set",
                    "model.max_rounds=100", "--set", "loyalty.max_rounds=100")
        assert res.exit_code == 0, res.output[-3000:]
        yield wd
    mlflow.set_tracking_uri(previous_uri)


def test_learn_effects_then_score_targets_by_it_and_the_report_shows_the_groups(workdir):
    # --out: refused inside an input folder and over a folder of other files, before any work
    (workdir / "busy").mkdir()
    (workdir / "busy" / "notes.txt").write_text("mine")
    for out in ("data/effects", "busy"):
        res = churn("learn-effects", "--lists", "data/campaigns", "--data", "data", "--out", out, "--no-register")
        assert res.exit_code == 6 and "Traceback" not in res.output, res.output[-2000:]
    assert (workdir / "busy" / "notes.txt").read_text() == "mine" and not (workdir / "data" / "effects").exists()

    (workdir / "effects").mkdir()  # an existing empty folder is fine
    res = churn("learn-effects", "--lists", "data/campaigns", "--data", "data", "--out", "effects", "--json",
                "effects.json", "--run-record", "learn_run.json")
    assert res.exit_code == 0, res.output[-3000:]
    assert "registered as churn-model-effects v1 (champion)" in res.output, res.output[-3000:]
    assert {p.name for p in (workdir / "effects").iterdir()} == {"effects.json", "model_card.md", "manifest.json"}
    learned = json.loads((workdir / "effects.json").read_text())
    assert learned["passed"] and len(learned["lists"]) == 4
    record = json.loads((workdir / "learn_run.json").read_text())
    assert record["command"] == "learn-effects" and record["exit_code"] == 0
    assert record["model"]["name"] == "churn-model-effects" and record["model"]["version"] == "1"
    assert record["model"]["passed"] is True and record["mlflow_run_id"] == learned["registered"]["run_id"]
    assert {Path(p).name for p in record["outputs"]} == {"effects.json", "model_card.md", "manifest.json"}
    assert {"learning the effects", "judging it on customers it never saw"} <= set(record["timings"])

    res = churn("score", "--data", "data", "--as-of", SCORE_AS_OF, "--allow-stale", "--out", "risk.parquet")
    assert res.exit_code == 0, res.output[-3000:]
    risk = pd.read_parquet(workdir / "risk.parquet")
    assert {"predicted_effect", "effect_group", "effect_model_version"} <= set(risk.columns)
    retention = risk[risk["contact_group"] != "win_back"]
    assert retention["effect_model_version"].eq("churn-model-effects v1 (champion)").all()
    assert set(retention["effect_group"]) <= set(EFFECT_GROUPS)
    dnd = risk["effect_group"] == "do_not_disturb"
    assert dnd.any() and not (risk.loc[dnd, "contact_group"] == "treatment").any()  # never contacted
    assert (risk.loc[dnd, "predicted_effect"] < 0).all()
    summary = json.loads((workdir / "risk_summary.json").read_text())
    effects = summary["targeting"]["effects"]
    assert effects["used"] == "effect_model" and effects["model_version"] == "churn-model-effects v1 (champion)"
    assert sum(g["customers"] for g in effects["groups"].values()) == len(retention)
    for key, g in effects["groups"].items():
        assert g["customers"] == int((risk["effect_group"] == key).sum())
    assert effects["evaluation"]["qini"] == learned["evaluation"]["qini"]
    assert len(effects["evaluation"]["curve"]["share"]) > 10

    res = churn("report", "--scores", "risk.parquet", "--out", "report.html", "--xlsx", "risk.xlsx")
    assert res.exit_code == 0, res.output[-3000:]
    page = (workdir / "report.html").read_text()
    section = page[page.index('<section id="effects">'):]
    section = section[:section.index("</section>")]
    assert EFFECTS_SECTION in section and f'alt="{UPLIFT_CURVE}"' in section
    for key, label in EFFECT_GROUPS.items():
        assert f"<strong>{label}</strong>" in section
        assert f">{effects['groups'][key]['customers']:,}<" in section
    assert WHY_THIS_ACTION in page and "predicted to lower their churn probability by" in page
    with zipfile.ZipFile(workdir / "risk.xlsx") as book:
        sheets = " ".join(book.read(n).decode() for n in book.namelist() if n.startswith("xl/worksheets/"))
    assert WHY_THIS_ACTION in sheets and "Effect group" in sheets


def test_without_a_passing_effect_model_the_report_says_which_effects_and_why(workdir):
    res = churn("score", "--data", "data", "--as-of", SCORE_AS_OF, "--allow-stale", "--out", "plain.parquet",
                "--no-effects")
    assert res.exit_code == 0, res.output[-3000:]
    summary = json.loads((workdir / "plain_summary.json").read_text())
    effects = summary["targeting"]["effects"]
    assert effects["used"] == "defaults" and effects["model_version"] is None
    assert pd.read_parquet(workdir / "plain.parquet")["effect_group"].isna().all()
    res = churn("report", "--scores", "plain.parquet", "--out", "plain.html")
    assert res.exit_code == 0, res.output[-3000:]
    page = (workdir / "plain.html").read_text()
    section = page[page.index('<section id="effects">'):]
    assert "the shipped assumptions of targeting.action_effects" in section
    assert "Why not a learned effect model: --no-effects" in section
