"""Point-in-time population and churn labels.

How it works, and why: docs/models.md, section "pipeline/build/labels.py".
"""

from __future__ import annotations

from datetime import date, timedelta

from features.registry import Context, day_end_sql
from pipeline.core.config import LabelConfig


def population_aggregates(label: LabelConfig) -> dict[str, list[str]]:
    """Per-customer aggregates the population needs, computed with the families' own over ``purchases``."""
    if label.kind == "cancellation":
        return {}
    return {"purchases": [f"{Context.count_orders(f'age < {int(label.lookback_days)}')} AS population_orders"]}


def population_sql(label: LabelConfig) -> str:
    """Customers to score or train on at the as-of date of the relations it reads (``agg_purchases``, with
    ``population_aggregates`` over purchases whose ``age`` counts days back from that date, and ``subs``):
    ``customer_id`` and ``customer_key``, the integer key of the transaction relations (NULL for a
    subscriber without transactions)."""
    if label.kind == "cancellation":
        return """SELECT DISTINCT customer_id, k.customer_key
                  FROM subs LEFT JOIN customer_keys k USING (customer_id) WHERE end_date IS NULL"""
    return f"""
        SELECT k.customer_id, k.customer_key FROM customer_keys k JOIN agg_purchases a USING (customer_key)
        WHERE a.population_orders >= {int(label.min_purchases_in_lookback)}"""


def labels_sql(label: LabelConfig, cutoff: date) -> str:
    """churned and future_value for every customer of the ``population`` view, from (cutoff, cutoff+h];
    reads the shard's typed rows up to the end of the horizon (``shard_transactions`` with ``purchase`` and
    exact ``amount``, ``shard_subscriptions``)."""
    start, end = day_end_sql(cutoff), day_end_sql(cutoff + timedelta(days=label.horizon_days))
    window = f"timestamp >= {start} AND timestamp < {end}"
    value = f"""
        SELECT customer_key, count(*) FILTER (WHERE purchase) AS purchases, greatest(sum(amount), 0) AS future_value
        FROM shard_transactions WHERE {window} GROUP BY customer_key"""
    if label.kind == "cancellation":
        churn = f"""(SELECT customer_id,
                       bool_and(end_date IS NOT NULL AND end_date < {end}) AS churned
                FROM shard_subscriptions
                WHERE start_date < {start} AND (end_date IS NULL OR end_date >= {start})
                   OR (start_date >= {start} AND start_date < {end} AND (end_date IS NULL OR end_date >= {end}))
                GROUP BY customer_id)"""
        churned = "coalesce(c.churned, true)"
        join = f"LEFT JOIN {churn} c USING (customer_id)"
    else:
        churned = "coalesce(v.purchases, 0) = 0"
        join = ""
    return f"""
        SELECT p.customer_id, CAST({churned} AS INTEGER) AS churned,
               CAST(coalesce(v.future_value, 0) AS DOUBLE) AS future_value
        FROM population p LEFT JOIN ({value}) v USING (customer_key) {join}"""
