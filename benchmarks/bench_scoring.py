"""Scoring benchmark: score and explain N generated customers end to end, and, in the same run, time the
pipeline's TreeSHAP by tables (models/treeshap.py) against LightGBM's own (pred_contrib) and shap.TreeExplainer on
the same model and rows.

Usage: python benchmarks/bench_scoring.py [--customers 1000000] [--shap-rows 100000] [--memory-limit 2GB]
Data is cached under benchmarks/.data/; the model is trained on a separate 20,000-customer sample, in a child
process, and loaded here: the scoring runs in a process that has not trained, as `churn score` does (training first
leaves the memory allocator's thresholds raised, which hid what a fresh process pays: docs/benchmarks.md, "Freed
memory kept").
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common import DATA, cached_or_cleared, mark_current, peak_memory_gb, reset_peak_memory  # noqa: E402

AS_OF = date(2025, 12, 31)


def ensure_customers(n: int) -> Path:
    from pipeline.data.samples.retail import iter_chunks

    folder = DATA / f"customers_{n}"
    if cached_or_cleared(folder):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for k, tables in enumerate(iter_chunks(n, seed=5, chunk_size=100_000)):
        for name, frame in tables.items():
            (folder / name).mkdir(exist_ok=True)
            frame.to_parquet(folder / name / f"part-{k:05d}.parquet", index=False)
        print(f"  generated {min((k + 1) * 100_000, n):,} customers", file=sys.stderr, end="\r")
    mark_current(folder, f"{n} customers")
    print(file=sys.stderr)
    return folder


def open_ds(folder: Path, params):
    from pipeline.data.sources import discover_tables
    from pipeline.engine.duckdb import open_dataset

    sources, unknown = discover_tables(folder)
    return open_dataset(sources, params, datetime(2030, 1, 1), unknown, temp_dir=str(DATA / "spill"))


def train_to(folder: Path) -> None:
    """Train the benchmark's model on the 20,000-customer sample (no tuning) and save it in ``folder``."""
    from pipeline.build.features import build_training_set, context_for, feature_spec
    from pipeline.core.config import load_params
    from pipeline.training.train import train_models

    params = load_params(ROOT / "params.yaml", ["tuning.n_trials=0"])
    ds = open_ds(ensure_customers(20_000), params)
    training = build_training_set(ds, params, AS_OF)
    spec, _ = feature_spec(context_for(ds, params, AS_OF))
    train_models(training, spec, params).bundle.save(folder)


def main() -> None:

    from models.bundle import ModelBundle
    from pipeline.build.features import build_features, build_plan
    from pipeline.core.config import load_params
    from pipeline.core.files import ParquetChunks, write_table
    from pipeline.scoring.score import Scorer, score

    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--shap-rows", type=int, default=50_000)
    ap.add_argument("--shap-only", action="store_true", help="Only the explainers' comparison.")
    ap.add_argument("--whole", action="store_true", help="Build the feature table whole, then score it (each step "
                    "timed on its own), instead of streaming it to scoring as churn score does.")
    ap.add_argument("--memory-limit", default="10GB", help="engine.memory_limit (DuckDB spills beyond it)")
    ap.add_argument("--train-to", type=Path, help=argparse.SUPPRESS)  # the child process that trains the model
    args = ap.parse_args()
    if args.train_to is not None:
        train_to(args.train_to)
        return
    params = load_params(ROOT / "params.yaml", ["tuning.n_trials=0", f"engine.memory_limit={args.memory_limit}"])

    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, __file__, "--train-to", folder], check=True)
        bundle = ModelBundle.load(folder)
    data = ensure_customers(args.customers)
    if args.shap_only:
        big = open_ds(data, params)
        compare_explainers(bundle, build_features(big, params, AS_OF), args.shap_rows)
        return

    # each step's own peak: the memory held when it starts (the frames before it) plus what it takes
    steps: list[tuple[str, float, float]] = []

    def step(name: str, run):
        reset_peak_memory()
        t = time.perf_counter()
        value = run()
        steps.append((name, time.perf_counter() - t, peak_memory_gb()))
        return value

    big = step("validate", lambda: open_ds(data, params))
    if args.whole:  # the feature table built whole, then scored: each step's time and peak on its own
        features = step("features", lambda: build_features(big, params, AS_OF))

        def scored():  # each batch's SHAP values written to the SHAP file as it is scored
            with ParquetChunks(DATA / "risk_bench_shap.parquet") as shap:
                return score(features, bundle, AS_OF, params.scoring, "bench", contributions_to=shap.write)

        result = step("score + SHAP (churn model) + drivers + drift", scored)
        n = len(features)
    else:  # as `churn score` does: the feature table streamed from the engine to scoring a batch at a time
        def streamed():
            with ParquetChunks(DATA / "risk_bench_shap.parquet") as shap:
                return big.score(build_plan(big, params, AS_OF), Scorer(bundle, AS_OF, params.scoring, "bench"),
                                 lambda f: f, contributions_to=shap.write)

        features, result = step("features + score + SHAP (churn model) + drivers + drift, streamed", streamed)
        n = len(features)
        features = features.sample(args.shap_rows, 0)  # the explainers' comparison below, on rows read back
    step("write risk list (SHAP file written while scoring)",
         lambda: write_table(result.risk_list, DATA / "risk_bench.parquet"))
    total = sum(seconds for _, seconds, _ in steps)
    rows = {a.table: a.rows_read for a in big.report.accounts}
    print(f"\nscoring {n:,} customers of {args.customers:,} ({rows['transactions']:,} transactions, {rows['events']:,} events, "
          f"all five tables), 2 threads, engine.memory_limit={args.memory_limit}")
    for name, seconds, peak in steps:
        print(f"  {name:<52} {seconds:7.1f} s   peak {peak:4.1f} GB")
    print(f"  total {total:7.1f} s  ({n / total:,.0f} customers/s, goal <= 150 s and 4 GB), "
          f"peak memory {max(p for _, _, p in steps):.1f} GB")
    compare_explainers(bundle, features, args.shap_rows)


def compare_explainers(bundle, features, n_rows: int, rounds: int = 3) -> None:
    """Same model, same rows, 2 threads each: the tables' TreeSHAP (what scoring runs), LightGBM's pred_contrib (the
    reference it is held to) and shap.TreeExplainer, alternating, best of ``rounds``."""
    import numpy as np
    import shap

    from models.lgbm import prediction_thread_cap

    X = bundle.check_features(features.head(n_rows))
    churn = bundle.churn
    encoded = churn._prepare_predict(X)
    booster, it = churn.booster_, churn.best_iteration_
    explainer = shap.TreeExplainer(booster)
    churn._tree_tables = None  # worked out again: scoring has built them already
    t = time.perf_counter()
    churn.tree_tables()
    build = time.perf_counter() - t
    times: dict[str, list[float]] = {"tables": [], "pred_contrib": [], "TreeExplainer": []}
    with prediction_thread_cap(2):
        for _ in range(rounds):
            s0 = time.perf_counter()
            tables = churn.tree_tables().contributions(encoded, threads=2)
            s1 = time.perf_counter()
            lgb_contrib = booster.predict(encoded, num_iteration=it, pred_contrib=True, num_threads=2)
            s2 = time.perf_counter()
            shap_values = explainer.shap_values(encoded, tree_limit=it)
            s3 = time.perf_counter()
            for name, seconds in zip(times, (s1 - s0, s2 - s1, s3 - s2), strict=True):
                times[name].append(seconds)
    sv = shap_values[1] if isinstance(shap_values, list) else shap_values
    rate = {name: len(X) / min(seconds) for name, seconds in times.items()}
    cost = churn.explanation_cost()
    print(f"\nexplanation throughput on {len(X):,} rows, same model ({cost['trees']} trees, {cost['leaves']:,} leaves; "
          f"best of {rounds}, alternating, 2 threads):")
    for name, r in rate.items():
        print(f"  {name:<14} {r:12,.0f} rows/s  ({r / rate['pred_contrib']:.2f}x pred_contrib)")
    print(f"  tables built once per model in {build:.2f} s; max |tables - pred_contrib| "
          f"{float(np.max(np.abs(tables - lgb_contrib))):.2e}, max |TreeExplainer - pred_contrib| "
          f"{float(np.max(np.abs(np.asarray(sv) - lgb_contrib[:, :-1]))):.2e}")


if __name__ == "__main__":
    main()
