"""frequency: how many orders, per window and over the customer's life."""

from features.registry import Context, Family, Feature, register

FAMILY = "frequency"


def _features(ctx: Context) -> list[Feature]:
    out = [Feature(f"orders_last_{w}d", FAMILY, "count", f"{{value:.0f}} orders in the last {w} days", -1, fill=0)
           for w in ctx.windows_days]
    out.append(Feature("orders_lifetime", FAMILY, "count", "{value:.0f} orders since their first purchase", -1, fill=0))
    out.append(Feature("orders_per_month_lifetime", FAMILY, "orders per month",
                       "{value:.1f} orders a month on average over their life", -1))
    return out


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    windows = [f"{ctx.count_orders(ctx.in_window(w))} AS orders_last_{w}d" for w in ctx.windows_days]
    orders = ctx.count_orders()
    return {"purchases": [*windows, f"{orders} AS orders_lifetime",
                          f"{orders} * 30.0 / greatest(max(age), 30) AS orders_per_month_lifetime"]}


register(Family(FAMILY, ("transactions",), _features, aggregates=_aggregates))
