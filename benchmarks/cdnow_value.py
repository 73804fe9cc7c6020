"""CDNOW value figures (README "Value columns"): the loyalty score and lifetime value against BTYD and RFM
on the real purchase history, in one run.

    .venv/bin/python benchmarks/cdnow_value.py [--params data/cdnow/params.yaml]

For each task (as of 1997-09-30 with a 90-day horizon, as of 1997-12-31 with 180 days) it trains on data up
to the as-of date as `churn train` does, scores the customers of that date as `churn score` does, and
judges every ranking on the spend each customer actually made in the horizon after it: Spearman and the
share of that revenue held by the top 20%; beside it, the churn model's ROC-AUC on the same customers (at 90
days the README's CDNOW churn figure, the model `churn evaluate` trains for that cutoff). Then lifetime value
as of 1997-09-30 over the next 39 weeks (9 months, undiscounted so that it compares with actual spend),
learned against BTYD x Gamma-Gamma.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

import pipeline  # noqa: F401  (first: it turns numpy's huge-page advice off before numpy is imported)

# isort: split
import numpy as np
import pandas as pd

from models.baselines import value_baselines
from models.metrics import ranking_metrics, value_metrics
from models.value import btyd_baseline
from pipeline.build.features import build_features, build_training_set, context_for, feature_spec
from pipeline.core.config import load_params
from pipeline.data.samples.cdnow import load_cdnow
from pipeline.engine.duckdb import dataset_from_frames
from pipeline.scoring.score import score
from pipeline.training.train import train_models

TASKS = ((date(1997, 9, 30), 90), (date(1997, 12, 31), 180))
LIFETIME_WEEKS = 39


def actual_spend(tx: pd.DataFrame, as_of: date, days: int) -> pd.Series:
    """Net spend per customer in (as_of, as_of + days], floored at 0."""
    start = pd.Timestamp(as_of) + timedelta(days=1)
    window = tx[(tx["timestamp"] >= start) & (tx["timestamp"] < start + timedelta(days=days))]
    return window.groupby("customer_id")["amount"].sum().clip(lower=0)


def judge(actual: pd.Series, rankings: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = [{"scorer": name, **value_metrics(actual.to_numpy(float), np.asarray(r, float))} for name, r in rankings.items()]
    return pd.DataFrame(rows).set_index("scorer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="data/cdnow/params.yaml")
    args = parser.parse_args()
    tx = load_cdnow()
    for as_of, horizon in TASKS:
        started = time.perf_counter()
        params = load_params(args.params, [f"label.horizon_days={horizon}", "value.annual_discount_rate=0",
                                           f"value.lifetime_months={round(LIFETIME_WEEKS * 7 / (365.25 / 12))}"])
        ds = dataset_from_frames({"transactions": tx}, params)
        spec, _ = feature_spec(context_for(ds, params, as_of))
        result = train_models(build_training_set(ds, params, as_of), spec, params)
        labelled = build_features(ds, params, as_of, with_labels=True)
        churned = labelled["churned"].to_numpy(int)
        features = labelled.drop(columns=["churned", "future_value"])
        risk = score(features, result.bundle, as_of, params.scoring, "cdnow", params.targeting, params.value,
                     params.seed).risk_list.set_index("customer_id").loc[features["customer_id"]]
        actual = features["customer_id"].map(actual_spend(tx, as_of, horizon)).fillna(0.0)
        table = judge(actual, {"loyalty score (expected value)": risk["loyalty_score"].to_numpy(),
                               **{f"baseline {k}": v for k, v in value_baselines(features, horizon).items()}})
        btyd = btyd_baseline(features, horizon, params.value.lifetime_months, 0.0, params.features.btyd_model)
        table = pd.concat([table, judge(actual, {"baseline btyd x gamma-gamma": btyd["btyd_expected_value"]})])
        print(f"\nas of {as_of}, next {horizon} days: {len(features):,} customers, "
              f"{time.perf_counter() - started:.0f} s (params {args.params})")
        print(table.round(4).to_string())
        print(f"churn model ROC-AUC on the same customers' churn labels: "
              f"{ranking_metrics(churned, risk['churn_probability'].to_numpy())['roc_auc']:.4f}")
        if horizon == 90:
            later = features["customer_id"].map(actual_spend(tx, as_of, LIFETIME_WEEKS * 7)).fillna(0.0)
            lifetime = judge(later, {"learned lifetime_value": risk["lifetime_value"].to_numpy(),
                                     "btyd x gamma-gamma": btyd["btyd_lifetime_value"].to_numpy()})
            lifetime["predicted_total"] = [risk["lifetime_value"].sum(), btyd["btyd_lifetime_value"].sum()]
            lifetime["actual_total"] = later.sum()
            lifetime["total_error"] = lifetime["predicted_total"] / lifetime["actual_total"] - 1
            print(f"\nlifetime value as of {as_of} over the next {LIFETIME_WEEKS} weeks "
                  f"({params.value.lifetime_months} months, undiscounted) against actual spend:")
            print(lifetime.round(4).to_string())


if __name__ == "__main__":
    main()
