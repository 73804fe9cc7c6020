"""MLflow logging into a temporary store, the model from code, and the champion/challenger gate."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from pipeline.training import run as training_run
from pipeline.training import tracking


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    uri = tracking.configure()
    yield uri
    import mlflow

    mlflow.set_tracking_uri(None)


def _valid(trained):
    from pipeline.training.train import validation_rows

    return validation_rows(trained["training"])


def _log(trained, result=None, promote=False):
    result = result or trained["result"]
    valid = _valid(trained)
    plots = training_run.training_plots(result)
    plots["shap_summary"] = training_run.shap_summary_plot(result, valid)
    logged = tracking.log_training(result, trained["params"], trained["ds"].fingerprint(), valid, plots, "2025-12-31")
    return tracking.register_and_gate(logged, result, trained["params"], valid, promote)


@pytest.mark.slow
def test_training_run_logs_everything_and_model_loads_without_pickle(store, trained):
    import mlflow

    logged = _log(trained)
    run = mlflow.get_run(logged.run_id)
    assert run.data.params["label.horizon_days"] == "90"
    assert {"val_roc_auc", "baseline_recency_roc_auc", "baseline_btyd_roc_auc", "val_ece",
            "loyalty_loyalty_model_spearman"} <= set(run.data.metrics)
    assert run.data.tags["registry_decision"] == "champion"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(logged.run_id)}
    assert {"data_fingerprint.json", "optuna_study.json", "plots", "metrics_vs_baselines.csv"} <= artifacts
    plots = {a.path for a in mlflow.MlflowClient().list_artifacts(logged.run_id, "plots")}
    assert {f"plots/{n}.png" for n in ("roc", "calibration", "lift", "loyalty_capture", "feature_importance",
                                       "shap_summary")} <= plots
    model = mlflow.pyfunc.load_model("models:/churn-model@champion")
    assert model.metadata.signature is not None
    valid = _valid(trained)
    out = model.predict(valid[trained["spec"].names])
    assert list(out.columns) == ["churn_probability", "value_if_retained", "expected_value", "value_at_risk",
                                 "loyalty_score", "loyalty_tier"]
    assert out["churn_probability"].between(0, 1).all()
    reordered = model.predict(valid[trained["spec"].names[::-1]])
    np.testing.assert_array_equal(out["churn_probability"], reordered["churn_probability"])


@pytest.fixture(scope="module")
def out_of_time(trained):
    """The same model trained on the training cutoffs only (``model.refit_on_all_cutoffs: false``): its labels end a
    horizon before the as-of date, so two such versions are compared on the validation cutoff neither has trained on.
    (Refitted versions of one as-of date have both learned every labelled cutoff: ``registry.when_not_comparable``
    decides between them.)"""
    from pipeline.training.train import train_models

    params = trained["params"]
    params = dataclasses.replace(params, model=dataclasses.replace(params.model, refit_on_all_cutoffs=False))
    return {**trained, "params": params, "result": train_models(trained["training"], trained["spec"], params)}


@pytest.mark.slow
def test_refitted_versions_of_one_date_are_not_compared_on_rows_they_learned(store, trained):
    first, second = _log(trained), _log(trained)
    assert first.decision == "champion" and second.decision == "challenger"
    assert "not compared, no validation row is unseen by both" in second.message
    assert "end as late or later" in second.message  # registry.when_not_comparable=newer: the champion stays


@pytest.mark.slow
def test_registry_gate_keeps_a_worse_model_out(store, out_of_time):
    trained = out_of_time
    from mlflow import MlflowClient

    first = _log(trained)
    assert first.decision == "champion"
    worse = copy.copy(trained["result"])
    worse.churn_table = trained["result"].churn_table.copy()
    # a model that is no better on the same validation rows: same booster, so same champion score
    second = _log(trained, worse)
    assert second.decision == "challenger" and "does not beat" in second.message
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("churn-model", "champion").version) == first.version
    assert str(client.get_model_version_by_alias("churn-model", "challenger").version) == second.version
    forced = _log(trained, worse, promote=True)
    assert forced.decision == "champion"
    assert str(client.get_model_version_by_alias("churn-model", "champion").version) == forced.version


@pytest.mark.slow
def test_a_clearly_better_model_is_promoted(store, out_of_time):
    trained = out_of_time
    first = _log(trained)
    better = dataclasses.replace(trained["result"])
    better.churn_table = trained["result"].churn_table.copy()
    better.churn_table.loc["model", "roc_auc"] += 0.05  # claims a better score than the champion scores today
    second = _log(trained, better)
    assert first.decision == "champion" and second.decision == "champion" and "beats champion" in second.message


def test_a_model_that_cannot_be_loaded_is_a_clear_error_with_the_fix(store, tmp_path):
    from pipeline.core.errors import ModelError

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "MLmodel").write_text("x\n")
    with pytest.raises(ModelError, match=r"cannot load model .*broken \(.*\)\. Fix: pass --model a registered model"):
        tracking.load_model(str(broken))


@pytest.mark.slow
def test_damaged_stores_are_found_before_any_work(store, tmp_path, trained):
    from pipeline.core.errors import StoreError

    params = trained["params"]
    tracking.check_stores(params)  # the fixture's fresh store opens
    damaged = tmp_path / "optuna_damaged.db"
    damaged.write_text("not a database")
    tuned = dataclasses.replace(params, tuning=dataclasses.replace(params.tuning, n_trials=3, storage=str(damaged)))
    with pytest.raises(StoreError, match=r"Optuna study store .*optuna_damaged.db \(tuning.storage\) cannot be opened"):
        tracking.check_stores(tuned)
    tracking.check_stores(tuned, tuning=False)  # scoring does not tune
    untuned = dataclasses.replace(tuned, tuning=dataclasses.replace(tuned.tuning, n_trials=0))
    tracking.check_stores(untuned)
    import mlflow

    (tmp_path / "mlflow_damaged.db").write_text("not a database")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow_damaged.db'}")  # the fixture puts it back
    with pytest.raises(StoreError, match=r"MLflow tracking store sqlite:///.*mlflow_damaged.db cannot be opened .* Fix"):
        tracking.check_stores(untuned)


@pytest.mark.slow
def test_a_champion_that_cannot_be_scored_stays_champion(store, trained):
    """A champion the gate cannot score (today's validation rows lack a column it needs) is no loss for it: the new
    version waits as challenger with the reason, and --promote still makes it champion."""
    from mlflow import MlflowClient

    first = _log(trained)
    result = trained["result"]
    valid = _valid(trained)
    logged = tracking.log_training(result, trained["params"], trained["ds"].fingerprint(), valid, {}, "2025-12-31")
    second = tracking.register_and_gate(logged, result, trained["params"], valid.drop(columns=result.bundle.feature_names[0]))
    assert second.decision == "challenger" and "could not be compared" in second.message and "--promote" in second.message
    assert str(MlflowClient().get_model_version_by_alias("churn-model", "champion").version) == first.version


@pytest.mark.slow
def test_a_model_no_better_than_a_baseline_is_not_promoted_unless_forced(store, trained):
    """Labels that are a step function of days since the last purchase: the recency baseline ranks them
    perfectly, the model at best as well, so it is behind and waits as challenger (even with no champion yet),
    tagged with the reason; --promote makes it champion."""
    from mlflow import MlflowClient

    from pipeline.training.train import train_models

    training = trained["training"]
    days = training["days_since_last_purchase"]
    days = days.fillna(days.max())
    relabelled = training.assign(churned=(days > days.median()).astype(int))
    result = train_models(relabelled, trained["spec"], trained["params"])
    margin = result.baseline_margin
    assert margin["best_baseline"] == "recency" and margin["margin"] <= 0
    held = _log(trained, result)
    assert held.decision == "challenger" and held.behind_baseline and "--promote" in held.message
    client = MlflowClient()
    tags = client.get_model_version("churn-model", held.version).tags
    assert tags["baseline_verdict"] == "behind" and tags["baseline_best"] == "recency"
    assert client.get_run(held.run_id).data.tags["baseline_verdict"] == "behind"
    with pytest.raises(Exception):
        client.get_model_version_by_alias("churn-model", "champion")
    forced = _log(trained, result, promote=True)
    assert forced.decision == "champion" and "--promote" in forced.message and "behind a baseline" in forced.message
    assert client.get_run(forced.run_id).data.tags["baseline_verdict"] == "behind"
