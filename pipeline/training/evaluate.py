"""Backtest: at each of several cutoffs, train only on data before it and test on the cutoff after it,
the model beside its baselines (and, optionally, beside an in-period reference)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from features.registry import FeatureSpec
from models.baselines import churn_baselines
from models.metrics import auc_margin_bootstrap, churn_metrics, ranking_metrics
from pipeline.build.features import build_features, build_training_set, context_for, feature_spec
from pipeline.core.config import Params
from pipeline.core.errors import ConfigError, DataError
from pipeline.engine.duckdb import Dataset
from pipeline.training.train import churn_estimator, train_models

IN_PERIOD = "in_period_cv"


def backtest_cutoffs(params: Params, as_of: date, count: int) -> list[date]:
    """Test cutoffs, oldest first, each with a fully observed horizon by ``as_of``."""
    last = as_of - timedelta(days=params.label.horizon_days)
    return [last - timedelta(days=params.evaluation.step_days * k) for k in reversed(range(count))]


def _check_folds(folds: int) -> None:
    if folds < 3:
        raise ConfigError(f"--in-period-folds must be 0 (off) or at least 3 (fold k is scored, fold k+1 stops "
                          f"early, the rest fit); got {folds}")


def in_period_scores(test: pd.DataFrame, spec: FeatureSpec, params: Params, folds: int) -> np.ndarray:
    """Out-of-fold churn scores from models fitted on the test cutoff's own labelled rows.

    A reference, not a forecast: it learns from the test period's labels, though never from a row's own.
    Each fold is scored by a model with the params' settings, fitted on the other folds but one and
    early-stopped on that one. Where the model trained on earlier cutoffs scores as well, the change
    between cutoffs is not what holds it back; the features are. (It fits on fewer rows, (folds - 2) /
    folds of one cutoff, so it shows what the features allow, not a ceiling.)
    """
    _check_folds(folds)
    y = test["churned"].to_numpy(int)
    smallest = int(np.bincount(y, minlength=2).min())
    if smallest < folds:
        raise DataError(f"the in-period reference needs at least {folds} churned and {folds} retained customers at "
                        f"the test cutoff (one of each per fold); the smaller class has {smallest}. Use fewer "
                        f"--in-period-folds or a later cutoff with more customers.")
    X = test[spec.names]
    parts = [scored for _, scored in StratifiedKFold(folds, shuffle=True, random_state=params.seed).split(X, y)]
    out = np.empty(len(y))
    for k, scored in enumerate(parts):
        stop = parts[(k + 1) % folds]
        fit = np.setdiff1d(np.arange(len(y)), np.concatenate([scored, stop]))
        model = churn_estimator(params, spec, y[fit]).fit(X.iloc[fit], y[fit], eval_set=(X.iloc[stop], y[stop]))
        out[scored] = model.predict_proba(X.iloc[scored])[:, 1]
    return out


def backtest(ds: Dataset, params: Params, as_of: date, count: int,
             progress: Callable[[str], None] | None = None, in_period_folds: int = 0) -> pd.DataFrame:
    """One row per (test cutoff, scorer) with churn metrics; no tuning (the params' model settings). The model's
    rows also hold its mean predicted churn probability (beside ``churn_rate``: calibration in the large) and its
    ROC-AUC margin over the best baseline and the 90% paired bootstrap interval of that margin
    (``models.metrics.auc_margin_bootstrap``: customers resampled, 500 draws).

    With ``in_period_folds``, each cutoff also gets :func:`in_period_scores` as the scorer ``in_period_cv``."""
    if in_period_folds:
        _check_folds(in_period_folds)
    quick = dataclasses.replace(params, tuning=dataclasses.replace(params.tuning, n_trials=0))
    rows = []
    tests = backtest_cutoffs(params, as_of, count)
    for number, cutoff in enumerate(tests, start=1):
        if progress:
            progress(f"cutoff {cutoff}: building snapshots up to {cutoff}")
        try:
            training = build_training_set(ds, quick, cutoff)
            spec, _ = feature_spec(context_for(ds, quick, cutoff))
            if progress:
                progress(f"cutoff {cutoff}: training on {len(training):,} rows")
            result = train_models(training, spec, quick)
        except DataError as exc:
            first, _ = ds.date_range()
            raise DataError(
                f"backtest test cutoff {cutoff} ({number} of {len(tests)}, "
                f"{params.evaluation.step_days} days apart; the data starts {first}): {str(exc).rstrip('.')}. "
                f"Fix: fewer --cutoffs, a smaller evaluation.step_days or a later --as-of") from None
        test = build_features(ds, quick, cutoff, with_labels=True)
        y = test["churned"].to_numpy()
        p = result.bundle.churn_probability(result.bundle.check_features(test.drop(columns=["churned", "future_value"])))
        scores = churn_baselines(test, params.label.horizon_days)
        margin = auc_margin_bootstrap(y, p, scores, seed=params.seed)
        rows.append({"cutoff": cutoff, "scorer": "model", "customers": len(test), "churn_rate": y.mean(),
                     **churn_metrics(y, p), "mean_predicted": float(np.mean(p)), "best_baseline": margin["best_baseline"],
                     "margin_over_best_baseline": margin["margin"], "margin_low": margin["low"],
                     "margin_high": margin["high"]})
        if in_period_folds:
            if progress:
                progress(f"cutoff {cutoff}: in-period reference, {in_period_folds} folds")
            # with the model's settings as its training resolved them (monotone_baselines: auto held or not)
            held = result.bundle.metadata.get("monotone_baselines", {}).get("held", False)
            resolved = dataclasses.replace(quick, model=dataclasses.replace(quick.model, monotone_baselines=held))
            scores[IN_PERIOD] = in_period_scores(test, spec, resolved, in_period_folds)
        for name, score in scores.items():
            rows.append({"cutoff": cutoff, "scorer": name, "customers": len(test), "churn_rate": y.mean(),
                         **ranking_metrics(y, score)})
    return pd.DataFrame(rows)
