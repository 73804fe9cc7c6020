"""The scikit-learn contract on the LightGBM wrappers."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from models.lgbm import LGBMChurnClassifier, LGBMValueRegressor
from pipeline.core.errors import ModelError

EXPECTED = {
    # Histogram binning and min_data_in_leaf count rows, not weights, so weight 2 != a repeated row.
    "check_sample_weight_equivalence_on_dense_data": "LightGBM bins and leaf sizes count rows, not weights",
}


@parametrize_with_checks(
    [LGBMChurnClassifier(n_estimators=20, min_child_samples=1), LGBMValueRegressor(objective="regression",
                                                                                     n_estimators=20, min_child_samples=1)],
    expected_failed_checks=lambda est: EXPECTED if isinstance(est, LGBMValueRegressor) else {},
)
def test_sklearn_contract(estimator, check):
    check(estimator)


def frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "plan": rng.choice(["x", "y", "z"], n)})
    y = ((X["a"] + (X["plan"] == "z") + rng.normal(scale=0.5, size=n)) > 0.5).astype(int)
    return X, y


def test_categoricals_and_column_order_are_handled_by_name():
    X, y = frame()
    est = LGBMChurnClassifier(n_estimators=50, min_child_samples=5).fit(X, y)
    p = est.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(p, est.predict_proba(X[["plan", "b", "a"]])[:, 1])
    unseen = X.assign(plan="never-seen")
    missing = X.assign(plan=None)
    np.testing.assert_array_equal(est.predict_proba(unseen)[:, 1], est.predict_proba(missing)[:, 1])
    assert est.predict_proba(unseen)[:, 1].std() > 0  # the other features still count
    with pytest.raises(ModelError, match=r"missing features \['b'\]"):
        est.predict_proba(X.drop(columns="b"))
    with pytest.raises(ModelError, match=r"unexpected features \['c'\]"):
        est.predict_proba(X.assign(c=1.0))


def test_fit_returns_self_keeps_no_data_and_clones():
    X, y = frame()
    est = LGBMChurnClassifier(n_estimators=10)
    assert est.fit(X, y) is est
    assert not any(isinstance(v, pd.DataFrame | np.ndarray) and len(v) == len(X) for v in vars(est).values())
    assert clone(est).get_params() == est.get_params()


def test_same_data_same_seed_identical_predictions():
    X, y = frame()
    a = LGBMChurnClassifier(n_estimators=60, bagging_fraction=0.7, bagging_freq=1, feature_fraction=0.7).fit(X, y)
    b = LGBMChurnClassifier(n_estimators=60, bagging_fraction=0.7, bagging_freq=1, feature_fraction=0.7).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_tweedie_regressor_refuses_negative_targets():
    X, _ = frame()
    with pytest.raises(ValueError, match="non-negative"):
        LGBMValueRegressor().fit(X, -np.ones(len(X)))


def test_contributions_are_exact_treeshap_and_add_up():
    X, y = frame()
    est = LGBMChurnClassifier(n_estimators=200, early_stopping_rounds=5, min_child_samples=5)
    est.fit(X.iloc[:300], y.iloc[:300], eval_set=(X.iloc[300:], y.iloc[300:]))
    contrib = est.contributions(X)
    native = est.booster_.predict(est._prepare_predict(X), num_iteration=est.best_iteration_, pred_contrib=True)
    np.testing.assert_allclose(contrib, native, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(contrib.sum(axis=1), est.decision_function(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("estimator", [LGBMChurnClassifier, LGBMValueRegressor])
def test_encoding_gives_lightgbm_the_model_of_a_categorical_frame(estimator, seed):
    """The estimators hand LightGBM one float array with text columns as category positions; the trees and every
    prediction must be those LightGBM makes of the categorical frame itself (pandas' categories and codes, a value not
    seen in training missing): mixed column types, gaps and nullable integers included."""
    rng = np.random.default_rng(seed)
    n = 3000
    X = pd.DataFrame({"a": rng.normal(size=n), "count": rng.integers(0, 40, n),
                      "plan": rng.choice(["basic", "plus", "pro", None], n),
                      "visits": pd.array(rng.integers(0, 9, n), dtype="Int64"),
                      "region": rng.choice(["north", "south"], n), "flag": rng.random(n) < 0.3})
    X.loc[rng.random(n) < 0.15, "a"] = np.nan
    X.loc[rng.random(n) < 0.15, "visits"] = pd.NA
    signal = X["a"].fillna(0) + 0.8 * (X["plan"] == "pro") - 0.1 * X["visits"].fillna(4).astype(float)
    y = (signal + rng.normal(size=n) > 0).astype(int) if estimator is LGBMChurnClassifier else \
        np.clip(10 * signal + 30 + rng.normal(size=n), 0, None)
    est = estimator(n_estimators=30, early_stopping_rounds=0, min_child_samples=10).fit(X, y)

    def as_lightgbm_frame(frame):  # what LightGBM is given without the estimator: categoricals as pandas holds them
        out = frame.astype({"visits": float, "flag": float})
        for col in ("plan", "region"):
            out[col] = pd.Categorical(frame[col].where(frame[col].isin(est.categories_[col])),
                                      categories=est.categories_[col])
        return out

    reference = lgb.train(est._lgb_params(), lgb.Dataset(as_lightgbm_frame(X), label=np.asarray(y, float)),
                          num_boost_round=30)
    trees = est.booster_.model_to_string().split("pandas_categorical")[0]
    assert trees == reference.model_to_string().split("pandas_categorical")[0]
    later = X.sample(frac=1.0, random_state=seed).assign(plan=lambda f: f["plan"].where(rng.random(n) < 0.8, "enterprise"))
    ours = est.predict_proba(later)[:, 1] if estimator is LGBMChurnClassifier else est.predict(later)
    np.testing.assert_array_equal(ours, reference.predict(as_lightgbm_frame(later)))
    # the tables' TreeSHAP sums LightGBM's terms in another order (models/treeshap.py)
    np.testing.assert_allclose(est.contributions(later), reference.predict(as_lightgbm_frame(later), pred_contrib=True),
                               rtol=1e-9, atol=1e-12)
