"""Training benchmark: how long `churn train`'s stages take on generated customers, and what tuning weighing model
size (``tuning.min_learning_rate``, ``tuning.size_penalty``) costs in validation ROC-AUC against the tuning before it
(learning rates from 0.01, no penalty), on the same training set in the same run.

Usage:
    python benchmarks/bench_training.py --sizes 20000 100000      # stage times, default settings
    python benchmarks/bench_training.py --compare demo subscription cdnow

Per run: snapshots (building the training set), tuning, churn fit (out-of-time fit, grouped CV and refit,
calibration), loyalty fit, evaluation; wall and CPU seconds; the churn model's explanation cost (trees, leaves, depth)
and its TreeSHAP rows/s on the validation rows (the tables of models/treeshap.py, what scoring runs) beside LightGBM's
pred_contrib called directly (the same values).
The Optuna study is kept in memory, so nothing is resumed. Data of --sizes is cached under benchmarks/.data/.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

AS_OF = date(2025, 12, 31)
BEFORE = ["tuning.min_learning_rate=0.01", "tuning.size_penalty=0"]  # the search space before size was weighed


def datasets(name: str):
    """(training frame builder inputs) for a named comparison: the data set, its params file, overrides, as-of."""
    from pipeline.core.config import load_params
    from pipeline.engine.duckdb import dataset_from_frames

    if name == "demo":
        from bench_scoring import open_ds

        params = load_params(ROOT / "params.yaml", [])
        return open_ds(ROOT / "data" / "sample", params), ROOT / "params.yaml", [], AS_OF
    if name == "subscription":
        from pipeline.data.samples.subscription import generate_subscription

        over = ["label.kind=cancellation", "label.horizon_days=60"]
        params = load_params(ROOT / "params.yaml", over)
        tables, _ = generate_subscription(10_000, seed=7)
        return dataset_from_frames(tables, params), ROOT / "params.yaml", over, AS_OF
    if name == "cdnow":
        from pipeline.data.samples.cdnow import load_cdnow

        # CDNOW's params do not tune (n_trials 0): as of 1997-09-30 one training cutoff ends its horizon before the
        # validation cutoff and tuning needs two. Before and after then differ only in code that must not change the
        # model (the estimators' input checks), which this pair shows.
        over: list[str] = []
        params = load_params(ROOT / "data" / "cdnow" / "params.yaml", over)
        return (dataset_from_frames({"transactions": load_cdnow()}, params), ROOT / "data" / "cdnow" / "params.yaml",
                over, date(1997, 9, 30))
    raise SystemExit(f"unknown data set {name!r}: demo, subscription or cdnow")


def train_once(ds, params_file: Path, overrides: list[str], as_of: date, built=None) -> dict:
    """Build the training set (unless ``built``) and train as `churn train` does; figures of each stage."""
    from pipeline.build.features import build_training_set, context_for, data_choices, feature_spec
    from pipeline.core.config import load_params
    from pipeline.training.run import explanation_rate
    from pipeline.training.train import train_models, validation_rows

    params = load_params(params_file, overrides)
    out: dict = {}
    if built is None:
        t, c = time.perf_counter(), time.process_time()
        training = build_training_set(ds, params, as_of)
        choices = data_choices(ds, params, as_of)
        spec, _ = feature_spec(context_for(ds, params, as_of, choices))
        out["snapshots"] = (time.perf_counter() - t, time.process_time() - c)
        built = (training, spec, choices)
    training, spec, choices = built
    t, c = time.perf_counter(), time.process_time()
    result = train_models(training, spec, params, data_choices=choices)
    out["train_models"] = (time.perf_counter() - t, time.process_time() - c)
    out["stages"] = {k.removesuffix("_s"): v for k, v in result.timings.items()}
    meta = result.bundle.metadata
    out["auc"] = float(meta["validation_auc"])
    out["tuned"] = result.study_summary
    out["cost"] = meta["explanation_cost"]
    valid = validation_rows(training)
    out["treeshap_rows_per_s"] = explanation_rate(result, valid, rows=20_000)
    churn = result.bundle.churn
    X = churn._prepare_predict(result.bundle.check_features(valid.head(20_000)))
    t = time.perf_counter()
    churn.booster_.predict(X, num_iteration=churn.best_iteration_, pred_contrib=True, num_threads=2)
    out["pred_contrib_rows_per_s"] = len(X) / (time.perf_counter() - t)
    return out, built


def show(label: str, r: dict) -> None:
    load = os.getloadavg()[0]
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in r["stages"].items())
    snap = f"snapshots {r['snapshots'][0]:.1f} s (cpu {r['snapshots'][1]:.1f} s), " if "snapshots" in r else ""
    cost = r["cost"]
    tuned = r["tuned"] or {}
    print(f"  {label:<8} validation AUC {r['auc']:.4f}; {snap}train {r['train_models'][0]:.1f} s "
          f"(cpu {r['train_models'][1]:.1f} s): {parts}; load {load:.1f}")
    if tuned.get("best_params"):
        print(f"           tuning: {tuned.get('complete')} complete / {tuned.get('trials')} trials, best fold AUC "
              f"{tuned.get('best_auc', tuned.get('best_value')):.4f}, learning rate "
              f"{tuned['best_params'].get('learning_rate', float('nan')):.3f}")
    print(f"           churn model: {cost['trees']} trees, {cost['leaves']:,} leaves, depth <= {cost['max_depth']}, "
          f"leaves x depth^2 {cost['leaf_depth_work']:,}; TreeSHAP {r['treeshap_rows_per_s']:,.0f} rows/s, "
          f"pred_contrib called directly {r['pred_contrib_rows_per_s']:,.0f} rows/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[])
    ap.add_argument("--compare", nargs="*", default=[])
    args = ap.parse_args()
    if not args.sizes and not args.compare:
        args.sizes, args.compare = [20_000, 100_000], ["demo", "subscription", "cdnow"]
    for n in args.sizes:
        from bench_scoring import ensure_customers, open_ds

        from pipeline.core.config import load_params

        ds = open_ds(ensure_customers(n), load_params(ROOT / "params.yaml", []))
        r, _ = train_once(ds, ROOT / "params.yaml", [], AS_OF)
        print(f"\n`churn train` stages on {n:,} generated customers, default settings, 2 threads:")
        show("default", r)
    for name in args.compare:
        ds, params_file, over, as_of = datasets(name)
        print(f"\n{name}: tuning before (learning rate from 0.01, no size penalty) and after, same training set")
        before, built = train_once(ds, params_file, over + BEFORE, as_of)
        show("before", before)
        after, _ = train_once(ds, params_file, over, as_of, built)
        show("after", after)
        print(f"           AUC after - before {after['auc'] - before['auc']:+.4f}")


if __name__ == "__main__":
    main()
