"""Customer-base health at scoring time: how the base has been doing, month by month, from the data itself.

Pure: DuckDB SQL over a validated dataset's ``clean_<table>`` views (nothing after the end of the as-of day
is read) and pandas over the scored risk list; the result is a JSON-ready dict stored in the score summary
(``summary["health"]``) and drawn by the report.

- ``churn``: the configured churn definition at the end of each month. For ``label.kind: inactivity`` the
  population at month end t is the customers with at least ``min_purchases_in_lookback`` orders in
  (t - ``lookback_days``, t], and a customer churned when they made no purchase in (t, t + ``horizon_days``];
  for ``cancellation`` the population is the customers with a subscription active at t, churned when every
  subscription active at t (or started in the horizon and still active at its end) ends within the horizon:
  the same rules as the training labels (``pipeline.labels``). A month whose horizon ends after the as-of
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
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from features.registry import day_end_sql
from pipeline.config import LabelConfig

HISTORY_MONTHS = 24  # months of churn, satisfaction, support and growth shown
COHORTS = 12  # most recent first-purchase cohorts
COHORT_MONTHS = 12  # months after the first purchase followed in a cohort

# Money and scores are summed as exact decimals (as the features are): parallel float sums depend on thread timing,
# and the same inputs must give the same summary.
EXACT = "DECIMAL(18, 4)"
# purchase lines (not returns) up to the end of the as-of day
_PURCHASES = """(SELECT customer_id, CAST(timestamp AS DATE) AS day, CAST(amount AS {exact}) AS amount, category,
                        CASE WHEN order_id IS NULL THEN hash(timestamp) ELSE hash(order_id) END AS order_ref
                 FROM clean_transactions
                 WHERE NOT (coalesce(is_return, false) OR amount < 0) AND timestamp < {end})"""


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


def _first_day(con, orders: str) -> date | None:
    row = con.execute(f"SELECT min(day) FROM {orders}").fetchone()
    return row[0] if row and row[0] is not None else None


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE view_name LIKE 'clean_%'").fetchall()}


def churn_by_month(con, label: LabelConfig, as_of: date, cutoffs: list[date], orders: str | None = None) -> list[dict]:
    """Population and churn rate at each month end of ``cutoffs`` under ``label`` (see the module doc);
    ``orders``: the relation of ``orders_sql`` (a table of it, when several measures share it)."""
    end = day_end_sql(as_of)
    h, lookback, k = int(label.horizon_days), int(label.lookback_days), max(int(label.min_purchases_in_lookback), 1)
    if label.kind == "cancellation":
        # as known at the end of the as-of day: an end date after it is not known yet (still active)
        subs = f"""(SELECT customer_id, CAST(start_date AS TIMESTAMP) AS start_date,
                           CASE WHEN end_date < {end} THEN CAST(end_date AS TIMESTAMP) END AS end_date
                    FROM clean_subscriptions WHERE start_date < {end})"""
        start_t, end_t = "(c.cutoff + INTERVAL 1 DAY)", f"(c.cutoff + INTERVAL {h + 1} DAY)"
        rows = con.execute(f"""
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
            FROM pop p LEFT JOIN counted n USING (cutoff, customer_id) GROUP BY 1 ORDER BY 1""").fetchall()
    else:
        # Each order starts an interval [its day, the next order's day) in which it is the customer's latest
        # order: at a cutoff t in it the customer is in the population when their k-th latest order is less
        # than lookback days old, and churned when the next order comes more than the horizon after t.
        rows = con.execute(f"""
            WITH seq AS (SELECT customer_id, day, lead(day) OVER w AS next_day, lag(day, {k - 1}) OVER w AS kth_day
                    FROM {orders or orders_sql(as_of)} WINDOW w AS (PARTITION BY customer_id ORDER BY day, order_ref))
            SELECT c.cutoff, count(*) AS population,
                   count(*) FILTER (WHERE seq.next_day IS NULL OR date_diff('day', c.cutoff, seq.next_day) > {h}) AS churned
            FROM seq JOIN {_dates_sql(cutoffs)}
              ON c.cutoff >= seq.day AND (seq.next_day IS NULL OR c.cutoff < seq.next_day)
             AND seq.kth_day IS NOT NULL AND date_diff('day', seq.kth_day, c.cutoff) < {lookback}
            GROUP BY 1 ORDER BY 1""").fetchall()
    found = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    out = []
    for t in cutoffs:
        population, churned = found.get(t, (0, 0))
        observed = t + timedelta(days=h) <= as_of
        out.append({"month": _month(t), "cutoff": t.isoformat(), "population": population,
                    "churned": churned if observed else None,
                    "churn_rate": churned / population if observed and population else None})
    return out


def cohort_retention(con, as_of: date, cohorts: int = COHORTS, months: int = COHORT_MONTHS,
                     orders: str | None = None) -> list[dict]:
    """Per first-purchase month: its size and, for months 0..``months`` after it, the share who bought then
    (``None`` where that month is not complete at ``as_of``)."""
    orders = orders or orders_sql(as_of)
    first = _first_day(con, orders)
    ends = month_ends(first, as_of, months=cohorts + 1) if first else []
    ends = [e for e in ends if e.replace(day=1) > first.replace(day=1)][-cohorts:] if first else []
    if not ends:
        return []
    rows = con.execute(f"""
        WITH active AS (SELECT DISTINCT customer_id, date_trunc('month', day) AS month FROM {orders}),
        firsts AS (SELECT customer_id, min(month) AS cohort FROM active GROUP BY 1)
        SELECT f.cohort, date_diff('month', f.cohort, a.month) AS age, count(*) AS customers
        FROM active a JOIN firsts f USING (customer_id)
        WHERE f.cohort >= DATE '{ends[0].replace(day=1).isoformat()}' AND f.cohort <= DATE '{ends[-1].replace(day=1).isoformat()}'
          AND date_diff('month', f.cohort, a.month) <= {months}
        GROUP BY 1, 2""").fetchall()
    counts = {(r[0].date() if hasattr(r[0], "date") else r[0], int(r[1])): int(r[2]) for r in rows}
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


def _monthly(con, sql: str, cutoffs: list[date]) -> dict[str, tuple]:
    """Rows of ``sql`` (first column a month's first day) keyed by month, for the months of ``cutoffs``."""
    if not cutoffs:
        return {}
    rows = con.execute(sql).fetchall()
    wanted = {_month(t) for t in cutoffs}
    return {_month(r[0]): tuple(r[1:]) for r in rows if _month(r[0]) in wanted}


def satisfaction_by_month(con, as_of: date, cutoffs: list[date]) -> list[dict]:
    """NPS (promoters minus detractors, in points of 100) and average CSAT per month with responses."""
    end = day_end_sql(as_of)
    found = _monthly(con, f"""
        SELECT date_trunc('month', CAST(timestamp AS DATE)) AS month,
               count(*) FILTER (WHERE event_type = 'nps') AS nps_responses,
               count(*) FILTER (WHERE event_type = 'nps' AND value >= 9) AS promoters,
               count(*) FILTER (WHERE event_type = 'nps' AND value <= 6) AS detractors,
               count(*) FILTER (WHERE event_type = 'csat') AS csat_responses,
               CAST(avg(CAST(value AS {EXACT})) FILTER (WHERE event_type = 'csat') AS DOUBLE) AS csat
        FROM clean_events WHERE event_type IN ('nps', 'csat') AND value IS NOT NULL AND timestamp < {end}
        GROUP BY 1""", cutoffs)
    out = []
    for t in cutoffs:
        n, pro, det, nc, csat = found.get(_month(t), (0, 0, 0, 0, None))
        out.append({"month": _month(t), "nps_responses": int(n), "nps": 100 * (pro - det) / n if n else None,
                    "csat_responses": int(nc), "csat": float(csat) if csat is not None else None})
    return out


def support_by_month(con, as_of: date, cutoffs: list[date]) -> list[dict]:
    """Support tickets per month and the hours to first response of those that give it."""
    end = day_end_sql(as_of)
    found = _monthly(con, f"""
        SELECT date_trunc('month', CAST(timestamp AS DATE)) AS month, count(*) AS tickets,
               count(value) AS timed, CAST(avg(CAST(value AS {EXACT})) AS DOUBLE) AS mean_hours,
               quantile_cont(CAST(value AS DOUBLE), 0.5) AS median_hours
        FROM clean_events WHERE event_type = 'support_ticket' AND timestamp < {end} GROUP BY 1""", cutoffs)
    out = []
    for t in cutoffs:
        tickets, timed, mean, median = found.get(_month(t), (0, 0, None, None))
        out.append({"month": _month(t), "tickets": int(tickets), "with_response_time": int(timed),
                    "mean_response_hours": float(mean) if mean is not None else None,
                    "median_response_hours": float(median) if median is not None else None})
    return out


def growth_by_month(con, as_of: date, cutoffs: list[date], orders: str | None = None,
                    categories: str | None = None) -> list[dict]:
    """Upsell and cross-sell rates among each month's returning buyers (see the module doc)."""
    categories = categories or categories_sql(as_of)
    has_category = con.execute(f"SELECT count(*) > 0 FROM {categories}").fetchone()[0]
    found = _monthly(con, f"""
        WITH cm AS (SELECT customer_id, date_trunc('month', day) AS month, count(*) AS orders, sum(amount) AS value
                    FROM {orders or orders_sql(as_of)} GROUP BY 1, 2),
        w AS (SELECT *, sum(orders) OVER before AS prior_orders, sum(value) OVER before AS prior_value FROM cm
              WINDOW before AS (PARTITION BY customer_id ORDER BY month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
        new_category AS (SELECT DISTINCT customer_id, first_month AS month FROM {categories})
        SELECT w.month, count(*) AS returning,
               count(*) FILTER (WHERE w.value * w.prior_orders > w.prior_value * w.orders) AS upsell,
               count(n.customer_id) AS cross_sell
        FROM w LEFT JOIN new_category n USING (customer_id, month)
        WHERE w.prior_orders > 0 GROUP BY 1""", cutoffs)
    out = []
    for t in cutoffs:
        returning, up, cross = found.get(_month(t), (0, 0, 0))
        out.append({"month": _month(t), "returning_buyers": int(returning),
                    "upsell_rate": up / returning if returning else None,
                    "cross_sell_rate": cross / returning if returning and has_category else None})
    return out


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


def population_counts(con, label: LabelConfig, as_of: date, scored_ids: pd.Series | np.ndarray) -> dict:
    """How many customers with history at the as-of date the population rule leaves out, and why."""
    end = day_end_sql(as_of)
    tables = _tables(con)
    sources = [f"SELECT customer_id FROM clean_transactions WHERE timestamp < {end}"]
    if label.kind == "cancellation" and "clean_subscriptions" in tables:
        sources.append(f"SELECT customer_id FROM clean_subscriptions WHERE start_date < {end}")
    history = con.execute(f"SELECT DISTINCT customer_id FROM ({' UNION ALL '.join(sources)})").fetchdf()["customer_id"]
    scored = pd.Index(pd.Series(scored_ids, dtype=object).astype(str))
    left_out = int((~history.astype(str).isin(scored)).sum())
    rule, reason = population_rule(label.kind, label.lookback_days, label.min_purchases_in_lookback)
    return {"rule": rule, "with_history": int(len(history)), "scored": int(len(scored)), "left_out": left_out,
            "left_out_reason": reason}


def population_rule(kind: str, lookback_days: int, min_purchases_in_lookback: int) -> tuple[str, str]:
    """The population rule of a label (``pipeline.labels``) in words, and why a customer with history is not in it."""
    if kind == "cancellation":
        return ("customers with a subscription active at the end of the as-of date",
                "no active subscription at the as-of date")
    k = int(min_purchases_in_lookback)
    orders = "an order" if k == 1 else f"at least {k} orders"
    reason = (f"no order in the {lookback_days} days before the as-of date (already churned)" if k == 1
              else f"fewer than {k} orders in the {lookback_days} days before the as-of date")
    return f"customers with {orders} in the {lookback_days} days up to the as-of date", reason


def customer_health(con, label: LabelConfig, as_of: date, risk: pd.DataFrame,
                    months: int = HISTORY_MONTHS) -> dict:
    """The health of the customer base at ``as_of`` (see the module doc), JSON-ready.

    The orders and the customers' first month per category are gathered once, into temporary tables (dropped
    at the end), so the transactions are read twice, not once per measure."""
    orders, categories = "_health_orders", "_health_categories"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {orders} AS SELECT * FROM {orders_sql(as_of)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {categories} AS SELECT * FROM {categories_sql(as_of)}")
    try:
        first = _first_day(con, orders)
        cutoffs = month_ends(first, as_of, months) if first else []
        tables = _tables(con)
        health: dict = {
            "as_of": as_of.isoformat(),
            "churn_definition": {"kind": label.kind, "horizon_days": int(label.horizon_days)},
            "churn": churn_by_month(con, label, as_of, cutoffs, orders) if cutoffs else [],
            "cohorts": cohort_retention(con, as_of, orders=orders),
            "growth": growth_by_month(con, as_of, cutoffs, orders, categories),
            "tiers": value_by_tier(risk),
        }
    finally:
        con.execute(f"DROP TABLE IF EXISTS {orders}")
        con.execute(f"DROP TABLE IF EXISTS {categories}")
    if "clean_events" in tables:
        satisfaction = satisfaction_by_month(con, as_of, cutoffs)
        if any(m["nps_responses"] or m["csat_responses"] for m in satisfaction):
            health["satisfaction"] = satisfaction
        support = support_by_month(con, as_of, cutoffs)
        if any(m["tickets"] for m in support):
            health["support"] = support
    return health


__all__ = ["customer_health", "population_counts", "population_rule", "month_ends"]
