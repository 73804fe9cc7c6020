"""regularity: the customer's usual gap between purchase days, and how overdue they are against it."""

from features.registry import Context, Family, Feature, register

FAMILY = "regularity"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("mean_days_between_purchases", FAMILY, "days", "Usually buys every {value:.0f} days", 0),
        Feature("std_days_between_purchases", FAMILY, "days",
                "Their gap between purchases varies by {value:.0f} days", 0),
        Feature("cv_days_between_purchases", FAMILY, "ratio",
                "Their purchase rhythm is irregular (variation {value:.2f} of the usual gap)", 1),
        Feature("gap_ratio_since_last_purchase", FAMILY, "ratio",
                "{days_since_last_purchase:.0f} days since the last purchase, {value:.1f} times their usual gap", 1),
    ]


def _sql(ctx: Context) -> str:
    return f"""
        WITH gaps AS (
            SELECT customer_id, day,
                   date_diff('day', lag(day) OVER (PARTITION BY customer_id ORDER BY day), day) AS gap
            FROM purchase_days),
        stats AS (
            -- exact integer sums, so the result does not depend on the order threads combine rows
            SELECT customer_id, count(gap) AS n, sum(gap) AS s, sum(gap * gap) AS ss, max(day) AS last_day
            FROM gaps GROUP BY customer_id)
        SELECT customer_id,
               s / nullif(n, 0) AS mean_days_between_purchases,
               CASE WHEN n > 1 THEN sqrt(greatest(ss - s * s / n, 0) / (n - 1)) END AS std_days_between_purchases,
               CASE WHEN n > 1 THEN sqrt(greatest(ss - s * s / n, 0) / (n - 1)) / nullif(s / n, 0) END
                   AS cv_days_between_purchases,
               {ctx.days_since('last_day')} / nullif(s / n, 0) AS gap_ratio_since_last_purchase
        FROM stats"""


register(Family(FAMILY, ("transactions",), _features, sql=_sql))
