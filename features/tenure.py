"""tenure: how long the customer has been buying."""

from features.registry import Context, Family, Feature, register

FAMILY = "tenure"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("days_since_first_purchase", FAMILY, "days", "First purchase {value:.0f} days ago", -1),
        Feature("active_months_last_365d", FAMILY, "count", "Bought in {value:.0f} of the last 12 months", -1, fill=0),
    ]


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    return {"purchases": [
        "max(age) AS days_since_first_purchase",
        # one bit per 30-day month of the last 360 days: no DISTINCT aggregate needed
        f"coalesce(bit_count(bit_or(CASE WHEN {ctx.in_window(360)} THEN CAST(1 AS INTEGER) << CAST(age // 30 AS INTEGER)"
        " END)), 0) AS active_months_last_365d",
    ]}


register(Family(FAMILY, ("transactions",), _features, aggregates=_aggregates))
