"""Backtest: at each of several cutoffs, train only on data before it and test on the cutoff after it,
the model beside its baselines."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta

import pandas as pd

from models.baselines import churn_baselines
from models.metrics import churn_metrics, ranking_metrics
from pipeline.build import Dataset, build_features, build_training_set, context_for, feature_spec
from pipeline.config import Params
from pipeline.train import train_models


def backtest_cutoffs(params: Params, as_of: date, count: int) -> list[date]:
    """Test cutoffs, oldest first, each with a fully observed horizon by ``as_of``."""
    last = as_of - timedelta(days=params.label.horizon_days)
    return [last - timedelta(days=params.evaluation.step_days * k) for k in reversed(range(count))]


def backtest(ds: Dataset, params: Params, as_of: date, count: int,
             progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per (test cutoff, scorer) with churn metrics; no tuning (the params' model settings)."""
    quick = dataclasses.replace(params, tuning=dataclasses.replace(params.tuning, n_trials=0))
    rows = []
    for cutoff in backtest_cutoffs(params, as_of, count):
        if progress:
            progress(f"cutoff {cutoff}: building snapshots up to {cutoff}")
        training = build_training_set(ds, quick, cutoff)
        spec, _ = feature_spec(context_for(ds, quick, cutoff))
        if progress:
            progress(f"cutoff {cutoff}: training on {len(training):,} rows")
        result = train_models(training, spec, quick)
        test = build_features(ds, quick, cutoff, with_labels=True)
        y = test["churned"].to_numpy()
        p = result.bundle.churn_probability(result.bundle.check_features(test.drop(columns=["churned", "future_value"])))
        rows.append({"cutoff": cutoff, "scorer": "model", "customers": len(test), "churn_rate": y.mean(),
                     **churn_metrics(y, p)})
        for name, score in churn_baselines(test, params.label.horizon_days).items():
            rows.append({"cutoff": cutoff, "scorer": name, "customers": len(test), "churn_rate": y.mean(),
                         **ranking_metrics(y, score)})
    return pd.DataFrame(rows)
