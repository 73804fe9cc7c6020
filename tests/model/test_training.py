"""The training set, out-of-time split, rolling folds, determinism, calibration and quality on generated data."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.bundle import ModelBundle
from models.calibration import Calibrator, choose_calibrator
from models.metrics import expected_calibration_error
from pipeline.build.features import build_training_set, snapshot_cutoffs
from pipeline.core.config import Params
from pipeline.engine.duckdb import dataset_from_frames
from pipeline.training.train import (
    churn_estimator,
    customer_rows,
    grouped_cv,
    out_of_time_split,
    rolling_folds,
    season_seen,
    study_name,
    train_models,
    value_estimator,
)


@settings(max_examples=60, deadline=None)
@given(starts=st.lists(st.integers(0, 400), min_size=2, max_size=12, unique=True), horizon=st.integers(7, 120),
       n_folds=st.integers(1, 4))
def test_out_of_time_split_and_folds_never_overlap(starts, horizon, n_folds):
    cutoffs = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(np.repeat(starts, 3), unit="D"))
    train, valid = out_of_time_split(cutoffs, horizon)
    assert not (train & valid).any()
    assert (cutoffs[valid] == cutoffs.max()).all()
    if train.any():  # every training label window ends by the validation cutoff
        assert (cutoffs[train] + pd.Timedelta(days=horizon) <= cutoffs.max()).all()
    for fold_train, fold_valid in rolling_folds(cutoffs[train].reset_index(drop=True), horizon, n_folds):
        c = cutoffs[train].reset_index(drop=True)
        assert not (fold_train & fold_valid).any()
        assert c[fold_train].max() + pd.Timedelta(days=horizon) <= c[fold_valid].min()


@settings(max_examples=60, deadline=None)
@given(history_days=st.integers(200, 1200), as_of_day=st.integers(0, 364))
def test_the_value_error_is_marked_as_a_seen_season_exactly_when_the_cutoffs_hold_it_a_year_before(history_days,
                                                                                                    as_of_day):
    """Whatever the history and the date, ``season_seen`` on the cutoffs training would take says whether the
    validation cutoff's time of year a year before is among the training cutoffs (within half a horizon)."""
    params = Params()
    as_of = date(2026, 1, 1) + pd.Timedelta(days=as_of_day).to_pytimedelta()
    first = as_of - pd.Timedelta(days=history_days).to_pytimedelta()
    cutoffs = pd.Series(pd.to_datetime([c for c in snapshot_cutoffs(params, as_of, first) if c >= first]))
    if cutoffs.empty:
        return
    horizon = params.label.horizon_days
    train, _ = out_of_time_split(cutoffs, horizon)
    validation = cutoffs.max()
    seen = season_seen(cutoffs[train], validation, horizon)
    year_before = validation - pd.Timedelta(days=365)
    assert seen == any(abs((c - year_before).days) <= horizon / 2 for c in cutoffs[train])
    # with the option on and a full lookback before the validation cutoff's season a year before, it is seen
    if params.snapshots.same_season_last_year and (year_before - pd.Timedelta(days=params.label.lookback_days)).date() >= first:
        assert seen
    # never with less than a year and a lookback of history
    if history_days < 365 + params.label.lookback_days - horizon:
        assert not seen


@pytest.mark.slow
def test_training_is_deterministic(trained):
    again = train_models(trained["training"], trained["spec"], trained["params"])
    X = trained["training"][trained["spec"].names]
    np.testing.assert_array_equal(trained["result"].bundle.predict(X)["churn_probability"],
                                  again.bundle.predict(X)["churn_probability"])
    pd.testing.assert_frame_equal(trained["result"].churn_table, again.churn_table)


@pytest.mark.slow
def test_tuning_is_seeded_and_resumable(trained, tmp_path):
    params = dataclasses.replace(trained["params"], tuning=dataclasses.replace(trained["params"].tuning, n_trials=2))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = train_models(trained["training"], trained["spec"], params, study_name="t", storage=storage)
    assert first.study_summary["trials"] == 2 and first.study_summary["resumed_trials"] == 0
    more = dataclasses.replace(params, tuning=dataclasses.replace(params.tuning, n_trials=3))
    resumed = train_models(trained["training"], trained["spec"], more, study_name="t", storage=storage)
    assert resumed.study_summary["resumed_trials"] == 2 and resumed.study_summary["trials"] == 3
    other = train_models(trained["training"], trained["spec"], params, study_name="t2",
                         storage=f"sqlite:///{tmp_path / 'other.db'}")
    assert other.study_summary["best_params"] == first.study_summary["best_params"]


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value * 2 + 1
    if isinstance(value, dict):
        return {**value, "other": 1}
    return f"{value}-other"


def _settings(params) -> list[tuple[str, str | None]]:
    """Every setting as (section, field), the top-level ones as (field, None)."""
    out = []
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        out += ([(f.name, g.name) for g in dataclasses.fields(value)] if dataclasses.is_dataclass(value)
                else [(f.name, None)])
    return out


# what a tuning trial's score does not depend on: a study resumed after changing these is the same study
UNTUNED_SECTIONS = {"engine", "loyalty", "registry", "evaluation", "scoring", "value", "targeting"}
UNTUNED_SETTINGS = {"tuning.n_trials", "tuning.timeout_s", "tuning.storage", "model.refit_on_all_cutoffs",
                    "model.close_margin", "snapshots.max_data_age_days"}


@pytest.mark.slow
def test_study_name_changes_with_every_setting_a_trial_depends_on(trained):
    params, spec = Params(), trained["spec"]
    name = study_name("abc", "2025-12-31", params, spec)
    assert name == study_name("abc", "2025-12-31", Params(), spec)
    assert name != study_name("abd", "2025-12-31", params, spec)
    assert name != study_name("abc", "2025-12-30", params, spec)
    fewer = dataclasses.replace(spec, features=spec.features[:-1])
    assert name != study_name("abc", "2025-12-31", params, fewer)
    settings = _settings(params)
    assert len(settings) > 40
    for section, key in settings:
        if key is None:
            other = dataclasses.replace(params, **{section: _changed(getattr(params, section))})
        else:
            inner = getattr(params, section)
            other = dataclasses.replace(params, **{section: dataclasses.replace(
                inner, **{key: _changed(getattr(inner, key))})})
        same = section in UNTUNED_SECTIONS or f"{section}.{key}" in UNTUNED_SETTINGS
        assert (study_name("abc", "2025-12-31", other, spec) == name) == same, (section, key)


@pytest.mark.slow
def test_model_clearly_beats_the_recency_baseline(trained):
    table = trained["result"].churn_table
    assert table.loc["model", "roc_auc"] > table.loc["recency", "roc_auc"] + 0.03
    assert table.loc["model", "roc_auc"] > table.drop(index="model")["roc_auc"].max()
    loyalty = trained["result"].loyalty_table
    assert loyalty.loc["loyalty_model", "spearman"] > loyalty.loc["rfm", "spearman"]


def test_calibration_is_chosen_by_out_of_fold_log_loss_and_round_trips():
    rng = np.random.default_rng(0)
    true_p = rng.uniform(0.05, 0.95, 4000)
    y = (rng.random(4000) < true_p).astype(int)
    skewed = true_p**3  # badly calibrated scores
    cal, scores, _ = choose_calibrator(skewed, y, seed=0)
    assert cal.method != "none" and scores[cal.method] == min(scores.values())
    assert expected_calibration_error(y, cal.transform(skewed)) < expected_calibration_error(y, skewed) / 2
    again = Calibrator.from_dict(cal.to_dict())
    np.testing.assert_array_equal(again.transform(skewed), cal.transform(skewed))


@pytest.mark.slow
def test_bundle_round_trip_without_pickle(trained, tmp_path):
    bundle = trained["result"].bundle
    folder = bundle.save(tmp_path / "bundle")
    assert sorted(p.name for p in folder.iterdir()) == ["bundle.json", "churn_model.txt", "loyalty_model.txt",
                                                        "manifest.json"]
    loaded = ModelBundle.load(folder)
    X = trained["training"].head(300)
    pd.testing.assert_frame_equal(bundle.predict(X), loaded.predict(X))
    scores = loaded.predict(X)
    assert scores["churn_probability"].between(0, 1).all() and scores["loyalty_score"].between(0, 100).all()
    assert set(scores["loyalty_tier"]) <= set(trained["params"].loyalty.tiers)


@pytest.mark.slow
def test_loyalty_score_means_the_same_across_runs(trained):
    bundle = trained["result"].bundle
    value = np.array([0.0, 10.0, 100.0, 1000.0])
    np.testing.assert_array_equal(bundle.loyalty_score(value), bundle.loyalty_score(value[::-1])[::-1])
    assert np.all(np.diff(bundle.loyalty_score(value)) >= 0)


@pytest.mark.slow
def test_refit_on_all_cutoffs_keeps_the_honest_validation_figures(trained):
    """The refit model learns from every labelled cutoff with the rounds and calibration of customer-grouped
    cross-validation over those rows; the validation metrics reported stay those of the model that never saw
    the validation cutoff."""
    params = trained["params"]
    assert params.model.refit_on_all_cutoffs  # the default
    out_of_time = dataclasses.replace(params, model=dataclasses.replace(params.model, refit_on_all_cutoffs=False))
    base, refit = train_models(trained["training"], trained["spec"], out_of_time), trained["result"]
    pd.testing.assert_frame_equal(base.churn_table, refit.churn_table)
    training = trained["training"]
    X, y = training[trained["spec"].names], training["churned"].to_numpy(int)
    rounds, out_of_fold = grouped_cv(lambda: churn_estimator(params), X, y, training["customer_id"].to_numpy(),
                                     params.seed)
    assert refit.bundle.churn.booster_.current_iteration() == rounds
    valid = (training["cutoff"] == training["cutoff"].max()).to_numpy()
    customers = training["customer_id"].to_numpy()
    assert refit.bundle.calibrator == choose_calibrator(out_of_fold, y, params.seed, groups=customers)[0]
    p_base = base.bundle.predict(X)["churn_probability"]
    p_refit = refit.bundle.predict(X)["churn_probability"]
    assert not np.allclose(p_base, p_refit)
    # it has seen the validation cutoff, so it fits those rows better than the model that did not
    loss = [float(np.mean((np.asarray(p)[valid] - y[valid]) ** 2)) for p in (p_base, p_refit)]
    assert loss[1] < loss[0]


@pytest.mark.slow
def test_a_bounded_refit_takes_its_rounds_and_calibration_from_the_sampled_customers_and_fits_every_row(trained):
    params = trained["params"]
    training = trained["training"]
    X, y = training[trained["spec"].names], training["churned"].to_numpy(int)
    customers = training["customer_id"].to_numpy()
    stayed = y == 0
    # the fixture's default run: both models' folds on every row
    assert len(training) <= params.model.refit_cv_max_rows and stayed.sum() <= params.loyalty.refit_cv_max_rows
    bound, value_bound = len(training) // 3, int(stayed.sum()) // 3
    bounded = dataclasses.replace(params, model=dataclasses.replace(params.model, refit_cv_max_rows=bound),
                                  loyalty=dataclasses.replace(params.loyalty, refit_cv_max_rows=value_bound))
    result = train_models(training, trained["spec"], bounded)
    sampled = customer_rows(customers, bound, params.seed)
    rounds, out_of_fold = grouped_cv(lambda: churn_estimator(bounded), X, y, customers, params.seed, rows=sampled)
    assert sampled.sum() < len(training) and np.isfinite(out_of_fold[sampled]).all()
    assert result.bundle.churn.booster_.current_iteration() == rounds
    assert result.bundle.calibrator == choose_calibrator(out_of_fold[sampled], y[sampled], params.seed,
                                                         groups=customers[sampled])[0]
    # the value model's rounds come from folds over a share of the stayers (loyalty.refit_cv_max_rows)
    stayers, value = customers[stayed], training["future_value"].to_numpy(float)
    value_rounds, _ = grouped_cv(lambda: value_estimator(bounded, trained["spec"]), X[stayed], value[stayed], stayers,
                                 params.seed, rows=customer_rows(stayers, value_bound, params.seed))
    assert result.bundle.loyalty.booster_.current_iteration() == value_rounds
    # the validation figures are the out-of-time models', whatever the refits' folds
    pd.testing.assert_frame_equal(result.churn_table, trained["result"].churn_table)
    pd.testing.assert_frame_equal(result.value_table, trained["result"].value_table)


def _cv_data(customers: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"C{i:04d}" for i in range(customers)], 3)  # every customer on three snapshots
    x = rng.normal(size=(len(ids), 3))
    y = (x[:, 0] + rng.normal(scale=0.8, size=len(ids)) > 0).astype(int)
    return pd.DataFrame(x, columns=["a", "b", "c"]), y, ids


@settings(max_examples=6, deadline=None)
@given(customers=st.integers(400, 900), max_rows=st.integers(1000, 3000), seed=st.integers(0, 50))
def test_bounded_refit_folds_run_on_whole_customers_and_match_the_unbounded_folds_when_all_fit(customers, max_rows,
                                                                                                  seed):
    """``model.refit_cv_max_rows``: the folds run on a seeded share of whole customers (every snapshot of each or
    none), the other rows get no out-of-fold score; when every row fits under the bound, nothing changes."""
    X, y, ids = _cv_data(customers, seed)
    make = lambda: churn_estimator(Params(), n_estimators=40, early_stopping_rounds=5)  # noqa: E731
    sampled = customer_rows(ids, max_rows, seed)
    rounds, out_of_fold = grouped_cv(make, X, y, ids, seed, rows=sampled)
    scored = np.isfinite(out_of_fold)
    assert (scored == sampled).all()
    assert pd.Series(scored).groupby(ids).nunique().max() == 1  # a customer is in or out with all their rows
    if len(y) <= max_rows:
        assert scored.all()
        again_rounds, again = grouped_cv(make, X, y, ids, seed)
        assert rounds == again_rounds and np.array_equal(out_of_fold, again)
    else:
        assert 0.5 * max_rows < scored.sum() < 1.5 * max_rows


def test_training_set_carries_cutoff_label_and_future_value(sample_tables, params):
    ds = dataset_from_frames(sample_tables, params)
    train = build_training_set(ds, params, date(2025, 12, 31))
    first, _ = ds.date_range()
    assert set(train["cutoff"].dt.date) == set(snapshot_cutoffs(params, date(2025, 12, 31), first))
    # the same season a year before is among them (the sample starts in 2023: a full lookback before it)
    assert date(2024, 12, 31) in set(train["cutoff"].dt.date)
    assert {"churned", "future_value"} <= set(train.columns)
    assert train["churned"].isin([0, 1]).all() and (train["future_value"] >= 0).all()
    assert not train.duplicated(["customer_id", "cutoff"]).any()
