"""returns: refunds and returned orders (negative amounts or is_return rows)."""

from features.registry import Context, Family, Feature, register

FAMILY = "returns"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("returns_last_365d", FAMILY, "count", "{value:count:return} in the last year", 1, fill=0, neutral=0,
                fact="returns"),
        Feature("returned_spend_share_last_365d", FAMILY, "share",
                "Returned {value:.0%} of what they bought in the last year", 1, fill=0, neutral=0.05,
                fact="returns"),  # returning under a twentieth of what one buys is usual
        Feature("days_since_last_return", FAMILY, "days", "Last return {value:ago}", -1, neutral=60, fact="returns"),
    ]


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    year = ctx.in_window(365)
    return {"tx": [
        f"count(*) FILTER (WHERE NOT purchase AND {year}) AS returns_last_365d",
        f"coalesce(sum(abs(amount)) FILTER (WHERE NOT purchase AND {year})"
        f" / nullif(sum(amount) FILTER (WHERE purchase AND {year}), 0), 0) AS returned_spend_share_last_365d",
        "min(age) FILTER (WHERE NOT purchase) AS days_since_last_return",
    ]}


register(Family(FAMILY, ("transactions",), _features, aggregates=_aggregates, label="Returns"))
