"""Feature-engineering benchmark: DuckDB stages vs plain pandas, rows/s and peak memory.

Generates transactions-only data (cached under benchmarks/.data/), then times, each in its own
process so peak memory is its own:
- ``duckdb-full``: validation + every transactions family (recency ... btyd) on 10M and 100M rows;
- ``duckdb-core`` and ``pandas-core``: the same core features (recency, frequency, monetary, tenure)
  on the 10M set, pandas being the reference (it cannot hold 100M rows on a 24 GB machine);
  ``duckdb-core`` validates its input first, ``pandas-core`` does not, so the comparison of like with
  like is DuckDB's feature time against ``pandas-core``, and ``duckdb-core`` as a whole against
  ``pandas-core-validated``: the same checks in plain pandas first (missing ids, timestamps and
  amounts, timestamps in the future, exact duplicate rows; a typed Parquet source cannot hold
  unparseable values), bad rows and repeated copies set aside, then the same features;
- ``duckdb-full-by-time``: ``duckdb-full`` on the largest set rewritten in time order, the layout of an
  export written day by day. The generator writes customers in blocks (files clustered by customer),
  which lets each customer shard skip the files outside its range of ids; in time order every shard
  reads every file.

On a shared machine single timings wander by 10-20%, so the runs on the smallest size (the DuckDB vs
pandas comparison) are repeated, alternating the modes, and each mode's fastest run is reported.

Usage: python benchmarks/bench_features.py [--sizes 10000000,100000000] [--threads 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common import DATA, cached_or_cleared, mark_current, peak_memory_gb  # noqa: E402

AS_OF = date(2025, 12, 31)
NOW = datetime(2030, 1, 1)  # the moment of validation: no generated timestamp is in the future
SPILL = DATA / "spill"
CORE = ("recency", "frequency", "monetary", "tenure")
ROWS_PER_CUSTOMER = 14.36  # measured on the generator's defaults (version 2)
PANDAS_COLUMNS = ["customer_id", "timestamp", "amount", "order_id", "is_return"]
CORE_MODES = ("duckdb-core", "pandas-core", "pandas-core-validated")


def ensure_data(rows: int) -> Path:
    from pipeline.data.samples.retail import iter_chunks

    folder = DATA / f"tx_{rows}" / "transactions"
    if cached_or_cleared(folder.parent):
        return folder.parent
    folder.mkdir(parents=True, exist_ok=True)
    customers = int(rows / ROWS_PER_CUSTOMER)
    written = 0
    for k, tables in enumerate(iter_chunks(customers, seed=1, chunk_size=250_000, transactions_only=True)):
        tables["transactions"].to_parquet(folder / f"part-{k:05d}.parquet", index=False)
        written += len(tables["transactions"])
        print(f"  generated {written:,} rows", file=sys.stderr, end="\r")
    mark_current(folder.parent, f"{written} rows")
    print(file=sys.stderr)
    return folder.parent


def ensure_time_ordered(rows: int) -> Path:
    """The ``rows`` set rewritten in timestamp order (cached)."""
    import duckdb

    from pipeline.core.sql import sql_string

    source = ensure_data(rows) / "transactions"
    folder = DATA / f"tx_bytime_{rows}" / "transactions"
    if cached_or_cleared(folder.parent):
        return folder.parent
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET memory_limit = '6GB'")
    con.execute(f"SET temp_directory = {sql_string(str(SPILL))}")
    con.execute(f"COPY (SELECT * FROM read_parquet({sql_string(f'{source}/*.parquet')}) ORDER BY timestamp) "
                f"TO {sql_string(str(folder))} "
                "(FORMAT parquet, FILE_SIZE_BYTES '70MB', OVERWRITE_OR_IGNORE)")
    mark_current(folder.parent, "sorted by timestamp")
    return folder.parent


def run_duckdb(folder: Path, families: tuple[str, ...] | None, threads: int) -> dict:
    from pipeline.build.features import build_features
    from pipeline.core.config import load_params
    from pipeline.data.sources import discover_tables
    from pipeline.engine.duckdb import open_dataset

    params = load_params(None, [f"engine.threads={threads}", "engine.memory_limit=5GB"])
    sources, unknown = discover_tables(folder)
    t0 = time.perf_counter()
    ds = open_dataset(sources, params, NOW, unknown, temp_dir=str(SPILL))
    t1 = time.perf_counter()
    frame = build_features(ds, params, AS_OF, families=families)
    t2 = time.perf_counter()
    rows = ds.report.accounts[0].rows_read
    return {"rows": rows, "validate_s": t1 - t0, "features_s": t2 - t1, "total_s": t2 - t0,
            "customers": len(frame), "features": frame.shape[1] - 1}


def run_pandas(folder: Path, validate: bool = False) -> dict:
    import pandas as pd

    t0 = time.perf_counter()
    if not validate:
        tx = pd.read_parquet(folder / "transactions", columns=PANDAS_COLUMNS)
        out = pandas_core(tx)
        return {"rows": int(len(tx)), "total_s": time.perf_counter() - t0, "customers": len(out), "features": out.shape[1]}
    tx = pd.read_parquet(folder / "transactions")  # every column: a duplicate row is one equal in all of them
    ids = tx["customer_id"]
    bad = (ids.isna() | (ids.str.strip() == "") | tx["timestamp"].isna() | tx["amount"].isna()
           | (tx["timestamp"] > pd.Timestamp(NOW)))
    bad |= tx.duplicated() & ~bad  # the repeated copies of a usable row
    used = tx[~bad]
    t1 = time.perf_counter()
    out = pandas_core(used)
    t2 = time.perf_counter()
    return {"rows": int(len(tx)), "validate_s": t1 - t0, "features_s": t2 - t1, "total_s": t2 - t0,
            "customers": len(out), "features": out.shape[1], "set_aside": int(bad.sum())}


def pandas_core(tx):
    """The core features of ``tx`` (``PANDAS_COLUMNS`` read, any others ignored) in plain pandas."""
    import numpy as np
    import pandas as pd

    end = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
    tx = tx.loc[tx["timestamp"] < end, PANDAS_COLUMNS]
    tx["day"] = tx["timestamp"].dt.normalize()
    tx["age"] = (pd.Timestamp(AS_OF) - tx["day"]).dt.days
    tx["purchase"] = ~(tx["is_return"] | (tx["amount"] < 0))
    buys = tx[tx["purchase"]]
    pop = buys.loc[buys["age"] < 365, "customer_id"].unique()
    g = buys.groupby("customer_id")
    out = pd.DataFrame({"days_since_last_purchase": g["age"].min(), "days_since_first_purchase": g["age"].max(),
                        "orders_lifetime": g["order_id"].nunique()})
    for w in (7, 30, 90, 180, 365):
        win = buys[buys["age"] < w]
        out[f"orders_last_{w}d"] = win.groupby("customer_id")["order_id"].nunique()
        out[f"spend_last_{w}d"] = tx[tx["age"] < w].groupby("customer_id")["amount"].sum()
    out["spend_lifetime"] = tx.groupby("customer_id")["amount"].sum()
    out["average_order_value_lifetime"] = g["amount"].sum() / out["orders_lifetime"]
    out["active_months_last_365d"] = buys[buys["age"] < 360].assign(m=lambda d: d["age"] // 30).groupby(
        "customer_id")["m"].nunique()
    return out.loc[np.sort(pop)].fillna(0)


def child(mode: str, folder: str, threads: int) -> None:
    path = Path(folder)
    if mode.startswith("pandas-core"):
        result = run_pandas(path, validate=mode == "pandas-core-validated")
    else:
        result = run_duckdb(path, CORE if mode == "duckdb-core" else None, threads)
    result["peak_rss_gb"] = peak_memory_gb()
    print(json.dumps(result))


def measure(mode: str, folder: Path, threads: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(folder), "--threads", str(threads)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000000,100000000")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each mode on the smallest size (fastest kept)")
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.threads)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    jobs = [(n, ensure_data(n), "duckdb-full") for n in sizes]
    if len(sizes) > 1:
        jobs.append((max(sizes), ensure_time_ordered(max(sizes)), "duckdb-full-by-time"))
    for n, folder, full in jobs:
        smallest = n == min(sizes)
        modes = [full] + (["duckdb-core", "pandas-core", "pandas-core-validated"] if smallest else [])
        runs: dict[str, list[dict]] = {mode: [] for mode in modes}
        for _ in range(max(1, args.repeat) if smallest else 1):
            for mode in modes:
                r = measure(mode, folder, args.threads)
                r.update(mode=mode, size=n)
                runs[mode].append(r)
                print(json.dumps(r), file=sys.stderr)
        for tries in runs.values():
            ok = [r for r in tries if "error" not in r]
            best = min(ok, key=lambda r: r["total_s"]) if ok else tries[0]
            best["runs"] = len(tries)
            results.append(best)
    print(f"\n{'mode':<21} {'rows':>12} {'seconds':>9} {'rows/s':>12} {'peak GB':>8}  notes")
    for r in results:
        if "error" in r:
            print(f"{r['mode']:<21} {r['size']:>12,} failed: {r['error']}")
            continue
        note = f"validate {r['validate_s']:.1f}s + features {r['features_s']:.1f}s" if "validate_s" in r else ""
        note = " ".join(filter(None, [note, f"(fastest of {r['runs']})" if r["runs"] > 1 else ""]))
        print(f"{r['mode']:<21} {r['rows']:>12,} {r['total_s']:>9.1f} {r['rows'] / r['total_s']:>12,.0f} "
              f"{r['peak_rss_gb']:>8.2f}  {note}")
    core = {r["mode"]: r for r in results if r["mode"] in CORE_MODES and "error" not in r}
    if len(core) == len(CORE_MODES):
        duck, plain, checked = core["duckdb-core"], core["pandas-core"], core["pandas-core-validated"]
        print(f"\ncore features on {plain['rows']:,} rows, against pandas in this run:")
        print(f"  features only (neither validates):        DuckDB {plain['total_s'] / duck['features_s']:.1f}x faster")
        print(f"  validation + features (the same checks):  DuckDB {checked['total_s'] / duck['total_s']:.1f}x faster")
        print(f"  DuckDB validating, pandas not:            DuckDB {plain['total_s'] / duck['total_s']:.1f}x faster")


if __name__ == "__main__":
    main()
