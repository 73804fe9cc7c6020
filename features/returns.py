"""returns: refunds and returned orders (negative amounts or is_return rows)."""

from features.registry import Context, Family, Feature, register

FAMILY = "returns"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("returns_last_365d", FAMILY, "count", "{value:.0f} returns in the last year", 1, fill=0),
        Feature("returned_spend_share_last_365d", FAMILY, "share",
                "Returned {value:.0%} of what they bought in the last year", 1, fill=0),
        Feature("days_since_last_return", FAMILY, "days", "Last return {value:.0f} days ago", -1),
    ]


def _sql(ctx: Context) -> str:
    year = ctx.within("day", 365)
    return f"""
        SELECT customer_id,
               count(*) FILTER (WHERE NOT purchase AND {year}) AS returns_last_365d,
               coalesce(sum(abs(amount)) FILTER (WHERE NOT purchase AND {year})
                   / nullif(sum(amount) FILTER (WHERE purchase AND {year}), 0), 0) AS returned_spend_share_last_365d,
               {ctx.days_since('max(day) FILTER (WHERE NOT purchase)')} AS days_since_last_return
        FROM tx GROUP BY customer_id"""


register(Family(FAMILY, ("transactions",), _features, sql=_sql))
