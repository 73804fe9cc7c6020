"""The in-period reference of the backtest: out-of-fold scores that never learn from a row's own label."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.core.config import load_params
from pipeline.core.errors import ConfigError, DataError
from pipeline.training.evaluate import in_period_scores

PARAMS = load_params(None, ["model.max_rounds=200", "model.min_child_samples=20"])
SPEC = SimpleNamespace(names=["a", "b", "c"])


def table(n: int, seed: int, signal: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    churned = (signal * X[:, 0] + rng.normal(size=n) > 0).astype(int)
    return pd.DataFrame({"customer_id": np.arange(n), **dict(zip(SPEC.names, X.T, strict=True)), "churned": churned})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_labels_that_features_cannot_explain_score_as_chance(seed):
    # Were any row scored by a model that had seen its own label, pure-noise labels would rank well.
    t = table(3000, seed, signal=0.0)
    assert abs(roc_auc_score(t["churned"], in_period_scores(t, SPEC, PARAMS, 5)) - 0.5) < 0.04


@pytest.mark.slow
def test_labels_the_features_explain_score_well_and_every_row_is_scored():
    t = table(3000, 4, signal=2.0)
    scores = in_period_scores(t, SPEC, PARAMS, 4)
    assert np.isfinite(scores).all() and ((0 < scores) & (scores < 1)).all()
    assert roc_auc_score(t["churned"], scores) > 0.85


def test_fold_counts_it_cannot_use_are_clear_errors():
    t = table(300, 5, signal=1.0)
    with pytest.raises(ConfigError, match="at least 3"):
        in_period_scores(t, SPEC, PARAMS, 2)
    few = t.assign(churned=(np.arange(len(t)) < 4).astype(int))
    with pytest.raises(DataError, match="smaller class has 4"):
        in_period_scores(few, SPEC, PARAMS, 5)
