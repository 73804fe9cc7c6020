"""recency: how long since the customer last bought."""

from features.registry import Context, Family, Feature, register

FAMILY = "recency"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("days_since_last_purchase", FAMILY, "days",
                "No purchase for {value:.0f} days, {gap_ratio_since_last_purchase:.1f} times their usual gap", 1),
        Feature("days_since_previous_to_last_purchase", FAMILY, "days",
                "The purchase before their last one was {value:.0f} days ago", 1),
    ]


def _sql(ctx: Context) -> str:
    return f"""
        SELECT customer_id,
               {ctx.days_since('max(day)')} AS days_since_last_purchase,
               {ctx.days_since('CASE WHEN count(*) > 1 THEN max(day, 2)[2] END')} AS days_since_previous_to_last_purchase
        FROM purchase_days GROUP BY customer_id"""


register(Family(FAMILY, ("transactions",), _features, sql=_sql))
