"""trend: the recent window against the one before it (declining spend and orders)."""

from features.registry import Context, Family, Feature, register

FAMILY = "trend"


def _features(ctx: Context) -> list[Feature]:
    w = ctx.trend_window_days
    return [
        Feature(f"spend_change_ratio_{w}d", FAMILY, "ratio",
                f"Spend in the last {w} days fell to {{value:.0%}} of the {w} days before", -1, neutral=0.95,
                zero=f"Bought nothing in the last {w} days after buying in the {w} days before"),
        Feature(f"spend_change_last_{w}d", FAMILY, "currency",
                f"Spent {{value:abs money}} less in the last {w} days than in the {w} days before", -1, fill=0, neutral=0),
        Feature(f"orders_change_last_{w}d", FAMILY, "count",
                f"{{value:abs count:order}} fewer in the last {w} days than in the {w} days before", -1, fill=0, neutral=0),
    ]


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    w = ctx.trend_window_days
    recent, prior = ctx.in_window(w), ctx.in_window(w, offset_days=w)
    return {
        "tx": [f"coalesce(sum(amount) FILTER (WHERE {recent}), 0) AS trend_spend_recent",
               f"coalesce(sum(amount) FILTER (WHERE {prior}), 0) AS trend_spend_prior"],
        "purchases": [f"{ctx.count_orders(recent)} - {ctx.count_orders(prior)} AS orders_change_last_{w}d"],
    }


def _columns(ctx: Context) -> dict[str, str]:
    w = ctx.trend_window_days
    return {f"spend_change_ratio_{w}d": "trend_spend_recent / nullif(trend_spend_prior, 0)",
            f"spend_change_last_{w}d": "trend_spend_recent - trend_spend_prior"}


register(Family(FAMILY, ("transactions",), _features, aggregates=_aggregates, columns=_columns))
