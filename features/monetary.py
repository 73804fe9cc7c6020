"""monetary: net spend per window (returns subtracted), the 30 and 90 days before the last, and average order value."""

from features.registry import Context, Family, Feature, register

FAMILY = "monetary"


COMPARED_DAYS = (30, 90)  # windows also given for the window before, so a fall can be said with both numbers


def _compared(ctx: Context) -> list[int]:
    return [w for w in ctx.windows_days if w in COMPARED_DAYS]


def _spend(ctx: Context, w: int) -> Feature:
    """Spend in the last ``w`` days: a reason when nothing was bought, or, where the window before is known, when it fell
    materially (``Feature.compares``: "Spent 10.23, down from 10.24" is no reason)."""
    if w not in _compared(ctx):
        # a week without buying is no news for a customer who buys monthly: short windows are never a reason
        return Feature(f"spend_last_{w}d", FAMILY, "currency", f"Spent {{value:money}} in the last {w} days",
                       -1 if w >= 30 else 0, fill=0,
                       neutral=0.005, zero=f"Bought nothing in the last {w} days", fact="recent_purchases",
                       zero_when=(("days_since_last_purchase", ">=", w),),
                       negative=f"Returned more than they bought in the last {w} days")
    before = f"spend_previous_{w}d"
    return Feature(f"spend_last_{w}d", FAMILY, "currency",
                   f"Spent {{value:money}} in the last {w} days, down from {{{before}:money}} in the {w} days before", -1,
                   fill=0, compares=("value", before), fact="recent_purchases",
                   # "bought nothing" is false of a purchase returned in full (a spend of 0)
                   zero_when=(("days_since_last_purchase", ">=", w),),
                   zero=f"Bought nothing in the last {w} days[, after spending {{{before}:money}} in the {w} days before]",
                   negative=f"Returned more than they bought in the last {w} days")


def _features(ctx: Context) -> list[Feature]:
    out = [_spend(ctx, w) for w in ctx.windows_days]
    out += [Feature(f"spend_previous_{w}d", FAMILY, "currency", f"Spent {{value:money}} in the {w} days before the last {w}",
                    0, fill=0, negative=f"Returned more than they bought in the {w} days before the last {w}")
            for w in _compared(ctx)]
    out += [
        Feature("spend_lifetime", FAMILY, "currency", "Spent {value:money} since their first purchase", -1, fill=0,
                context=True, negative="Returned more than they bought since their first purchase", ages=True),
        Feature("average_order_value_lifetime", FAMILY, "currency", "Average order of {value:money}", -1, context=True),
    ]
    return out


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    windows = [f"coalesce(sum(amount) FILTER (WHERE {ctx.in_window(w)}), 0) AS spend_last_{w}d" for w in ctx.windows_days]
    previous = [f"coalesce(sum(amount) FILTER (WHERE {ctx.in_window(w, w)}), 0) AS spend_previous_{w}d"
                for w in _compared(ctx)]
    return {"tx": [*windows, *previous, "sum(amount) AS spend_lifetime"],
            "purchases": [f"sum(amount) / {ctx.count_orders()} AS average_order_value_lifetime"]}


register(Family(FAMILY, ("transactions",), _features, aggregates=_aggregates, label="Spend"))
