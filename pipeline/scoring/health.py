"""Customer-base health at scoring time: how the base has been doing, month by month, from the data itself.

Pure: DuckDB SQL over a validated dataset's ``clean_<table>`` tables (nothing after the end of the as-of day
is read) and pandas over the scored risk list; the result is a JSON-ready dict stored in the score summary
(``summary["health"]``) and drawn by the report.

- ``churn``: the configured churn definition at the end of each month. For ``label.kind: inactivity`` the
  population at month end t is the customers with at least ``min_purchases_in_lookback`` orders in
  (t - ``lookback_days``, t], and a customer churned when they made no purchase in (t, t + ``horizon_days``];
  for ``cancellation`` the population is the customers with a subscription active at t, churned when every
  subscription active at t (or started in the horizon and still active at its end) ends within the horizon:
  the same rules as the training labels (``pipeline.build.labels``). A month whose horizon ends after the as-of
  date has a population but no rate yet (``None``), never a rate that counts the unseen days as churn.
- ``cohorts``: customers grouped by the month of their first purchase; for each later month, the share of
  the cohort who bought in it. Months not yet complete at the as-of date are ``None``. The month the data
  starts in is left out: its customers may have bought before the data begins.
- ``satisfaction``: NPS (share of promoters, 9-10, minus share of detractors, 0-6, in points) and average
  CSAT per month, from ``nps`` and ``csat`` events.
- ``support``: support tickets per month and, where a ticket's ``value`` is given, the hours to first response.
- ``growth``: among the customers who bought in a month and had bought before it, the share whose average
  order value that month was above their average before (upsell), and the share who bought a category they
  had never bought before (cross-sell; ``None`` without categories).
- ``tiers``: customers, value if retained, value at risk and lifetime value per loyalty tier, from the risk list.

``population_counts`` says how many customers with history the population rule leaves out, and why.

Every measure is computed in two steps, so that an engine holding customers in shards (every row of a customer
in one shard) computes the same numbers as one machine: ``health_parts`` computes, over one connection's clean
tables (one shard, or all the data), small tables of counts and exact sums whose rows add up across shards
(``PARTS``), and ``add_up`` adds them up by key and finishes each measure. One machine runs both steps on its
connection; an engine holding shards runs the first in every shard (``Dataset.map_parts``) and the second on the
driver. Nothing in the
first step needs the whole data: each measure is computed for the last ``HISTORY_MONTHS`` months (cohorts:
``COHORTS`` + 1), and the months before the data's first purchase, known once every shard's first day is in, are
dropped when finishing. The averages are exact decimal sums and counts divided as DuckDB's ``avg`` of a decimal
divides them (``decimal_average``), and the median of the hours to first response is taken from the counts of
each value as DuckDB's ``quantile_cont`` takes it (``median_of_counts``): the same numbers, bit for bit, as one
query over all the rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Context, Decimal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from features.registry import day_end_sql
from pipeline.build.problem import population_rule
from pipeline.core.config import LabelConfig

HISTORY_MONTHS = 24  # months of churn, satisfaction, support and growth shown
COHORTS = 24  # most recent first-purchase cohorts: two years, so the oldest shown have their twelfth month
COHORT_MONTHS = 12  # months after the first purchase followed in a cohort

# Money and scores are summed as exact decimals (as the features are): parallel float sums depend on thread timing,
# and the same inputs must give the same summary.
EXACT = "DECIMAL(18, 4)"
SCALE = 4  # EXACT's decimal places
TOTAL = "DECIMAL(38, 4)"  # a sum of EXACT values (DuckDB's sum of a DECIMAL(18, 4)), exact
# purchase lines (not returns) up to the end of the as-of day
_PURCHASES = """(SELECT customer_id, CAST(timestamp AS DATE) AS day, CAST(amount AS {exact}) AS amount, category,
                        CASE WHEN order_id IS NULL THEN hash(timestamp) ELSE hash(order_id) END AS order_ref
                 FROM clean_transactions
                 WHERE NOT (coalesce(is_return, false) OR amount < 0) AND timestamp < {end})"""

# The partial tables of ``health_parts`` and how rows of several shards add up: the SQL over a relation of the
# part's name holding every shard's rows (min of the first days, sums of counts and of exact sums).
PARTS = {
    "history": "SELECT sum(customers) FROM history",
    "firsts": "SELECT min(first_day), sum(category_rows) FROM firsts",
    "churn": "SELECT cutoff, sum(population), sum(churned) FROM churn GROUP BY 1",
    "cohorts": "SELECT cohort, age, sum(customers) FROM cohorts GROUP BY 1, 2",
    "growth": "SELECT month, sum(returning_buyers), sum(upsell), sum(cross_sell) FROM growth GROUP BY 1",
    "satisfaction": "SELECT month, sum(nps_responses), sum(promoters), sum(detractors), sum(csat_responses), "
                    "sum(csat_total) FROM satisfaction GROUP BY 1",
    "support": "SELECT month, sum(tickets), sum(timed), sum(hours_total) FROM support GROUP BY 1",
    "response_hours": "SELECT month, hours, sum(tickets) FROM response_hours GROUP BY 1, 2 ORDER BY 1, 2",
}
HEALTH_PARTS = ("firsts", "churn", "cohorts", "growth", "satisfaction", "support", "response_hours")


def orders_sql(as_of: date) -> str:
    """SQL relation: one row per order up to the end of ``as_of`` (an order id on one day, as the features count
    orders), with its purchase value: ``customer_id``, ``day``, ``order_ref``, ``amount``."""
    purchases = _PURCHASES.format(end=day_end_sql(as_of), exact=EXACT)
    return f"(SELECT customer_id, day, order_ref, sum(amount) AS amount FROM {purchases} GROUP BY ALL)"


def categories_sql(as_of: date) -> str:
    """SQL relation: the first month each customer bought each category in, up to the end of ``as_of``."""
    return (f"(SELECT customer_id, category, min(date_trunc('month', day)) AS first_month "
            f"FROM {_PURCHASES.format(end=day_end_sql(as_of), exact=EXACT)} WHERE category IS NOT NULL GROUP BY ALL)")


def month_ends(first: date, as_of: date, months: int = HISTORY_MONTHS) -> list[date]:
    """The last days of the complete months up to ``as_of`` (``as_of`` itself when it is a month end), at most
    ``months`` of them, not before the month of ``first``."""
    last = as_of if (as_of + timedelta(days=1)).day == 1 else as_of.replace(day=1) - timedelta(days=1)
    out: list[date] = []
    month = last
    while len(out) < months and month >= first:
        out.append(month)
        month = month.replace(day=1) - timedelta(days=1)
    if out and out[-1].replace(day=1) < first.replace(day=1):
        out.pop()
    return out[::-1]


def _month(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _dates_sql(days: list[date]) -> str:
    values = ", ".join(f"(DATE '{d.isoformat()}')" for d in days) or "(NULL::DATE)"
    return f"(VALUES {values}) AS c(cutoff)"


def _in_months(day: str, cutoffs: list[date]) -> str:
    """SQL condition: the date ``day`` falls in the month of one of ``cutoffs``."""
    if not cutoffs:
        return "false"
    starts = ", ".join(f"DATE '{t.replace(day=1).isoformat()}'" for t in cutoffs)
    return f"CAST(date_trunc('month', {day}) AS DATE) IN ({starts})"


def _tables(con) -> set[str]:
    """The clean tables of a connection: views on one machine, tables in a shard's task."""
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'clean_%'").fetchall()}


# --- step 1: one connection's partial tables (SQL over its clean tables) ---------------------------------------

def _history_sql(label: LabelConfig, as_of: date, tables: set[str]) -> str:
    """Customers with history at the as-of date: transactions up to it (and subscriptions started by then, when
    churn is cancellation)."""
    end = day_end_sql(as_of)
    sources = [f"SELECT customer_id FROM clean_transactions WHERE timestamp < {end}"]
    if label.kind == "cancellation" and "clean_subscriptions" in tables:
        sources.append(f"SELECT customer_id FROM clean_subscriptions WHERE start_date < {end}")
    return f"SELECT count(DISTINCT customer_id) AS customers FROM ({' UNION ALL '.join(sources)})"


def _firsts_sql(orders: str, categories: str) -> str:
    """The first purchase day and the number of (customer, category) firsts (cross-sell needs categories)."""
    return (f"SELECT (SELECT min(day) FROM {orders}) AS first_day, "
            f"(SELECT count(*) FROM {categories}) AS category_rows")


def _churn_sql(label: LabelConfig, as_of: date, cutoffs: list[date], orders: str) -> str:
    """Population and churned customers at each of ``cutoffs`` (``cutoff``, ``population``, ``churned``)."""
    end = day_end_sql(as_of)
    h, lookback, k = int(label.horizon_days), int(label.lookback_days), max(int(label.min_purchases_in_lookback), 1)
    if label.kind == "cancellation":
        # as known at the end of the as-of day: an end date after it is not known yet (still active)
        subs = f"""(SELECT customer_id, CAST(start_date AS TIMESTAMP) AS start_date,
                           CASE WHEN end_date < {end} THEN CAST(end_date AS TIMESTAMP) END AS end_date
                    FROM clean_subscriptions WHERE start_date < {end})"""
        start_t, end_t = "(c.cutoff + INTERVAL 1 DAY)", f"(c.cutoff + INTERVAL {h + 1} DAY)"
        return f"""
            WITH s AS {subs},
            pop AS (SELECT DISTINCT c.cutoff, s.customer_id FROM s, {_dates_sql(cutoffs)}
                    WHERE s.start_date < {start_t} AND (s.end_date IS NULL OR s.end_date >= {start_t})),
            counted AS (SELECT c.cutoff, s.customer_id, bool_and(s.end_date IS NOT NULL AND s.end_date < {end_t}) AS churned
                        FROM s, {_dates_sql(cutoffs)}
                        WHERE s.start_date < {start_t} AND (s.end_date IS NULL OR s.end_date >= {start_t})
                           OR (s.start_date >= {start_t} AND s.start_date < {end_t}
                               AND (s.end_date IS NULL OR s.end_date >= {end_t}))
                        GROUP BY 1, 2)
            SELECT p.cutoff, count(*) AS population, count(*) FILTER (WHERE coalesce(n.churned, true)) AS churned
            FROM pop p LEFT JOIN counted n USING (cutoff, customer_id) GROUP BY 1"""
    # Each order starts an interval [its day, the next order's day) in which it is the customer's latest
    # order: at a cutoff t in it the customer is in the population when their k-th latest order is less
    # than lookback days old, and churned when the next order comes more than the horizon after t.
    return f"""
        WITH seq AS (SELECT customer_id, day, lead(day) OVER w AS next_day, lag(day, {k - 1}) OVER w AS kth_day
                FROM {orders} WINDOW w AS (PARTITION BY customer_id ORDER BY day, order_ref))
        SELECT c.cutoff, count(*) AS population,
               count(*) FILTER (WHERE seq.next_day IS NULL OR date_diff('day', c.cutoff, seq.next_day) > {h}) AS churned
        FROM seq JOIN {_dates_sql(cutoffs)}
          ON c.cutoff >= seq.day AND (seq.next_day IS NULL OR c.cutoff < seq.next_day)
         AND seq.kth_day IS NOT NULL AND date_diff('day', seq.kth_day, c.cutoff) < {lookback}
        GROUP BY 1"""


def _cohorts_sql(as_of: date, orders: str, cohorts: int, months: int) -> str:
    """Buyers per (first-purchase month, months after it) for the cohorts of the last ``cohorts`` + 1 complete
    months (those shown, whatever month the data starts in): ``cohort``, ``age``, ``customers``."""
    ends = month_ends(date.min, as_of, cohorts + 1)
    if not ends:
        return "SELECT NULL::DATE AS cohort, NULL::BIGINT AS age, NULL::BIGINT AS customers WHERE false"
    return f"""
        WITH active AS (SELECT DISTINCT customer_id, CAST(date_trunc('month', day) AS DATE) AS month FROM {orders}),
        firsts AS (SELECT customer_id, min(month) AS cohort FROM active GROUP BY 1)
        SELECT f.cohort, date_diff('month', f.cohort, a.month) AS age, count(*) AS customers
        FROM active a JOIN firsts f USING (customer_id)
        WHERE f.cohort >= DATE '{ends[0].replace(day=1).isoformat()}' AND f.cohort <= DATE '{ends[-1].replace(day=1).isoformat()}'
          AND date_diff('month', f.cohort, a.month) <= {months}
        GROUP BY 1, 2"""


def _growth_sql(cutoffs: list[date], orders: str, categories: str) -> str:
    """Returning buyers, upsells and cross-sells in the months of ``cutoffs`` (``month``, ``returning_buyers``,
    ``upsell``, ``cross_sell``)."""
    return f"""
        WITH cm AS (SELECT customer_id, date_trunc('month', day) AS month, count(*) AS orders, sum(amount) AS value
                    FROM {orders} GROUP BY 1, 2),
        w AS (SELECT *, sum(orders) OVER before AS prior_orders, sum(value) OVER before AS prior_value FROM cm
              WINDOW before AS (PARTITION BY customer_id ORDER BY month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
        new_category AS (SELECT DISTINCT customer_id, first_month AS month FROM {categories})
        SELECT CAST(w.month AS DATE) AS month, count(*) AS returning_buyers,
               count(*) FILTER (WHERE w.value * w.prior_orders > w.prior_value * w.orders) AS upsell,
               count(n.customer_id) AS cross_sell
        FROM w LEFT JOIN new_category n USING (customer_id, month)
        WHERE w.prior_orders > 0 AND {_in_months('w.month', cutoffs)} GROUP BY 1"""


def _events_in(as_of: date, cutoffs: list[date], types: str) -> str:
    return (f"FROM clean_events WHERE event_type IN ({types}) AND timestamp < {day_end_sql(as_of)} "
            f"AND {_in_months('CAST(timestamp AS DATE)', cutoffs)}")


_EVENT_MONTH = "CAST(date_trunc('month', CAST(timestamp AS DATE)) AS DATE) AS month"


def _satisfaction_sql(as_of: date, cutoffs: list[date]) -> str:
    """NPS responses, promoters and detractors, and CSAT responses with their exact sum, per month."""
    return f"""
        SELECT {_EVENT_MONTH},
               count(*) FILTER (WHERE event_type = 'nps') AS nps_responses,
               count(*) FILTER (WHERE event_type = 'nps' AND value >= 9) AS promoters,
               count(*) FILTER (WHERE event_type = 'nps' AND value <= 6) AS detractors,
               count(*) FILTER (WHERE event_type = 'csat') AS csat_responses,
               CAST(sum(CAST(value AS {EXACT})) FILTER (WHERE event_type = 'csat') AS {TOTAL}) AS csat_total
        {_events_in(as_of, cutoffs, "'nps', 'csat'")} AND value IS NOT NULL GROUP BY 1"""


def _support_sql(as_of: date, cutoffs: list[date]) -> str:
    """Support tickets, those with a response time, and the exact sum of the times, per month."""
    return f"""
        SELECT {_EVENT_MONTH}, count(*) AS tickets, count(value) AS timed,
               CAST(sum(CAST(value AS {EXACT})) AS {TOTAL}) AS hours_total
        {_events_in(as_of, cutoffs, "'support_ticket'")} GROUP BY 1"""


def _response_hours_sql(as_of: date, cutoffs: list[date]) -> str:
    """Tickets per (month, hours to first response): what the median needs, in rows that add up."""
    return f"""
        SELECT {_EVENT_MONTH}, CAST(value AS DOUBLE) AS hours, count(*) AS tickets
        {_events_in(as_of, cutoffs, "'support_ticket'")} AND value IS NOT NULL GROUP BY 1, 2"""


def health_parts(con: duckdb.DuckDBPyConnection, label: LabelConfig | None, as_of: date, months: int = HISTORY_MONTHS,
                 parts: tuple[str, ...] = tuple(PARTS), cutoffs: list[date] | None = None, cohorts: int = COHORTS,
                 cohort_months: int = COHORT_MONTHS) -> dict[str, pa.Table]:
    """The partial tables (``PARTS``) of the customers of ``con``'s clean tables, as Arrow: one shard's, or every
    customer's on one machine. Each customer's numbers need only their own rows, so the parts of shards that split
    the customers add up (``add_up``) to the parts of all of them. The monthly measures are for the month ends
    ``cutoffs`` (default: the last ``months``, whatever month the data starts in); ``label`` is needed only by the
    ``history`` and ``churn`` parts.

    The orders and the customers' first month per category are gathered once, into temporary tables (dropped at
    the end), so the transactions are read twice, not once per measure."""
    tables = _tables(con)
    recent = month_ends(date.min, as_of, months) if cutoffs is None else cutoffs
    orders, categories = "_health_orders", "_health_categories"
    queries = {
        "history": lambda: _history_sql(label, as_of, tables),
        "firsts": lambda: _firsts_sql(orders, categories),
        "churn": lambda: _churn_sql(label, as_of, recent, orders),
        "cohorts": lambda: _cohorts_sql(as_of, orders, cohorts, cohort_months),
        "growth": lambda: _growth_sql(recent, orders, categories),
    }
    if "clean_events" in tables:
        queries |= {"satisfaction": lambda: _satisfaction_sql(as_of, recent),
                    "support": lambda: _support_sql(as_of, recent),
                    "response_hours": lambda: _response_hours_sql(as_of, recent)}
    wanted = [name for name in parts if name in queries]
    needs_orders = any(name in ("firsts", "churn", "cohorts", "growth") for name in wanted)
    if needs_orders:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {orders} AS SELECT * FROM {orders_sql(as_of)}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {categories} AS SELECT * FROM {categories_sql(as_of)}")
    try:
        return {name: con.sql(queries[name]()).to_arrow_table() for name in wanted}
    finally:
        if needs_orders:
            con.execute(f"DROP TABLE IF EXISTS {orders}")
            con.execute(f"DROP TABLE IF EXISTS {categories}")


# --- step 2: the parts added up, and each measure finished ----------------------------------------------------

def decimal_average(total: Decimal, count: int) -> float:
    """``CAST(avg(x) AS DOUBLE)`` of DuckDB for ``count`` values of type ``EXACT`` summing to ``total``: the sum, an
    integer of units of 10^-SCALE, over count * 10^SCALE, both as the platform's long double (as DuckDB divides)."""
    units = int(total.scaleb(SCALE, context=Context(prec=60)))
    upper, lower = divmod(units, 2 ** 64)  # DuckDB's hugeint: upper * 2^64 + lower, converted as it converts it
    ld = np.longdouble
    if upper == -1:
        value = -ld(np.uint64(2 ** 64 - 1 - lower)) - ld(1)
    else:
        value = ld(np.uint64(lower)) + ld(upper) * ld(np.uint64(2 ** 64 - 1))
    return float(value / (ld(np.uint64(count)) * ld(float(10 ** SCALE))))


def median_of_counts(values: list[tuple[float, int]]) -> float | None:
    """``quantile_cont(x, 0.5)`` of DuckDB over values given as (value, how many times), sorted by value."""
    n = sum(c for _, c in values)
    if not n:
        return None
    rn = float(n - 1) * 0.5
    lo_at, hi_at = math.floor(rn), math.ceil(rn)

    def at(position: int) -> float:
        seen = 0
        for value, count in values:
            seen += count
            if position < seen:
                return value
        raise IndexError(position)

    lo = at(lo_at)
    if lo_at == hi_at:
        return lo
    d = rn - lo_at
    return lo * (1.0 - d) + at(hi_at) * d


@dataclass
class Totals:
    """Every customer's parts added up: the measures before they are cut to the months shown."""

    with_history: int = 0
    first_day: date | None = None
    has_category: bool = False
    churn: dict[date, tuple[int, int]] = field(default_factory=dict)
    cohorts: dict[tuple[date, int], int] = field(default_factory=dict)
    growth: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    satisfaction: dict[str, tuple] = field(default_factory=dict)
    support: dict[str, tuple] = field(default_factory=dict)


def add_up(parts: dict[str, pa.Table]) -> Totals:
    """The parts of one connection, or of every shard (each part's rows together), added up by key (``PARTS``)."""
    con = duckdb.connect()
    try:
        rows = {}
        for name, table in parts.items():
            con.register(name, table)
            rows[name] = con.execute(PARTS[name]).fetchall()
    finally:
        con.close()
    totals = Totals()
    if rows.get("history"):
        totals.with_history = int(rows["history"][0][0] or 0)
    if rows.get("firsts"):
        first, categories = rows["firsts"][0]
        totals.first_day, totals.has_category = first, bool(categories)
    totals.churn = {r[0]: (int(r[1]), int(r[2])) for r in rows.get("churn", [])}
    totals.cohorts = {(r[0], int(r[1])): int(r[2]) for r in rows.get("cohorts", [])}
    totals.growth = {_month(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows.get("growth", [])}
    for month, n, promoters, detractors, nc, csat in rows.get("satisfaction", []):
        totals.satisfaction[_month(month)] = (int(n), int(promoters), int(detractors), int(nc),
                                              decimal_average(csat, int(nc)) if nc else None)
    hours: dict[str, list[tuple[float, int]]] = {}
    for month, value, count in rows.get("response_hours", []):
        hours.setdefault(_month(month), []).append((value, int(count)))
    for month, tickets, timed, total in rows.get("support", []):
        key = _month(month)
        totals.support[key] = (int(tickets), int(timed), decimal_average(total, int(timed)) if timed else None,
                               median_of_counts(hours.get(key, [])))
    return totals


def _churn_months(totals: Totals, label: LabelConfig, as_of: date, cutoffs: list[date]) -> list[dict]:
    h = int(label.horizon_days)
    out = []
    for t in cutoffs:
        population, churned = totals.churn.get(t, (0, 0))
        observed = t + timedelta(days=h) <= as_of
        out.append({"month": _month(t), "cutoff": t.isoformat(), "population": population,
                    "churned": churned if observed else None,
                    "churn_rate": churned / population if observed and population else None})
    return out


def _cohort_months(totals: Totals, as_of: date, cohorts: int, months: int) -> list[dict]:
    first = totals.first_day
    ends = month_ends(first, as_of, months=cohorts + 1) if first else []
    ends = [e for e in ends if e.replace(day=1) > first.replace(day=1)][-cohorts:] if first else []
    if not ends:
        return []
    counts = totals.cohorts
    last_complete = ends[-1]
    out = []
    for e in ends:
        start = e.replace(day=1)
        size = counts.get((start, 0), 0)
        shares: list[float | None] = []
        for age in range(months + 1):
            month_start = _add_months(start, age)
            if month_start > last_complete:
                shares.append(None)
            else:
                shares.append(counts.get((start, age), 0) / size if size else None)
        out.append({"cohort": _month(start), "customers": size, "retention": shares})
    return out


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


def _growth_months(totals: Totals, cutoffs: list[date]) -> list[dict]:
    out = []
    for t in cutoffs:
        returning, up, cross = totals.growth.get(_month(t), (0, 0, 0))
        out.append({"month": _month(t), "returning_buyers": returning,
                    "upsell_rate": up / returning if returning else None,
                    "cross_sell_rate": cross / returning if returning and totals.has_category else None})
    return out


def _satisfaction_months(totals: Totals, cutoffs: list[date]) -> list[dict]:
    out = []
    for t in cutoffs:
        n, pro, det, nc, csat = totals.satisfaction.get(_month(t), (0, 0, 0, 0, None))
        out.append({"month": _month(t), "nps_responses": n, "nps": 100 * (pro - det) / n if n else None,
                    "csat_responses": nc, "csat": csat})
    return out


def _support_months(totals: Totals, cutoffs: list[date]) -> list[dict]:
    out = []
    for t in cutoffs:
        tickets, timed, mean, median = totals.support.get(_month(t), (0, 0, None, None))
        out.append({"month": _month(t), "tickets": tickets, "with_response_time": timed,
                    "mean_response_hours": mean, "median_response_hours": median})
    return out


def _measured(con, label: LabelConfig | None, as_of: date, cutoffs: list[date], *parts: str) -> Totals:
    """The named parts of ``con`` for the month ends ``cutoffs``, added up: one measure on one connection."""
    return add_up(health_parts(con, label, as_of, parts=parts, cutoffs=cutoffs))


def churn_by_month(con, label: LabelConfig, as_of: date, cutoffs: list[date]) -> list[dict]:
    """Population and churn rate at each month end of ``cutoffs`` under ``label`` (see the module doc)."""
    return _churn_months(_measured(con, label, as_of, cutoffs, "churn"), label, as_of, cutoffs)


def cohort_retention(con, as_of: date, cohorts: int = COHORTS, months: int = COHORT_MONTHS) -> list[dict]:
    """Per first-purchase month: its size and, for months 0..``months`` after it, the share who bought then
    (``None`` where that month is not complete at ``as_of``)."""
    parts = health_parts(con, None, as_of, parts=("firsts", "cohorts"), cohorts=cohorts, cohort_months=months)
    return _cohort_months(add_up(parts), as_of, cohorts, months)


def satisfaction_by_month(con, as_of: date, cutoffs: list[date]) -> list[dict]:
    """NPS (promoters minus detractors, in points of 100) and average CSAT per month with responses."""
    return _satisfaction_months(_measured(con, None, as_of, cutoffs, "satisfaction"), cutoffs)


def support_by_month(con, as_of: date, cutoffs: list[date]) -> list[dict]:
    """Support tickets per month and the hours to first response of those that give it."""
    return _support_months(_measured(con, None, as_of, cutoffs, "support", "response_hours"), cutoffs)


def growth_by_month(con, as_of: date, cutoffs: list[date]) -> list[dict]:
    """Upsell and cross-sell rates among each month's returning buyers (see the module doc)."""
    return _growth_months(_measured(con, None, as_of, cutoffs, "firsts", "growth"), cutoffs)


def value_by_tier(risk: pd.DataFrame) -> list[dict]:
    """Customers and value per loyalty tier of the risk list, the most loyal tier first."""
    if risk.empty or "loyalty_tier" not in risk.columns:
        return []
    cols = [c for c in ("value_if_retained", "expected_value", "value_at_risk", "lifetime_value") if c in risk.columns]
    g = risk.groupby("loyalty_tier", sort=False)
    table = g[cols].sum().add_prefix("total_")
    table = table.join(g[cols].mean().add_prefix("mean_"))
    table["customers"] = g.size()
    table["mean_churn_probability"] = g["churn_probability"].mean()
    order = g["loyalty_score"].mean().sort_values(ascending=False).index if "loyalty_score" in risk.columns else table.index
    out = []
    for tier in order:
        row = table.loc[tier]
        out.append({"tier": str(tier), "customers": int(row["customers"]),
                    **{k: float(row[k]) for k in table.columns if k != "customers"}})
    return out


def population_from(totals: Totals, label: LabelConfig, scored_ids: pd.Series | np.ndarray) -> dict:
    """``population_counts`` from the added-up parts. The scored customers are the population at the as-of date,
    whose rule (``pipeline.build.labels``) reads only the transactions and subscriptions counted as history here, so
    they are among the customers with history and those left out are the others."""
    scored = pd.Series(scored_ids, dtype=object).astype(str)
    rule, reason = population_rule(label.kind, label.lookback_days, label.min_purchases_in_lookback)
    return {"rule": rule, "with_history": totals.with_history, "scored": int(len(scored)),
            "left_out": totals.with_history - int(scored.nunique()), "left_out_reason": reason}


def population_counts(con, label: LabelConfig, as_of: date, scored_ids: pd.Series | np.ndarray) -> dict:
    """How many customers with history at the as-of date the population rule leaves out, and why."""
    return population_from(add_up(health_parts(con, label, as_of, parts=("history",))), label, scored_ids)


def health_from(totals: Totals, label: LabelConfig, as_of: date, risk: pd.DataFrame,
                months: int = HISTORY_MONTHS) -> dict:
    """``customer_health`` from the added-up parts (computed for at least ``months`` months): the months from the
    data's first purchase on."""
    first = totals.first_day
    cutoffs = month_ends(first, as_of, months) if first else []
    health: dict = {
        "as_of": as_of.isoformat(),
        "churn_definition": {"kind": label.kind, "horizon_days": int(label.horizon_days)},
        "churn": _churn_months(totals, label, as_of, cutoffs),
        "cohorts": _cohort_months(totals, as_of, COHORTS, COHORT_MONTHS),
        "growth": _growth_months(totals, cutoffs),
        "tiers": value_by_tier(risk),
    }
    satisfaction = _satisfaction_months(totals, cutoffs)
    if any(m["nps_responses"] or m["csat_responses"] for m in satisfaction):
        health["satisfaction"] = satisfaction
    support = _support_months(totals, cutoffs)
    if any(m["tickets"] for m in support):
        health["support"] = support
    return health


def customer_health(con, label: LabelConfig, as_of: date, risk: pd.DataFrame,
                    months: int = HISTORY_MONTHS) -> dict:
    """The health of the customer base at ``as_of`` (see the module doc), JSON-ready."""
    return health_from(add_up(health_parts(con, label, as_of, months, HEALTH_PARTS)), label, as_of, risk, months)


def base_health(ds, label: LabelConfig, as_of: date, risk: pd.DataFrame,
                months: int = HISTORY_MONTHS) -> tuple[dict, dict]:
    """``population_counts`` and ``customer_health`` of a dataset on its engine (the scored customers: the risk
    list's), from one pass over its customers: on one machine over its connection, with Spark in every customer
    shard, added up on the driver."""
    totals = add_up(ds.map_parts(lambda con: health_parts(con, label, as_of, months)))
    return population_from(totals, label, risk["customer_id"]), health_from(totals, label, as_of, risk, months)


__all__ = ["base_health", "customer_health", "population_counts", "month_ends", "health_parts", "add_up"]
