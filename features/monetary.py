"""monetary: net spend per window (returns subtracted) and average order value."""

from features.registry import Context, Family, Feature, register

FAMILY = "monetary"


def _features(ctx: Context) -> list[Feature]:
    out = [Feature(f"spend_last_{w}d", FAMILY, "currency", f"Spent {{value:,.2f}} in the last {w} days", -1, fill=0)
           for w in ctx.windows_days]
    out += [
        Feature("spend_lifetime", FAMILY, "currency", "Spent {value:,.2f} since their first purchase", -1, fill=0),
        Feature("average_order_value_lifetime", FAMILY, "currency", "Average order of {value:,.2f}", -1),
    ]
    return out


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    windows = [f"coalesce(sum(amount) FILTER (WHERE {ctx.in_window(w)}), 0) AS spend_last_{w}d" for w in ctx.windows_days]
    return {"tx": [*windows, "sum(amount) AS spend_lifetime"],
            "purchases": [f"sum(amount) / {ctx.count_orders()} AS average_order_value_lifetime"]}


register(Family(FAMILY, ("transactions",), _features, aggregates=_aggregates))
