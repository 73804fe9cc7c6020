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
    plots["shap_summary"], _ = training_run.shap_summary(result, valid)
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
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):  # no champion: the one version is a challenger
        client.get_model_version_by_alias("churn-model", "champion")
    forced = _log(trained, result, promote=True)
    assert forced.decision == "champion" and "--promote" in forced.message and "behind a baseline" in forced.message
    assert client.get_run(forced.run_id).data.tags["baseline_verdict"] == "behind"


@pytest.mark.slow
def test_a_run_says_what_ran_when_and_the_model_carries_its_run(store, trained):
    """The run is named by the model, churn kind and horizon, starts when the command began and ends after the
    registration, is tagged with the package version and code revision, and logs the settings the model used
    (tuned ones and rounds); the model's own files name the run that logged them."""
    import time

    import mlflow

    started_ms = int(time.time() * 1000) - 120_000  # the command began two minutes before the logging
    result, valid = trained["result"], _valid(trained)
    logged = tracking.log_training(result, trained["params"], trained["ds"].fingerprint(), valid, {}, "2025-12-31",
                                   started_ms)
    logged = tracking.register_and_gate(logged, result, trained["params"], valid)
    tracking.finish_run(logged.run_id)
    run = mlflow.get_run(logged.run_id)
    assert run.info.run_name == "train churn-model inactivity 90d as of 2025-12-31"
    assert run.info.start_time == started_ms and run.info.end_time - run.info.start_time >= 120_000
    tags = run.data.tags
    assert tags["churn.package_version"] == "0.1.0" and tags["churn.command"] == "train"
    assert tags["churn.code_revision"] == "unknown" or len(tags["churn.code_revision"].removesuffix("+dirty")) == 40
    params = run.data.params
    bundle = result.bundle
    assert params["churn_model.num_leaves"] == str(bundle.churn.get_params()["num_leaves"])
    assert params["churn_model.rounds"] == str(bundle.churn.best_iteration_)
    assert params["loyalty_model.rounds"] == str(bundle.loyalty.best_iteration_)
    loaded = tracking.load_model(f"models:/churn-model/{logged.version}")
    assert loaded.bundle.metadata["mlflow_run_id"] == logged.run_id == loaded.run_id
    assert "mlflow_run_id" not in bundle.metadata  # the training result is not changed by logging it
    assert loaded.bundle.metadata["problem"]["registry"] == {"model_name": "churn-model"}


def test_tuned_settings_are_logged_beside_params_yaml_s():
    from types import SimpleNamespace

    from pipeline.core.config import load_params
    from pipeline.training.train import churn_estimator, value_estimator

    params = load_params(None)
    churn, loyalty = churn_estimator(params, num_leaves=13), value_estimator(params)
    churn.best_iteration_, loyalty.best_iteration_ = 87, 41
    bundle = SimpleNamespace(churn=churn, loyalty=loyalty, metadata={"tuned_params": {"num_leaves": 13}})
    used = tracking.used_settings(SimpleNamespace(bundle=bundle))
    assert params.model.num_leaves != 13  # params.yaml says another value, logged as model.num_leaves
    assert used["churn_model.num_leaves"] == "13" and used["tuned.num_leaves"] == "13"
    assert used["churn_model.rounds"] == "87" and used["loyalty_model.rounds"] == "41"


@pytest.mark.slow
def test_a_version_whose_run_did_not_finish_or_whose_row_points_elsewhere_is_refused(store, trained, tmp_path):
    import sqlite3

    from mlflow import MlflowClient

    from pipeline.core.errors import ModelError

    first, second = _log(trained), _log(trained)
    client = MlflowClient()
    client.set_terminated(first.run_id, status="FAILED")
    with pytest.raises(ModelError, match=rf"churn-model v{first.version} \(champion\): its training run {first.run_id} "
                                         r"did not finish \(status FAILED\)") as failed:
        tracking.load_model("models:/churn-model@champion")
    assert failed.value.exit_code == 4
    # version 2's row made to point at version 1's files, with their hashes: the files name run 1, the row run 2
    v1, v2 = client.get_model_version("churn-model", first.version), client.get_model_version("churn-model", second.version)
    db = sqlite3.connect(tracking.sqlite_file(tracking.configure()))
    with db:
        db.execute("UPDATE model_versions SET source = ?, storage_location = ? WHERE name = ? AND version = ?",
                   (v1.source, db.execute("SELECT storage_location FROM model_versions WHERE version = ?",
                                          (int(first.version),)).fetchone()[0], "churn-model", int(second.version)))
        for key, value in v1.tags.items():
            if key.startswith(tracking.HASH_TAG):
                db.execute("UPDATE model_version_tags SET value = ? WHERE name = ? AND version = ? AND key = ?",
                           (value, "churn-model", int(second.version), key))
    db.close()
    assert client.get_model_version("churn-model", second.version).run_id == second.run_id
    with pytest.raises(ModelError, match=rf"names run {second.run_id}, and the model files it points at were logged "
                                         rf"by run {first.run_id}"):
        tracking.load_model(f"models:/churn-model/{v2.version}")


def test_a_model_loaded_under_another_registered_name_is_refused(trained):
    import dataclasses as dc

    from pipeline.core.errors import ModelError

    bundle = trained["result"].bundle
    subs = dc.replace(bundle, metadata={**bundle.metadata, "problem": {
        **bundle.metadata["problem"], "registry": {"model_name": "subscription-churn"}}})
    with pytest.raises(ModelError, match=r"trained for registered model subscription-churn .*not churn-model"):
        tracking.check_identity(subs, "models:/churn-model@champion", "3", None)
    tracking.check_identity(subs, "models:/subscription-churn/3", "3", None)
    tracking.check_identity(bundle, "models:/churn-model@champion", "3", None)


def test_a_tracking_server_that_does_not_answer_fails_within_15_s(monkeypatch, params):
    """A server that accepts the connection and never answers: MLflow's defaults waited over 4 minutes."""
    import socket
    import threading
    import time

    import mlflow

    from pipeline.core.errors import StoreError

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # accepted, never answered
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    uri = f"http://127.0.0.1:{server.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    try:
        tracking.configure()
        began = time.monotonic()
        with pytest.raises(StoreError, match=rf"MLflow tracking server {uri} did not answer within 10 s .*Fix: check "
                                             r"that the server is up"):
            tracking.check_stores(params, tuning=False)
        assert time.monotonic() - began < 15
        assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in __import__("os").environ  # the rest of a run keeps MLflow's own
    finally:
        stop.set()
        for conn in held:
            conn.close()
        server.close()
        mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_the_gate_scores_each_model_on_the_features_it_was_built_for(store, out_of_time):
    """A champion built for fewer feature families (six excluded) against a challenger built for all, and the reverse:
    the champion is scored on its own features (its stored problem, built again at the validation cutoff), so the
    two are compared either way. Before, the champion was scored on the challenger's table: a challenger without the
    champion's families made it fail to score (KeyError) and it stayed champion, never compared."""
    import mlflow

    from models.metrics import ranking_metrics
    from pipeline.build.features import build_training_set, context_for, feature_spec
    from pipeline.training.train import train_models, validation_rows

    full = out_of_time
    ds, as_of = full["ds"], full["as_of"]
    excluded = ("activity", "engagement", "payments", "service", "satisfaction", "subscription")
    params_few = dataclasses.replace(full["params"], features=dataclasses.replace(full["params"].features,
                                                                                  exclude=excluded))
    training_few = build_training_set(ds, params_few, as_of)
    spec_few, _ = feature_spec(context_for(ds, params_few, as_of))
    few = {**full, "params": params_few, "training": training_few, "spec": spec_few,
           "result": train_models(training_few, spec_few, params_few)}
    only_full = set(full["spec"].names) - set(spec_few.names)
    assert only_full and set(spec_few.names) < set(full["spec"].names)

    def gate(t, promote=False):
        valid = _valid(t)
        logged = tracking.log_training(t["result"], t["params"], ds.fingerprint(), valid, {}, "2025-12-31")
        return tracking.register_and_gate(logged, t["result"], t["params"], valid, promote,
                                          training_run.champion_features(None, [], ds, valid))

    assert gate(few, promote=True).decision == "champion"
    second = gate(full)  # all families against the champion built for fewer
    assert "neither has trained on" in second.message, second.message
    # the champion's own table is built under its problem (no excluded family), and its figure is its score there
    builder = training_run.champion_features(None, [], ds, _valid(full))
    assert not only_full & set(builder(few["result"].bundle).columns)
    valid_few = validation_rows(training_few)
    own = few["result"].bundle.predict(valid_few[few["result"].bundle.feature_names])["churn_probability"]
    expected = ranking_metrics(valid_few["churned"].to_numpy(), own.to_numpy())["roc_auc"]
    assert mlflow.get_run(second.run_id).data.metrics["registry_champion_roc_auc"] == pytest.approx(expected, abs=1e-9)
    # the reverse: a challenger built for fewer families against the full champion is compared, not refused
    assert gate(full, promote=True).decision == "champion"
    fourth = gate(few)
    assert "neither has trained on" in fourth.message and "could not be compared" not in fourth.message, fourth.message
