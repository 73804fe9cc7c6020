"""How well drivers recover the churn cause the generator planted, and whether their reasons are sayable.

Trains on generated customers (the test fixture's settings, a larger base), scores them at four as-of
dates and, for each planted cause, counts the customers in their warning period (warning_start <= as_of
< churn_at) whose cause's family is among their top three drivers. Also counts reasons that break the
rules of README "Drivers and reasons" on the whole risk list of the last date.

    .venv/bin/python benchmarks/bench_drivers.py [--customers 3000] [--seed 21]
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import pipeline  # noqa: F401  (first: it turns numpy's huge-page advice off before numpy is imported)

# isort: split
import numpy as np
import pandas as pd

from pipeline.build.features import build_features, build_training_set, context_for, feature_spec
from pipeline.core.config import load_params
from pipeline.data.samples.retail import generate
from pipeline.engine.duckdb import dataset_from_frames
from pipeline.scoring.score import score
from pipeline.training.train import train_models

# planted cause -> the families that say it: fading visits show in visits (engagement) and in days active
# (activity, which counts visits among other events); declining spend in the purchase families that say
# fewer and smaller purchases (spend, its trend, orders, time since the last purchase against the usual gap)
CAUSE_FAMILIES = {"complaints": {"service"}, "late_payments": {"payments"}, "fading_visits": {"engagement", "activity"},
                  "detractor": {"satisfaction"}, "loyalty_lapse": {"loyalty_program"},
                  "declining_spend": {"trend", "monetary", "frequency", "recency", "regularity"}}
AS_OFS = ("2025-06-30", "2025-08-31", "2025-10-31", "2025-12-31")


def recovery(risk: pd.DataFrame, truth: pd.DataFrame, as_of: pd.Timestamp, min_days: int = 0) -> dict[str, list[bool]]:
    """Per cause: for each customer in their warning period (at least ``min_days`` into it), whether the
    cause's family is among the top three drivers."""
    risk = risk.merge(truth, on="customer_id")
    families = risk[[f"driver_{k}_family" for k in (1, 2, 3)]].astype(str)
    warning = (risk["warning_start"] + pd.Timedelta(days=min_days) <= as_of) & (risk["churn_at"] > as_of)
    out = {}
    for cause, wanted in CAUSE_FAMILIES.items():
        rows = warning & (risk["cause"] == cause)
        out[cause] = families[rows].isin(wanted).any(axis=1).tolist()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    params = load_params(None, ["tuning.n_trials=0", "model.max_rounds=300", "loyalty.max_rounds=200"])
    tables, truth = generate(args.customers, seed=args.seed)
    ds = dataset_from_frames(tables, params)
    as_of = date(2025, 12, 31)
    start = time.perf_counter()
    training = build_training_set(ds, params, as_of)
    spec, _ = feature_spec(context_for(ds, params, as_of))
    bundle = train_models(training, spec, params).bundle
    print(f"trained in {time.perf_counter() - start:.0f} s")
    hits = {0: {c: [] for c in CAUSE_FAMILIES}, 30: {c: [] for c in CAUSE_FAMILIES}}
    risk = None
    for day in pd.to_datetime(AS_OFS):
        feats = build_features(ds, params, day.date())
        risk = score(feats, bundle, day.date(), params.scoring, "bench").risk_list
        for min_days, table in hits.items():
            for cause, h in recovery(risk, truth.customers, day, min_days).items():
                table[cause].extend(h)
    for min_days, table in hits.items():
        print(f"top-3 recovery, customers at least {min_days} days into their warning period:")
        for cause, h in table.items():
            print(f"  {cause:16s} {np.mean(h):6.1%}  (n={len(h)})")
        print(f"  {'all':16s} {np.mean(sum(table.values(), [])):6.1%}")
    reasons = pd.concat([risk[f"driver_{k}_reason"] for k in (1, 2, 3)]).dropna()
    feature_counts = pd.concat([risk[f"driver_{k}_feature"] for k in (1, 2, 3)]).dropna().value_counts()
    print(f"last date: {len(risk)} customers, {len(reasons)} reasons")
    print("  customers with a 'No record yet' reason:",
          int(risk[[f"driver_{k}_reason" for k in (1, 2, 3)]].astype(str).apply(
              lambda s: s.str.startswith("No record yet")).any(axis=1).sum()))
    for family in ("btyd", "profile"):
        print(f"  reasons from {family}:", int(pd.concat([risk[f"driver_{k}_family"] for k in (1, 2, 3)]).eq(family).sum()))
    print("  most common driver features:", feature_counts.head(8).to_dict())


if __name__ == "__main__":
    main()
