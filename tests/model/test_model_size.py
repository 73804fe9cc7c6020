"""Models no bigger than they need to be: tuning's learning-rate floor and size penalty, and the explanation cost
reported with the model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pipeline.core.config import TuningConfig, load_params
from pipeline.core.errors import ConfigError
from pipeline.training.train import churn_estimator, grouped_cv, size_penalty, sized_rounds, train_models


def test_the_size_penalty_counts_doublings_beyond_the_budget():
    tuning = TuningConfig(size_penalty=0.002, size_budget=4000)
    assert size_penalty(0, tuning) == size_penalty(4000, tuning) == 0.0  # within the budget: nothing
    assert size_penalty(8000, tuning) == pytest.approx(0.002)
    assert size_penalty(32000, tuning) == pytest.approx(0.006)
    assert size_penalty(10**6, dataclasses.replace(tuning, size_penalty=0)) == 0.0


@pytest.mark.parametrize("setting", ["tuning.min_learning_rate=0", "tuning.min_learning_rate=0.3",
                                     "tuning.size_penalty=-0.1", "tuning.size_budget=0"])
def test_bad_size_settings_are_refused_by_name(setting):
    with pytest.raises(ConfigError, match=setting.split("=")[0]):
        load_params(None, [setting])


@pytest.mark.slow
def test_tuning_keeps_the_floor_and_weighs_size(trained):
    tuning = dataclasses.replace(trained["params"].tuning, n_trials=4, min_learning_rate=0.08, size_budget=50)
    params = dataclasses.replace(trained["params"], tuning=tuning)
    result = train_models(trained["training"], trained["spec"], params, study_name="size", storage=None)
    s = result.study_summary
    assert s["best_params"]["learning_rate"] >= 0.08
    # the score a trial is chosen by is its fold-mean AUC less the penalty of its mean leaves
    assert s["best_value"] == pytest.approx(s["best_auc"] - size_penalty(s["best_leaves"], tuning))
    assert s["best_leaves"] > 50 and s["best_value"] < s["best_auc"]


@pytest.mark.slow
def test_the_explanation_cost_is_that_of_the_trees_used(trained):
    bundle = trained["result"].bundle
    cost = bundle.metadata["explanation_cost"]
    churn = bundle.churn
    dump = churn.booster_.dump_model(num_iteration=churn.best_iteration_)["tree_info"]
    assert cost["trees"] == len(dump) == churn.best_iteration_
    assert cost["leaves"] == sum(t["num_leaves"] for t in dump) == churn.total_leaves()
    assert 1 <= cost["max_depth"] <= churn.max_depth
    assert cost["leaves"] <= cost["leaf_depth_work"] <= cost["leaves"] * cost["max_depth"] ** 2
    assert cost["explained_by"] == "tables"  # the pipeline's trees are inside what the tables cover


def test_total_leaves_counts_the_rounds_predicted_with():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    y = (X[:, 0] + rng.normal(size=600) > 0).astype(int)
    params = load_params(None, ["model.max_rounds=30", "model.num_leaves=5"])
    est = churn_estimator(params, early_stopping_rounds=0).fit(X, y)
    assert est.total_leaves() <= 30 * 5 and est.total_leaves() >= 30 * 2
    est.best_iteration_ = 10  # fewer rounds used: fewer leaves counted
    assert est.total_leaves() <= 10 * 5


def _boosted(n: int = 3000, seed: int = 0):
    """An early-stopped model with many small gains late: rows, labels, held-out rows and the model."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = (X[:, 0] + 0.5 * np.sin(3 * X[:, 1]) + 0.3 * X[:, 2] * X[:, 3] + rng.normal(size=n) > 0).astype(int)
    params = load_params(None, ["model.max_rounds=300", "model.num_leaves=15", "model.learning_rate=0.05",
                                "model.early_stopping_rounds=30"])
    fit, held = slice(0, n // 2), slice(n // 2, n)
    est = churn_estimator(params).fit(X[fit], y[fit], eval_set=(X[held], y[held]))
    return X, y, held, est, params


def test_sized_rounds_keep_early_stopping_within_the_budget_and_weigh_size_beyond_it():
    from sklearn.metrics import roc_auc_score

    X, y, held, est, _ = _boosted()
    best = est.best_iteration_
    leaves = np.cumsum(est.leaves_per_tree(best))
    assert len(leaves) == best and leaves[-1] == est.total_leaves()
    assert len(est.leaves_per_tree(0)) == 0 and len(est.leaves_per_tree()) == est.booster_.current_iteration()
    roomy = TuningConfig(size_penalty=0.002, size_budget=int(leaves[-1]))
    assert sized_rounds(est, X[held], y[held], roomy) == best  # within the budget: as early stopping gave
    tight = TuningConfig(size_penalty=0.01, size_budget=int(leaves[best // 4]))
    k = sized_rounds(est, X[held], y[held], tight)
    # by brute force over the same candidate rounds: the highest ROC-AUC less the penalty, from full predictions
    step = max(1, best // 50)
    grid = [*range(step, best, step), best]
    scores = [roc_auc_score(y[held], est.booster_.predict(X[held], num_iteration=g, raw_score=True))
              - size_penalty(float(leaves[g - 1]), tight) for g in grid]
    assert k == grid[int(np.argmax(scores))] and k < best
    assert size_penalty(float(leaves[k - 1]), tight) < size_penalty(float(leaves[-1]), tight)
    no_penalty = dataclasses.replace(tight, size_penalty=0.0)
    assert sized_rounds(est, X[held], y[held], no_penalty) == best


def test_the_refit_folds_take_the_sized_rounds_and_predict_at_them():
    X, y, _, _, params = _boosted()
    groups = np.arange(len(y)).astype(str)
    make = lambda: churn_estimator(params)  # noqa: E731
    free_rounds, free_oof = grouped_cv(make, X, y, groups, seed=3)
    tight = TuningConfig(size_penalty=0.01, size_budget=40)
    sized, sized_oof = grouped_cv(make, X, y, groups, seed=3, sized=tight)
    assert sized < free_rounds and np.isfinite(sized_oof).all()
    assert not np.allclose(sized_oof, free_oof)  # the out-of-fold scores are the smaller models'
    roomy_rounds, roomy_oof = grouped_cv(make, X, y, groups, seed=3, sized=TuningConfig(size_budget=10**9))
    assert roomy_rounds == free_rounds  # within the budget: the folds as early stopping left them
    np.testing.assert_array_equal(roomy_oof, free_oof)


def test_customer_rows_keep_whole_customers_and_about_the_cap():
    from pipeline.training.train import customer_rows

    customers = np.repeat(np.arange(5000), 8).astype(str)  # 8 snapshots each: 40,000 rows
    assert customer_rows(customers, 40_000, seed=1).all()  # within the cap: every row
    assert customer_rows(customers, 0, seed=1).all()  # no cap (model.refit_cv_max_rows: 0): every row
    rows = customer_rows(customers, 10_000, seed=1)
    assert 9_000 <= rows.sum() <= 11_000
    kept = set(customers[rows])
    assert all(c in kept for c in customers[rows]) and not any(c in kept for c in customers[~rows])  # whole customers
    np.testing.assert_array_equal(rows, customer_rows(customers, 10_000, seed=1))  # seeded


@pytest.mark.slow
def test_tuning_on_a_share_of_the_rows_reports_it(trained):
    tuning = dataclasses.replace(trained["params"].tuning, n_trials=2, max_rows=3000)
    params = dataclasses.replace(trained["params"], tuning=tuning)
    result = train_models(trained["training"], trained["spec"], params, study_name="rows", storage=None)
    assert 2000 < result.study_summary["rows"] < 4000 < result.n_train_rows
