"""Exact TreeSHAP by tables (models/treeshap.py) gives LightGBM's own pred_contrib, on every kind of split.

Properties over seeded random data and models: numbers with missing values (NaN as missing, or as zero), zeros
as missing, categorical splits (codes seen, unseen, negative, fractional and missing), a feature split twice on a
path, single-leaf trees, the churn classifier and the value regressor, any block size and thread count.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import models.treeshap as treeshap
from models.bundle import ModelBundle
from models.lgbm import LGBMChurnClassifier, LGBMValueRegressor
from models.treeshap import TreeTables
from pipeline.core.errors import ModelError

TOL = {"rtol": 1e-9, "atol": 1e-12}


def _data(seed: int, rows: int = 1500, features: int = 8):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    X[rng.random(rows) < 0.2, 0] = np.nan  # missing numbers
    X[rng.random(rows) < 0.3, 1] = 0.0  # zeros (missing where zero_as_missing)
    X[:, 2] = np.round(X[:, 2], 1)  # many ties: thresholds land on values
    X[:, 3] = np.where(rng.random(rows) < 0.1, np.nan, rng.integers(0, 12, rows))  # categorical codes
    signal = X[:, 4] + np.nan_to_num(X[:, 0]) + np.isin(X[:, 3], [2, 5, 7]) + np.sin(3 * X[:, 2]) + (X[:, 1] == 0)
    y = (signal + rng.normal(size=rows) > 0.5).astype(int)
    return X, y


def _rows_to_explain(seed: int, features: int = 8, rows: int = 700):
    """Rows unlike the training rows too: unseen and negative codes, fractional codes, NaN everywhere."""
    rng = np.random.default_rng(seed + 1000)
    X = rng.normal(size=(rows, features)) * 1.5
    X[rng.random(rows) < 0.2, 0] = np.nan
    X[rng.random(rows) < 0.3, 1] = 0.0
    X[rng.random(rows) < 0.05, 1] = 1e-40  # a zero to LightGBM
    X[:, 2] = np.round(X[:, 2], 1)
    X[:, 3] = rng.choice([np.nan, -1.0, -0.5, 0.0, 2.0, 2.7, 5.0, 7.0, 11.0, 13.0, 40.0, 1e6], rows)
    X[rng.random(rows) < 0.05, 5] = np.nan  # missing where training had none
    return np.asfortranarray(X)


def _booster(seed: int, rounds: int, **params):
    X, y = _data(seed)
    base = {"objective": "binary", "num_leaves": 15, "max_depth": 6, "learning_rate": 0.1, "verbose": -1,
            "min_data_per_group": 5, "cat_smooth": 1.0, "cat_l2": 1.0, "min_data_in_leaf": 10, "seed": seed}
    base.update(params)
    return lgb.train(base, lgb.Dataset(X, y, categorical_feature=[3], params=base), rounds)


def _check(booster, seed: int) -> TreeTables:
    tables = TreeTables.of_booster(booster.model_to_string())
    assert tables is not None
    X = _rows_to_explain(seed)
    expected = booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(tables.contributions(X), expected, **TOL)
    # on and just above every threshold (a threshold near 0 included: LightGBM reads |x| <= 1e-35f as 0)
    probe = tables.probe_rows(rows=200, seed=seed)
    np.testing.assert_allclose(tables.contributions(probe), booster.predict(probe, pred_contrib=True), **TOL)
    return tables


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), rounds=st.integers(1, 25), leaves=st.sampled_from([2, 3, 7, 15, 31]),
       depth=st.sampled_from([-1, 2, 6]), zero_missing=st.booleans(), use_missing=st.booleans())
def test_tables_give_lightgbms_own_contributions(seed, rounds, leaves, depth, zero_missing, use_missing):
    booster = _booster(seed, rounds, num_leaves=leaves, max_depth=depth, zero_as_missing=zero_missing,
                       use_missing=use_missing)
    _check(booster, seed)


def test_a_feature_split_twice_on_a_path_counts_once():
    # one informative feature and deep trees: every path splits on it again and again
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 3))
    y = (np.sin(4 * X[:, 0]) + 0.1 * rng.normal(size=3000) > 0).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 31, "verbose": -1, "min_data_in_leaf": 5},
                        lgb.Dataset(X, y), 20)
    text = booster.model_to_string()
    tree = treeshap.parse_trees(text)[0][0]
    paths = treeshap._paths(tree, first=0)
    assert any(len(conditions) > 1 for leaf in paths for conditions in leaf.conditions)
    tables = TreeTables.of_booster(text)
    Xt = rng.normal(size=(500, 3))
    np.testing.assert_allclose(tables.contributions(Xt), booster.predict(Xt, pred_contrib=True), **TOL)


def test_single_leaf_trees_only_move_the_expected_value():
    X, y = _data(5)
    # no split is worth its gain: every tree is one leaf
    booster = lgb.train({"objective": "binary", "verbose": -1, "min_gain_to_split": 1e9}, lgb.Dataset(X, y), 5)
    assert "num_leaves=1\n" in booster.model_to_string()
    tables = TreeTables.of_booster(booster.model_to_string())
    Xt = _rows_to_explain(5)
    got = tables.contributions(Xt)
    np.testing.assert_allclose(got, booster.predict(Xt, pred_contrib=True), **TOL)
    assert np.all(got[:, :-1] == 0)


def test_the_blocks_and_threads_do_not_change_a_value(monkeypatch):
    booster = _booster(11, 40)
    X = _rows_to_explain(11)
    tables = TreeTables.of_booster(booster.model_to_string())
    one = tables.contributions(X, threads=1)
    monkeypatch.setattr(treeshap, "_BLOCK_ROWS", 7)
    np.testing.assert_array_equal(tables.contributions(X, threads=3), one)
    monkeypatch.setattr(treeshap, "_CHUNK_PAIRS", 5)  # a group of trees per tree or two
    small = TreeTables.of_booster(booster.model_to_string())
    assert len(small.chunks) > len(tables.chunks)
    np.testing.assert_allclose(small.contributions(X, threads=2), one, **TOL)
    assert tables.contributions(X[:0]).shape == (0, X.shape[1] + 1)


def test_models_the_tables_do_not_cover_are_left_to_lightgbm(monkeypatch):
    X, y = _data(2)
    linear = lgb.train({"objective": "binary", "linear_tree": True, "verbose": -1}, lgb.Dataset(X, y), 3)
    assert TreeTables.of_booster(linear.model_to_string()) is None
    multiclass = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1},
                           lgb.Dataset(X, np.arange(len(X)) % 3), 2)
    assert TreeTables.of_booster(multiclass.model_to_string()) is None
    deep = _booster(2, 5, num_leaves=31, max_depth=-1)
    monkeypatch.setattr(treeshap, "MAX_PATH_FEATURES", 2)
    assert TreeTables.of_booster(deep.model_to_string()) is None


def _frame(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = _data(seed, rows=1200)
    frame = pd.DataFrame(X[:, [0, 1, 2, 4, 5]], columns=["recency", "spend", "gap", "trend", "visits"])
    frame["segment"] = pd.Series(np.where(np.isnan(X[:, 3]), None, "s" + np.nan_to_num(X[:, 3]).astype(int).astype(str)),
                                 dtype="string")
    return frame, y


@pytest.mark.parametrize("kind", ["churn", "value"])
def test_the_estimators_explain_as_lightgbm_does(kind, monkeypatch):
    frame, y = _frame(7)
    if kind == "churn":
        model = LGBMChurnClassifier(n_estimators=30, num_leaves=15, max_depth=6, min_child_samples=10).fit(frame, y)
    else:
        spend = np.where(y == 1, 0.0, np.exp(frame["trend"].to_numpy()) * 50)
        model = LGBMValueRegressor(n_estimators=30, num_leaves=15, max_depth=6, min_child_samples=10).fit(frame, spend)
    rows = frame.sample(400, random_state=1).reset_index(drop=True)
    rows.loc[:20, "segment"] = "never seen"
    got = model.contributions(rows)
    assert model.tree_tables() is not None
    expected = model.lightgbm_contributions(model._prepare_predict(rows))
    np.testing.assert_allclose(got, expected, **TOL)
    # the raw score is the contributions' sum, as LightGBM's
    raw = model.booster_.predict(model._prepare_predict(rows), num_iteration=model.best_iteration_, raw_score=True)
    np.testing.assert_allclose(got.sum(axis=1), raw, rtol=1e-9, atol=1e-9)
    # refitted: the tables follow the new booster
    model.fit(frame.iloc[:600], y[:600] if kind == "churn" else spend[:600])
    np.testing.assert_allclose(model.contributions(rows),
                               model.lightgbm_contributions(model._prepare_predict(rows)), **TOL)
    # a model the tables do not cover falls back to LightGBM's, with the same values
    monkeypatch.setattr(treeshap, "MAX_PATH_FEATURES", 1)
    model.fit(frame, y if kind == "churn" else spend)
    assert model.tree_tables() is None
    np.testing.assert_allclose(model.contributions(rows),
                               model.lightgbm_contributions(model._prepare_predict(rows)), **TOL)


def test_rows_encoded_once_give_what_the_frame_gives():
    frame, y = _frame(9)
    churn = LGBMChurnClassifier(n_estimators=20, num_leaves=7, min_child_samples=10).fit(frame, y)
    spend = np.where(y == 1, 0.0, 40.0 + 10 * np.nan_to_num(frame["trend"].to_numpy()).clip(-3, 3))
    value = LGBMValueRegressor(n_estimators=20, num_leaves=7, min_child_samples=10).fit(frame, spend)
    rows = churn.encode_rows(frame)
    assert value.reads(rows)  # trained on the same table: the same features and categories
    np.testing.assert_array_equal(churn.predict_proba(rows), churn.predict_proba(frame))
    np.testing.assert_array_equal(churn.contributions(rows), churn.contributions(frame))
    np.testing.assert_array_equal(value.predict(rows), value.predict(frame))
    # a model that learned other categories refuses rows encoded for these
    other = LGBMValueRegressor(n_estimators=5, min_child_samples=10).fit(frame.assign(segment="one"), spend)
    assert not other.reads(rows)
    with pytest.raises(ModelError, match="encode them with this model"):
        other.predict(rows)


def test_tables_too_big_are_left_to_lightgbm(monkeypatch):
    booster = _booster(4, 10)
    monkeypatch.setattr(treeshap, "MAX_TABLE_SIZE", 100)
    assert TreeTables.of_booster(booster.model_to_string()) is None


def test_the_tables_follow_the_rounds_predicted_with():
    frame, y = _frame(12)
    model = LGBMChurnClassifier(n_estimators=30, num_leaves=7, min_child_samples=10).fit(frame, y)
    full = model.contributions(frame)
    model.best_iteration_ = 10  # as training's refit sets the rounds it predicts with
    fewer = model.contributions(frame)
    np.testing.assert_allclose(fewer, model.lightgbm_contributions(model._prepare_predict(frame)), **TOL)
    assert not np.allclose(fewer, full)


def test_tables_that_disagree_with_lightgbm_on_the_probe_rows_are_not_used(monkeypatch):
    frame, y = _frame(13)
    model = LGBMChurnClassifier(n_estimators=10, num_leaves=7, min_child_samples=10).fit(frame, y)
    probe = model.tree_tables().probe_rows()
    assert np.isnan(probe).any() and (probe == 0).any()  # both sides of every split, missing values included
    # a platform where LightGBM reads a value otherwise than the tables: its own values differ on the probe rows
    monkeypatch.setattr(TreeTables, "contributions", lambda self, X, threads=1: np.zeros((len(X), self.n_features + 1)))
    model._tree_tables = None
    assert model.tree_tables() is None
    np.testing.assert_array_equal(model.contributions(frame), model.lightgbm_contributions(model._prepare_predict(frame)))
    assert model.explanation_cost()["explained_by"] == "pred_contrib"


def test_rows_encoded_for_other_features_or_categories_are_refused_and_the_bundle_encodes_for_each():
    frame, y = _frame(14)
    churn = LGBMChurnClassifier(n_estimators=5, num_leaves=7, min_child_samples=10).fit(frame, y)
    reordered = LGBMChurnClassifier(n_estimators=5, num_leaves=7, min_child_samples=10).fit(
        frame[list(reversed(frame.columns))], y)
    rows = churn.encode_rows(frame)
    assert not rows.data.flags.writeable
    assert not reordered.reads(rows)
    with pytest.raises(ModelError, match="encode them with this model"):
        reordered.predict_proba(rows)
    value = LGBMValueRegressor(n_estimators=5, min_child_samples=10).fit(frame.assign(segment="one"), y.astype(float))

    class Bundle:  # the two models of a bundle, as ModelBundle.encode_rows reads them
        encode_rows = ModelBundle.encode_rows

    bundle = Bundle()
    bundle.churn, bundle.loyalty = churn, value
    churn_rows, value_rows = bundle.encode_rows(frame)
    assert churn_rows is not value_rows and value.reads(value_rows)
    np.testing.assert_array_equal(value.predict(value_rows), value.predict(frame))
    bundle.loyalty = LGBMValueRegressor(n_estimators=5, min_child_samples=10).fit(frame, y.astype(float))
    churn_rows, value_rows = bundle.encode_rows(frame)
    assert churn_rows is value_rows  # the same table: encoded once
