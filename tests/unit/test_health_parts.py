"""Customer-base health computed in customer shards: each shard's parts (``health_parts``) added up (``add_up``) give
the numbers of one computation over every customer, bit for bit, for any split of the customers; and the averages and
the median finished from the added-up parts equal DuckDB's own ``avg`` and ``quantile_cont`` over all the rows."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipeline.build.features import build_features
from pipeline.core.config import load_params
from pipeline.data.samples.retail import generate
from pipeline.engine.duckdb import dataset_from_frames
from pipeline.scoring.health import (
    add_up,
    base_health,
    customer_health,
    decimal_average,
    health_from,
    health_parts,
    median_of_counts,
    population_counts,
    population_from,
    support_by_month,
)

LABELS = {
    "inactivity": [],
    "two orders in 180 days": ["label.min_purchases_in_lookback=2", "label.lookback_days=180"],
    "cancellation": ["label.kind=cancellation", "label.horizon_days=30"],
}


@pytest.fixture(scope="module")
def tables():
    frames, _ = generate(300, seed=19)  # all five tables: nps, csat and support events, subscriptions
    return frames


def shard_connections(ds, groups: list[list[str]]) -> list[duckdb.DuckDBPyConnection]:
    """A connection per group of customers holding their rows of every clean table, as a Spark task holds a shard's."""
    clean = {name: ds.con.sql(f"SELECT * FROM clean_{name}").to_arrow_table() for name in sorted(ds.tables)}
    out = []
    for ids in groups:
        con = duckdb.connect()
        for name, rows in clean.items():
            con.register("_rows", rows.filter(pc.is_in(rows.column("customer_id"), pa.array(ids, pa.string()))))
            con.execute(f"CREATE TABLE clean_{name} AS SELECT * FROM _rows")
            con.unregister("_rows")
        out.append(con)
    return out


def sharded(ds, label, as_of: date, shards: int, seed: int) -> dict[str, pa.Table]:
    """The parts of ``shards`` random groups of customers (and an empty one), each part's rows together."""
    every = " UNION ".join(f"SELECT customer_id FROM clean_{name}" for name in sorted(ds.tables))
    ids = sorted(set(ds.con.sql(every).fetchnumpy()["customer_id"]))
    rng = np.random.default_rng(seed)
    group = rng.integers(0, shards, len(ids))
    groups = [[i for i, g in zip(ids, group, strict=True) if g == k] for k in range(shards)] + [[]]
    parts = [health_parts(con, label, as_of) for con in shard_connections(ds, groups)]
    return {name: pa.concat_tables([p[name] for p in parts]) for name in parts[0]}


def risk_of(ds, params, as_of: date) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": build_features(ds, params, as_of)["customer_id"]})


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("as_of, shards, seed", [(date(2025, 9, 30), 2, 0), (date(2025, 9, 30), 7, 1),
                                                  (date(2023, 5, 17), 3, 2)])
def test_parts_of_any_customer_split_add_up_to_the_whole(tables, label, as_of, shards, seed):
    params = load_params(None, LABELS[label])
    ds = dataset_from_frames(tables, params)
    risk = risk_of(ds, params, as_of)
    whole_population, whole = base_health(ds, params.label, as_of, risk)
    assert whole == customer_health(ds.con, params.label, as_of, risk)
    assert whole_population == population_counts(ds.con, params.label, as_of, risk["customer_id"])
    assert {"satisfaction", "support"} <= set(whole) and whole["churn"] and whole["cohorts"]

    totals = add_up(sharded(ds, params.label, as_of, shards, seed))
    # json.dumps writes each float's shortest repr: equal text is equal bits
    assert json.dumps(health_from(totals, params.label, as_of, risk)) == json.dumps(whole)
    assert population_from(totals, params.label, risk["customer_id"]) == whole_population


@pytest.mark.parametrize("label", LABELS)
def test_left_out_are_the_customers_with_history_not_scored(tables, label):
    """The scored customers are among those with history: ``left_out`` counts the others, as a direct set difference."""
    params = load_params(None, LABELS[label])
    ds = dataset_from_frames(tables, params)
    as_of = date(2025, 6, 30)
    scored = set(risk_of(ds, params, as_of)["customer_id"])
    end = "TIMESTAMP '2025-07-01'"
    history = set(ds.con.sql(f"SELECT customer_id FROM clean_transactions WHERE timestamp < {end}").fetchnumpy()["customer_id"])
    if params.label.kind == "cancellation":
        history |= set(ds.con.sql(f"SELECT customer_id FROM clean_subscriptions WHERE start_date < {end}")
                       .fetchnumpy()["customer_id"])
    counts = population_counts(ds.con, params.label, as_of, pd.Series(sorted(scored)))
    assert scored <= history
    assert counts["with_history"] == len(history) and counts["scored"] == len(scored)
    assert counts["left_out"] == len(history - scored) > 0


def test_averages_and_medians_equal_duckdbs_own_over_every_row():
    """Per month: 1, 2, 3 and 4 tickets, then many with ties; hours with more decimals than the exact sums keep."""
    rng = np.random.default_rng(5)
    rows = []
    for month, n in zip(range(1, 13), (1, 2, 3, 4, 5, 40, 41, 200, 201, 7, 8, 999), strict=True):
        hours = rng.choice([1.5, 2.0, 2.0, 3.25, 7.0], n) if month % 2 else rng.uniform(0, 72, n)
        for h in hours:
            day = pd.Timestamp(2024, month, int(rng.integers(1, 29)), int(rng.integers(0, 24)))
            rows += [(f"c{rng.integers(0, 50)}", day, "support_ticket", h),
                     (f"c{rng.integers(0, 50)}", day, "csat", float(rng.uniform(1, 5))),
                     (f"c{rng.integers(0, 50)}", day, "support_ticket", None)]
    events = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type", "value"])
    tx = pd.DataFrame({"customer_id": ["c1"], "timestamp": [pd.Timestamp("2023-12-01")], "amount": [10.0]})
    params = load_params(None)
    ds = dataset_from_frames({"transactions": tx, "events": events}, params)
    as_of = date(2024, 12, 31)
    direct = {str(r[0])[:7]: r[1:] for r in ds.con.execute("""
        SELECT date_trunc('month', CAST(timestamp AS DATE)), CAST(avg(CAST(value AS DECIMAL(18, 4))) AS DOUBLE),
               quantile_cont(CAST(value AS DOUBLE), 0.5)
        FROM clean_events WHERE event_type = 'support_ticket' GROUP BY 1""").fetchall()}
    csat = {str(r[0])[:7]: r[1] for r in ds.con.execute("""
        SELECT date_trunc('month', CAST(timestamp AS DATE)),
               CAST(avg(CAST(value AS DECIMAL(18, 4))) FILTER (WHERE event_type = 'csat') AS DOUBLE)
        FROM clean_events WHERE event_type IN ('nps', 'csat') AND value IS NOT NULL GROUP BY 1""").fetchall()}
    health = customer_health(ds.con, params.label, as_of, pd.DataFrame())
    assert sum(1 for m in health["support"] if m["tickets"]) == 12  # and December 2023, the first purchase's month
    for month in health["support"][1:]:
        assert (month["mean_response_hours"], month["median_response_hours"]) == direct[month["month"]]
    for month in health["satisfaction"][1:]:
        assert month["csat"] == csat[month["month"]]
    split = add_up(sharded(ds, params.label, as_of, 4, seed=3))
    assert json.dumps(health_from(split, params.label, as_of, pd.DataFrame())) == json.dumps(health)
    [(december,)] = ds.con.execute("SELECT count(*) FROM clean_events WHERE event_type = 'support_ticket' "
                                   "AND timestamp >= TIMESTAMP '2024-12-01'").fetchall()
    assert support_by_month(ds.con, as_of, [date(2024, 12, 31)])[0]["tickets"] == december > 999


def test_decimal_average_and_median_of_counts_on_random_samples():
    rng = np.random.default_rng(11)
    con = duckdb.connect()
    for trial in range(300):
        n = int(rng.integers(1, 80))
        values = rng.uniform(0, 1000, n) if trial % 2 else rng.integers(0, 20, n) / 4
        con.execute("CREATE OR REPLACE TABLE t AS SELECT 1 AS g, unnest(?::DOUBLE[]) AS v", [values.tolist()])
        [(average, median)] = con.execute("SELECT CAST(avg(CAST(v AS DECIMAL(18, 4))) AS DOUBLE), "
                                          "quantile_cont(v, 0.5) FROM t GROUP BY g").fetchall()
        [(total, count)] = con.execute("SELECT CAST(sum(CAST(v AS DECIMAL(18, 4))) AS DECIMAL(38, 4)), count(*) "
                                       "FROM t").fetchall()
        counted = con.execute("SELECT v, count(*) FROM t GROUP BY 1 ORDER BY 1").fetchall()
        assert decimal_average(total, count) == average
        assert median_of_counts(counted) == median
    assert median_of_counts([]) is None
