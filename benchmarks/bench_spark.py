"""Spark engine benchmark: the project's features on Spark against DuckDB alone and a hand-written Spark SQL query.

On generated transactions (Parquet parts, cached under benchmarks/.data/), each mode in its own process, times:
- ``duckdb``: ``churn features`` on one machine (``engine.threads`` = the cores): validation, the as-of checks and
  every transactions family, the table written;
- ``spark``: the same command on Spark in ``local[N]`` (validation on Spark, the DuckDB shard build in each task,
  the BTYD fit on the driver), the feature table collected on the driver and checked equal to ``duckdb``'s;
- ``spark-sql-core``: a hand-written Spark SQL query of only the core transaction features (recency, order counts
  and spend in 30/90/365-day windows, tenure, mean gap between purchase days), no validation, written to
  Spark's ``noop`` sink: the least a Spark job computing features costs on this data.

The goal: ``spark`` within 1.5x of ``spark-sql-core`` while computing every family. By default each side runs as
its user would: the ``spark`` mode with the project's params.yaml as it is (only the master set to ``local[N]``),
the reference query with Spark's own defaults except 4 shuffle partitions per core (a hand-tuned query). Both are
timed from the moment their session is up, and from outside (the whole process: JVM start, session, work).
``--spark-memory`` gives both the same driver memory (their JVM heap; ``engine.spark.task_memory_limit`` bounds
DuckDB in each task), to show a run on data ten times larger than that memory stays correct and within it; a Spark
mode that runs out of it is said so and run again with twice the memory (up to 8x), so the table shows what each
mode needed. ``--shuffle-partitions`` sets ``spark.sql.shuffle.partitions`` for both Spark modes (for 100M rows:
with 8 partitions of 12.5M rows each the hand-written query runs out of heap even with 1 GB).

Usage: python benchmarks/bench_spark.py [--sizes 5000000] [--cores 2] [--spark-memory 1g] [--shuffle-partitions N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import peak_memory_gb  # noqa: E402

AS_OF = date(2025, 12, 31)
MODES = ("duckdb", "spark", "spark-sql-core")

CORE_SQL = f"""
WITH tx AS (
  SELECT customer_id, CAST(timestamp AS DATE) AS day, amount, coalesce(order_id, CAST(timestamp AS STRING)) AS o,
         datediff(DATE '{AS_OF}', CAST(timestamp AS DATE)) AS age
  FROM transactions WHERE timestamp < TIMESTAMP '{AS_OF} 00:00:00' + INTERVAL 1 DAY AND NOT coalesce(is_return, false)
), days AS (
  SELECT customer_id, age, age - lead(age) OVER (PARTITION BY customer_id ORDER BY age) AS gap
  FROM (SELECT DISTINCT customer_id, age FROM tx)
)
SELECT t.customer_id, min(age) AS days_since_last_purchase, max(age) AS tenure_days,
       count(DISTINCT o) AS orders_total,
       count(DISTINCT CASE WHEN age < 30 THEN o END) AS orders_last_30d,
       count(DISTINCT CASE WHEN age < 90 THEN o END) AS orders_last_90d,
       count(DISTINCT CASE WHEN age < 365 THEN o END) AS orders_last_365d,
       sum(CASE WHEN age < 30 THEN amount ELSE 0 END) AS spend_last_30d,
       sum(CASE WHEN age < 90 THEN amount ELSE 0 END) AS spend_last_90d,
       sum(CASE WHEN age < 365 THEN amount ELSE 0 END) AS spend_last_365d,
       sum(amount) AS spend_total, first(g.mean_gap) AS mean_days_between_purchases
FROM tx t LEFT JOIN (SELECT customer_id, avg(gap) AS mean_gap FROM days GROUP BY customer_id) g USING (customer_id)
GROUP BY t.customer_id
"""


def overrides_for(mode: str, cores: int, memory: str, partitions: int) -> list[str]:
    """The settings of a mode over params.yaml as a user has it: the master ``local[cores]``; memory and shuffle
    partitions only where given (the reference query: 4 shuffle partitions per core unless given)."""
    conf = {"spark.driver.memory": memory} if memory else {}
    if partitions or mode == "spark-sql-core":
        conf["spark.sql.shuffle.partitions"] = partitions or cores * 4
    settings = ", ".join(f"{k}: {v}" for k, v in conf.items())
    return [f"engine.threads={cores}", f"engine.kind={'spark' if mode.startswith('spark') else 'duckdb'}",
            f"engine.spark.master=local[{cores}]", f"engine.spark.conf={{{settings}}}"]


def run_mode(mode: str, folder: Path, cores: int, memory: str, out: Path | None, partitions: int = 0) -> dict:
    """One mode timed from the moment its session is up: the project's modes run what ``churn features`` runs
    (``pipeline.build.run.features``: validation, the checks of the as-of date, the build, the Parquet written)."""
    from pipeline.build import run
    from pipeline.core.config import load_params
    from pipeline.core.runlog import RunLog

    overrides = overrides_for(mode, cores, memory, partitions)
    params = load_params(ROOT / "params.yaml", overrides)
    if mode.startswith("spark"):
        from pipeline.engine.spark.dataset import spark_session

        spark = spark_session(params.engine)
        spark.range(1).count()  # the session is started before timing, in both Spark modes
    if mode == "spark-sql-core":
        spark.read.parquet(str(folder / "transactions")).createOrReplaceTempView("transactions")
        started = time.perf_counter()
        spark.sql(CORE_SQL).write.format("noop").mode("overwrite").save()
        return {"mode": mode, "seconds": time.perf_counter() - started, "peak_gb": peak_memory_gb()}
    started = time.perf_counter()
    made = run.features(ROOT / "params.yaml", folder, AS_OF, out or folder.parent / f"features_{mode}.parquet",
                        overrides, RunLog())
    seconds = time.perf_counter() - started
    return {"mode": mode, "seconds": seconds, "customers": len(made.frame), "columns": made.frame.shape[1],
            "peak_gb": peak_memory_gb()}


def doubled(memory: str) -> str:
    """Twice a JVM memory setting: ``512m`` -> ``1024m``, ``1g`` -> ``2g`` (Spark's default, not given: 2g)."""
    memory = memory or "1g"
    return f"{int(memory[:-1]) * 2}{memory[-1]}"


RETRIES = 3  # a Spark mode out of heap is run again with twice the memory this many times at most (up to 8x)


def measure(mode: str, folder: Path, cores: int, memory: str, out: Path | None, partitions: int = 0) -> dict:
    """``mode`` timed in a process of its own; a Spark mode whose JVM runs out of heap (it exits on
    ``OutOfMemoryError``) is run again with twice the memory, and the memory it ran with is recorded."""
    given = memory
    for retry in range(RETRIES + 1):
        cmd = [sys.executable, __file__, "--mode", mode, "--folder", str(folder), "--cores", str(cores),
               "--spark-memory", given or "", "--shuffle-partitions", str(partitions)] + (["--out", str(out)] if out else [])
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if not done.returncode:
            return {**json.loads(done.stdout.strip().splitlines()[-1]), "memory": given or "default",
                    "process_seconds": time.perf_counter() - started}
        log = folder / f"failed_{mode}_{given}.log"
        log.write_text(done.stdout + done.stderr)
        # the JVM exits on OutOfMemoryError (the session sets -XX:+ExitOnOutOfMemoryError); Python then finds it gone
        jvm_gone = any(s in done.stdout + done.stderr for s in ("OutOfMemoryError", "Answer from Java side is empty"))
        if not (mode.startswith("spark") and jvm_gone) or retry == RETRIES:
            sys.exit(f"{mode} failed (Spark memory {given}; whole log: {log}):\n{done.stderr[-3000:]}")
        print(f"{mode}: its JVM exited (out of heap) with Spark given {given}; again with {doubled(given)}", flush=True)
        given = doubled(given)
    raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="5000000")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--spark-memory", default="", help="spark.driver.memory for both Spark modes; default: Spark's")
    parser.add_argument("--shuffle-partitions", type=int, default=0,
                        help="spark.sql.shuffle.partitions for both Spark modes; 0: the engine's own for the project's "
                             "path, 4 per core for the reference query")
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # one measurement, in a process of its own
        result = run_mode(args.mode, Path(args.folder), args.cores, args.spark_memory,
                          Path(args.out) if args.out else None, args.shuffle_partitions)
        print(json.dumps(result))
        return
    import pandas as pd
    from bench_features import ensure_data

    for rows in (int(s) for s in args.sizes.split(",")):
        folder = ensure_data(rows)
        results, tables = {}, {}
        for mode in MODES:
            out = folder / f"features_{mode}.parquet" if mode in ("duckdb", "spark") else None
            results[mode] = measure(mode, folder, args.cores, args.spark_memory, out, args.shuffle_partitions)
            if out:
                tables[mode] = pd.read_parquet(out)
        equal = tables["duckdb"].equals(tables["spark"])
        d, s, h = (results[m]["seconds"] for m in MODES)
        partitions = args.shuffle_partitions or f"the engine's / {args.cores * 4}"
        print(f"\n{rows:,} transactions, {args.cores} cores, Spark memory {args.spark_memory or 'default'}, "
              f"shuffle partitions {partitions}")
        print(f"{'mode':<16}{'seconds':>9}{'process s':>11}{'peak GB (driver process)':>26}{'Spark memory':>14}")
        for mode in MODES:
            given = results[mode]["memory"] if mode.startswith("spark") else "-"
            print(f"{mode:<16}{results[mode]['seconds']:>9.1f}{results[mode]['process_seconds']:>11.1f}"
                  f"{results[mode]['peak_gb']:>26.2f}{given:>14}")
        ps, ph = results["spark"]["process_seconds"], results["spark-sql-core"]["process_seconds"]
        print(f"spark / duckdb          {s / d:.2f}x")
        print(f"spark / spark-sql-core  {s / h:.2f}x after the session is up, {ps / ph:.2f}x from outside "
              "(goal: 1.5x or less, computing every family)")
        print(f"feature tables equal (every column, bit for bit): {equal}; "
              f"{results['spark']['customers']:,} customers x {results['spark']['columns'] - 1} features")


if __name__ == "__main__":
    main()
