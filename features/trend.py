"""trend: the recent window against the one before it (declining spend and orders)."""

from features.registry import Context, Family, Feature, register

FAMILY = "trend"


def _features(ctx: Context) -> list[Feature]:
    w = ctx.trend_window_days
    return [
        Feature(f"spend_change_ratio_{w}d", FAMILY, "ratio",
                f"Spend in the last {w} days is {{value:.0%}} of the {w} days before", -1),
        Feature(f"spend_change_last_{w}d", FAMILY, "currency",
                f"Spend changed by {{value:+,.2f}} against the previous {w} days", -1, fill=0),
        Feature(f"orders_change_last_{w}d", FAMILY, "count",
                f"{{value:+.0f}} orders against the previous {w} days", -1, fill=0),
    ]


def _sql(ctx: Context) -> str:
    w = ctx.trend_window_days
    recent, prior = ctx.within("day", w), ctx.within("day", w, offset_days=w)
    return f"""
        SELECT * FROM (
        SELECT customer_id,
               coalesce(sum(amount) FILTER (WHERE {recent}), 0)
                   / nullif(sum(amount) FILTER (WHERE {prior}), 0) AS spend_change_ratio_{w}d,
               coalesce(sum(amount) FILTER (WHERE {recent}), 0)
                   - coalesce(sum(amount) FILTER (WHERE {prior}), 0) AS spend_change_last_{w}d
        FROM tx GROUP BY customer_id) LEFT JOIN (
        SELECT customer_id,
               count(*) FILTER (WHERE {recent}) - count(*) FILTER (WHERE {prior}) AS orders_change_last_{w}d
        FROM orders GROUP BY customer_id) USING (customer_id)"""


register(Family(FAMILY, ("transactions",), _features, sql=_sql))
