"""Feature build over all five tables at several sizes: time and peak memory of validation and of the build.

Generated customers with every table (transactions, events, customers, invoices, subscriptions; cached under
benchmarks/.data/ as ``bench_scoring.py`` caches them), each size measured in its own process so the peak is its
own (``VmHWM``, reset between the two steps). The event families (activity per event type, engagement, service,
satisfaction, loyalty programme) are most of the build: the events table is several times the transactions.

With ``--memory-limit`` (the engine's ``engine.memory_limit``, default 2GB here) the DuckDB side is bounded and
spills beyond it; what grows with the data is the feature table held in Python (one row per customer), which the
output prints beside the peak so the two can be told apart.

Usage: python benchmarks/bench_events.py [--sizes 100000,300000] [--memory-limit 2GB] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common import DATA, peak_memory_gb, reset_peak_memory  # noqa: E402

AS_OF = date(2025, 12, 31)
NOW = datetime(2030, 1, 1)  # the moment of validation: no generated timestamp is in the future


def _cpu() -> float:
    """CPU seconds of this process, every thread (DuckDB's included): on a shared machine, where wall time depends
    on the load, the better comparison."""
    t = os.times()
    return t.user + t.system


def child(folder: str, memory_limit: str, threads: int) -> None:
    from pipeline.build.features import build_features
    from pipeline.core.config import load_params
    from pipeline.data.sources import discover_tables
    from pipeline.engine.duckdb import open_dataset

    params = load_params(ROOT / "params.yaml", [f"engine.memory_limit={memory_limit}", f"engine.threads={threads}"])
    sources, unknown = discover_tables(Path(folder))
    reset_peak_memory()
    t0, c0 = time.perf_counter(), _cpu()
    ds = open_dataset(sources, params, NOW, unknown, temp_dir=str(DATA / "spill"))
    t1, c1 = time.perf_counter(), _cpu()
    validate_peak = peak_memory_gb()
    reset_peak_memory()
    frame = build_features(ds, params, AS_OF)
    t2, c2 = time.perf_counter(), _cpu()
    rows = {a.table: a.rows_read for a in ds.report.accounts}
    print(json.dumps({"customers": len(frame), "features": frame.shape[1] - 1, "rows": rows,
                      "validate_s": t1 - t0, "features_s": t2 - t1, "validate_cpu_s": c1 - c0,
                      "features_cpu_s": c2 - c1, "validate_peak_gb": validate_peak,
                      "features_peak_gb": peak_memory_gb(),
                      "feature_table_gb": frame.memory_usage(deep=True).sum() / 1024**3}))


def measure(folder: Path, memory_limit: str, threads: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", str(folder), "--memory-limit", memory_limit,
                           "--threads", str(threads)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.strip() or f"exit {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,300000", help="generated customers, comma-separated")
    ap.add_argument("--memory-limit", default="2GB", help="engine.memory_limit of the measured runs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.memory_limit, args.threads)
        return
    from bench_scoring import ensure_customers

    print(f"feature build, all five tables, engine.memory_limit={args.memory_limit}, {args.threads} threads")
    print(f"{'customers':>10} {'events':>12} {'validate s (CPU)':>18} {'peak GB':>8} {'features s (CPU)':>18} "
          f"{'peak GB':>8} {'table GB':>8}")
    for n in (int(s) for s in args.sizes.split(",")):
        r = measure(ensure_customers(n), args.memory_limit, args.threads)
        validate = f"{r['validate_s']:.1f} ({r['validate_cpu_s']:.1f})"
        build = f"{r['features_s']:.1f} ({r['features_cpu_s']:.1f})"
        print(f"{n:>10,} {r['rows'].get('events', 0):>12,} {validate:>18} {r['validate_peak_gb']:>8.2f} {build:>18} "
              f"{r['features_peak_gb']:>8.2f} {r['feature_table_gb']:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
