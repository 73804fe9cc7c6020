"""tenure: how long the customer has been buying."""

from features.registry import Context, Family, Feature, register

FAMILY = "tenure"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("days_since_first_purchase", FAMILY, "days", "First purchase {value:.0f} days ago", -1),
        Feature("active_months_last_365d", FAMILY, "count", "Bought in {value:.0f} of the last 12 months", -1, fill=0),
    ]


def _sql(ctx: Context) -> str:
    return f"""
        SELECT customer_id,
               {ctx.days_since('min(day)')} AS days_since_first_purchase,
               -- one bit per 30-day month of the last 360 days: no DISTINCT aggregate needed
               coalesce(bit_count(bit_or(CASE WHEN {ctx.within('day', 360)}
                   THEN CAST(1 AS INTEGER) << CAST({ctx.days_since('day')} // 30 AS INTEGER) END)), 0)
                   AS active_months_last_365d
        FROM purchase_days GROUP BY customer_id"""


register(Family(FAMILY, ("transactions",), _features, sql=_sql))
