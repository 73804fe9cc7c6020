"""The baselines' features as inputs the model uses as they are (monotone constraints), and leaves sized to the
churners (issue 25, part 4; docs/models.md "Never behind a simple baseline")."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pandas as pd
import pytest

from features.registry import Feature, FeatureSpec
from models.lgbm import LGBMChurnClassifier
from pipeline.core.config import load_params
from pipeline.training.train import (
    MIN_LEAF_ROWS,
    _suggest,
    churn_estimator,
    held_to_baselines,
    leaf_size,
    train_models,
)


def _wavy(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Churn that rises with days overall but dips and rises again along the way, so an unconstrained model is not
    monotone in it; and an interaction with a second input, so the constraint must hold at every value of it."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"days": rng.uniform(0, 300, n), "orders": rng.integers(0, 20, n).astype(float),
                      "noise": rng.normal(size=n)})
    logit = 1.5 * np.sin(X["days"] / 25) + (X["days"] - 150) / 100 - 0.1 * X["orders"] + X["noise"] * X["days"] / 150
    return X, (rng.random(n) < 1 / (1 + np.exp(-logit))).to_numpy().astype(int)


def _grid_steps(model, X: pd.DataFrame, feature: str, rows: int = 40) -> np.ndarray:
    """Changes of the churn probability along ``feature``'s range, every other input held at a real row's values."""
    grid = np.linspace(X[feature].min(), X[feature].max(), 60)
    steps = []
    for _, row in X.head(rows).iterrows():
        frame = pd.DataFrame([row] * len(grid)).reset_index(drop=True)
        frame[feature] = grid
        steps.append(np.diff(model.predict_proba(frame)[:, 1]))
    return np.concatenate(steps)


def test_a_constrained_feature_moves_the_probability_one_way_only():
    X, y = _wavy()
    free = LGBMChurnClassifier(n_estimators=120, min_child_samples=5).fit(X, y)
    assert (_grid_steps(free, X, "days") < -1e-9).any()  # the wave: unconstrained, risk falls somewhere as days grow
    held = LGBMChurnClassifier(n_estimators=120, min_child_samples=5,
                               monotone_features=(("days", 1), ("orders", -1))).fit(X, y)
    assert (_grid_steps(held, X, "days") >= -1e-12).all()
    assert (_grid_steps(held, X, "orders") <= 1e-12).all()
    assert held.booster_.params["monotone_constraints"] == [1, -1, 0]
    assert held.booster_.params["monotone_constraints_method"] == "advanced"


@pytest.mark.parametrize("monotone, message", [((("visits", 1),), "'visits', which is not a column"),
                                               ((("days", 0),), r"direction of \+1 or -1")])
def test_a_wrong_constraint_is_a_clear_error(monotone, message):
    X, y = _wavy(300)
    with pytest.raises(ValueError, match=message):
        LGBMChurnClassifier(n_estimators=5, monotone_features=monotone).fit(X, y)


def test_a_feature_may_be_monotone_only_with_a_direction():
    with pytest.raises(ValueError, match="monotone needs a numeric feature"):
        Feature("days_since_signup", "profile", "days", "Signed up {value:ago}", 0, monotone=True)
    spec = FeatureSpec((Feature("days_since_last_purchase", "recency", "days", "x", 1, monotone=True),
                        Feature("spend_last_90d", "monetary", "currency", "x", -1),
                        Feature("orders_lifetime", "frequency", "count", "x", -1, monotone=True)))
    assert spec.monotone == (("days_since_last_purchase", 1), ("orders_lifetime", -1))
    assert FeatureSpec.from_records(spec.to_records()).monotone == spec.monotone  # kept with a model bundle


def test_the_baselines_features_are_the_monotone_ones(trained):
    """The features the simple baselines rank by (models/baselines.py) are declared monotone, in their own direction."""
    monotone = dict(trained["spec"].monotone)
    assert monotone["days_since_last_purchase"] == 1
    assert monotone["orders_lifetime"] == -1
    assert monotone["btyd_expected_purchases_next_90d"] == -1 and monotone["btyd_probability_alive"] == -1
    assert "days_since_first_purchase" not in monotone  # a cohort, not a certain direction


def test_the_setting_builds_the_constraints_from_the_features(trained):
    spec = trained["spec"]
    off = load_params(None, ["model.monotone_baselines=false"])
    on = load_params(None, ["model.monotone_baselines=true", "model.monotone_method=intermediate"])
    assert churn_estimator(off, spec).monotone_features == ()
    est = churn_estimator(on, spec)
    assert est.monotone_features == spec.monotone and est.monotone_constraints_method == "intermediate"
    assert churn_estimator(on).monotone_features == ()  # no features named, nothing to constrain


def _close_call(margin: float, setting="auto"):
    """held_to_baselines on a wavy data set whose baseline (days) the free model beats by about ``margin`` or not:
    the baseline's score is the model's own blurred by noise until its ROC-AUC sits where wanted."""
    X, y = _wavy(2000, seed=1)
    spec = FeatureSpec((Feature("days", "recency", "days", "x", 1, monotone=True),
                        Feature("orders", "frequency", "count", "x", -1, monotone=True),
                        Feature("other", "monetary", "currency", "x", -1)))
    params = load_params(None, [f"model.monotone_baselines={setting}", "model.close_margin=0.02"])
    fits = []

    def fit(settings):
        fits.append(settings.model.monotone_baselines)
        return churn_estimator(settings, spec, y, n_estimators=60, min_child_samples=5).fit(X, y)

    free = fit(params)
    raw = free.predict_proba(X)[:, 1]
    from sklearn.metrics import roc_auc_score
    auc = roc_auc_score(y, raw)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=len(y))
    # a baseline whose ROC-AUC is about auc - margin: the model's ranking mixed with noise by bisection
    lo, hi = 0.0, 50.0
    for _ in range(40):
        w = (lo + hi) / 2
        if roc_auc_score(y, raw + w * noise * raw.std()) > auc - margin:
            lo = w
        else:
            hi = w
    baseline = raw + lo * noise * raw.std()
    fits.clear()
    out = held_to_baselines(params, spec, free, raw, fit, X, y, {"recency": baseline})
    return (*out, fits, auc)


def test_auto_holds_the_model_to_the_baselines_only_where_it_is_close_to_one():
    settings, model, scores, decision, fits, auc = _close_call(0.005)
    assert fits == [True] and decision["held"] and settings.model.monotone_baselines is True
    assert model.booster_.params["monotone_constraints"] == [1, -1, 0]
    np.testing.assert_allclose(scores, model.predict_proba(_wavy(2000, seed=1)[0])[:, 1])
    assert decision["free_auc"] == pytest.approx(auc) and auc - decision["best_baseline_auc"] < 0.02
    assert 0.5 < decision["held_auc"] < 1
    # far ahead of every baseline: nothing more is fitted, the free model and its scores stay, the setting is false
    settings, model, scores, decision, fits, auc = _close_call(0.05)
    assert fits == [] and not decision["held"] and settings.model.monotone_baselines is False
    assert "monotone_constraints" not in model.booster_.params or not any(model.booster_.params["monotone_constraints"])
    # no baseline to be close to: free, and the metadata holds no NaN (the bundle is JSON)
    X, y = _wavy(500, seed=2)
    params = load_params(None, [])
    free = churn_estimator(params, n_estimators=10).fit(X, y)
    spec = FeatureSpec((Feature("days", "recency", "days", "x", 1, monotone=True),))
    _, _, _, decision = held_to_baselines(params, spec, free, free.predict_proba(X)[:, 1], None, X, y, {})
    assert not decision["held"] and decision["best_baseline_auc"] is None
    # set by hand: as given, nothing decided
    for setting in (True, False):
        settings, _, _, decision, fits, _ = _close_call(0.005, str(setting).lower())
        assert fits == [] and decision == {"setting": setting, "held": setting}
        assert settings.model.monotone_baselines is setting


def test_auto_is_unconstrained_until_decided_and_the_decision_is_kept_with_the_model(trained):
    assert churn_estimator(load_params(None), trained["spec"]).monotone_features == ()  # the default: auto
    decision = trained["result"].bundle.metadata["monotone_baselines"]
    assert decision["setting"] == "auto" and decision["close_margin"] == 0.02
    assert decision["free_auc"] - decision["best_baseline_auc"] >= 0.02 and not decision["held"]  # far ahead: free
    constraints = trained["result"].bundle.churn.booster_.params.get("monotone_constraints") or [0]
    assert any(constraints) == decision["held"]


def test_bad_settings_are_refused():
    from pipeline.core.errors import ConfigError
    with pytest.raises(ConfigError, match="monotone_method"):
        load_params(None, ["model.monotone_method=strict"])
    with pytest.raises(ConfigError, match="monotone_baselines' must be true, false or auto; got 'sometimes'"):
        load_params(None, ["model.monotone_baselines=sometimes"])
    for bad in ("nan", "-0.01", "1"):
        with pytest.raises(ConfigError, match="close_margin"):
            load_params(None, [f"model.close_margin={bad}"])


@pytest.mark.parametrize("churned, rows, per_leaf, expected", [
    (100, 1000, 10, 100),    # 10% churn: 10 churners need 100 rows
    (600, 1000, 10, 25),     # 60% churn: the rarer class is the stayers, 40%: 25 rows
    (20, 1000, 10, 500),     # 2% churn: 500 rows, half the rows at most
    (5, 1000, 10, 500),      # 0.5%: 2,000 rows, cut to half the rows so one split stays possible
    (500, 1000, 5, MIN_LEAF_ROWS),  # 50%: 10 rows, raised to the floor
    (300, 1000, 0, None),    # off
    (0, 1000, 10, None),     # one class
])
def test_leaf_size_by_hand(churned, rows, per_leaf, expected):
    y = np.r_[np.ones(churned, int), np.zeros(rows - churned, int)]
    assert leaf_size(y, per_leaf) == expected


def test_the_leaf_size_reaches_the_model_and_tuning_searches_around_it():
    params = load_params(None, ["model.churners_per_leaf=10", "model.min_child_samples=50"])
    y = np.r_[np.ones(100, int), np.zeros(900, int)]
    assert churn_estimator(params, y=y).min_child_samples == 100
    assert churn_estimator(params, y=y, min_child_samples=7).min_child_samples == 7  # a tuned value wins
    assert churn_estimator(params).min_child_samples == 50  # no labels: as given
    assert churn_estimator(load_params(None), y=y).min_child_samples == 50  # rule off

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(lambda t: _suggest(t, 0.05, leaf=100)["min_child_samples"], n_trials=8)
    study.optimize(lambda t: _suggest(t, 0.05)["min_child_samples"], n_trials=1)
    ranges = [(t.distributions["min_child_samples"].low, t.distributions["min_child_samples"].high)
              for t in study.trials]
    assert set(ranges[:8]) == {(25, 400)} and ranges[8] == (10, 400)
    assert all(25 <= t.params["min_child_samples"] <= 400 for t in study.trials[:8])


@pytest.mark.slow
def test_training_holds_the_model_to_the_baselines_directions(trained):
    params = trained["params"]
    on = dataclasses.replace(params, model=dataclasses.replace(params.model, monotone_baselines=True,
                                                               churners_per_leaf=10))
    result = train_models(trained["training"], trained["spec"], on)
    churn = result.bundle.churn
    names = churn.feature_names_
    constraints = dict(zip(names, churn.booster_.params["monotone_constraints"], strict=True))
    assert {n: d for n, d in constraints.items() if d} == dict(trained["spec"].monotone)
    rate = trained["training"]["churned"].mean()
    assert churn.min_child_samples == leaf_size(trained["training"]["churned"].to_numpy(), 10) \
        == max(int(np.ceil(10 / min(rate, 1 - rate))), MIN_LEAF_ROWS)
    X = trained["training"][trained["spec"].names].reset_index(drop=True)
    steps = _grid_steps(churn, X, "days_since_last_purchase", rows=20)
    assert (steps >= -1e-12).all()
