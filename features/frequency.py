"""frequency: how many orders, per window and over the customer's life, and in how many of the last 12 months."""

from features.registry import Context, Family, Feature, register

FAMILY = "frequency"


def _features(ctx: Context) -> list[Feature]:
    # no order in a week is no news for a customer who buys monthly: windows under 30 days are never a reason
    out = [Feature(f"orders_last_{w}d", FAMILY, "count", f"{{value:count:order}} in the last {w} days", -1 if w >= 30 else 0,
                   fill=0, neutral=1, fact="recent_purchases",
                   zero=f"No orders in the last {w} days") for w in ctx.windows_days]
    out.append(Feature("orders_lifetime", FAMILY, "count", "{value:count:order} since their first purchase", -1, fill=0,
                       context=True, ages=True, monotone=True))
    out.append(Feature("orders_per_month_lifetime", FAMILY, "orders per month",
                       "{value:.1f} orders a month on average over their life", -1, context=True))
    # a count of months is a trait of the customer's rhythm, not a change that raises risk now: never a reason
    out.append(Feature("active_months_last_365d", FAMILY, "count", "Bought in {value:n} of the last 12 months", -1, fill=0,
                       neutral=6, zero="Bought in none of the last 12 months", trait=True))
    return out


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    windows = [f"{ctx.count_orders(ctx.in_window(w))} AS orders_last_{w}d" for w in ctx.windows_days]
    orders = ctx.count_orders()
    return {"purchases": [*windows, f"{orders} AS orders_lifetime",
                          f"{orders} * 30.0 / greatest(max(age), 30) AS orders_per_month_lifetime",
                          # one bit per 30-day month of the last 360 days: no DISTINCT aggregate needed
                          f"coalesce(bit_count(bit_or(CASE WHEN {ctx.in_window(360)} THEN CAST(1 AS INTEGER)"
                          " << CAST(age // 30 AS INTEGER) END)), 0) AS active_months_last_365d"]}


register(Family(FAMILY, ("transactions",), _features, aggregates=_aggregates, label="Purchase frequency"))
