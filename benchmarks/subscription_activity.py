"""Subscription product figures (README "Subscription products"): on the generated social-network
subscription (``churn sample-data --kind subscription``), the churn model against tenure alone and recency.

    .venv/bin/python benchmarks/subscription_activity.py [--customers 10000] [--seed 7]

``label.kind: cancellation``, ``label.horizon_days: 60``, no tuning. Two models are trained as ``churn train``
does, as of 2025-12-31, and judged on the validation cutoff (as of minus the horizon):

- ``as purchases``: transactions (the monthly renewal charges) read as purchases by the purchase families and
  no per-type activity features (``features.transactions: purchases``, ``features.max_event_types: 0``), as
  the pipeline did before the activity family;
- ``subscription``: the defaults: renewal charges recognised as billing (purchase families left out), the
  activity family with every event type, and two declared ratios (dislikes per like, unfriends per new friend).

Baselines on the same rows: tenure alone (the newer the subscription, the riskier) and recency (days since
the last transaction, i.e. the last renewal payment).
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import pandas as pd

from models.metrics import churn_metrics, ranking_metrics
from pipeline.build.features import build_training_set, context_for, feature_spec
from pipeline.core.config import load_params
from pipeline.data.samples.subscription import generate_subscription
from pipeline.engine.duckdb import dataset_from_frames
from pipeline.training.train import train_models, validation_rows

AS_OF = date(2025, 12, 31)
COMMON = ["label.kind=cancellation", "label.horizon_days=60", "tuning.n_trials=0"]
RUNS = {
    "as purchases": ["features.transactions=purchases", "features.max_event_types=0"],
    "subscription": ["features.event_ratios=[{numerator: dislike, denominator: like},"
                     " {numerator: unfriend, denominator: newfriend}]",
                     "features.risky_event_types=[dislike, unfriend]",
                     "features.event_labels={newfriend: new friend|new friends, adview: ad view|ad views}"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    tables, _ = generate_subscription(args.customers, seed=args.seed)
    print(f"generated {args.customers:,} subscribers in {time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{k} {len(v):,}" for k, v in tables.items()))
    rows, recency = [], None
    for name, overrides in RUNS.items():
        started = time.perf_counter()
        params = load_params(None, COMMON + overrides)
        ds = dataset_from_frames(tables, params)
        spec, notices = feature_spec(context_for(ds, params, AS_OF))
        training = build_training_set(ds, params, AS_OF)
        result = train_models(training, spec, params)
        valid = validation_rows(training)
        y = valid["churned"].to_numpy()
        p = result.bundle.churn_probability(result.bundle.check_features(valid[spec.names]))
        rows.append({"scorer": f"model ({name})", "features": len(spec.names), **churn_metrics(y, p)})
        if "days_since_last_purchase" in valid:
            recency = valid.set_index("customer_id")["days_since_last_purchase"]
        print(f"{name}: {len(spec.names)} features, {len(training):,} training rows, "
              f"{time.perf_counter() - started:.1f} s; {len(notices)} notice(s)")
    valid = valid.set_index("customer_id")
    y = valid["churned"].to_numpy()
    tenure = valid["subscription_age_days"]
    rows.append({"scorer": "tenure alone", **ranking_metrics(y, -tenure.fillna(tenure.max()).to_numpy(float))})
    if recency is not None:  # never paid: the longest gap
        recency = recency.reindex(valid.index)
        rows.append({"scorer": "recency", **ranking_metrics(y, recency.fillna(recency.max()).to_numpy(float))})
    table = pd.DataFrame(rows).set_index("scorer")
    print(f"validation cutoff {valid['cutoff'].iloc[0].date()}: {len(valid):,} subscribers, "
          f"{int(y.sum())} cancelled in 60 days ({y.mean():.1%})")
    print(table[["features", "roc_auc", "pr_auc", "lift_at_10"]].to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
