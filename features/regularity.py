"""regularity: the customer's usual gap between purchase days, and how overdue they are against it."""

from features.registry import Context, Family, Feature, register

FAMILY = "regularity"
# A usual gap between purchases is the mean of at least three gaps: one gap ("usually buys every 2 days") is chance.
USUAL_CYCLE_GAPS = 3


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("mean_days_between_purchases", FAMILY, "days", "Usually buys {value:every}", 0),
        Feature("std_days_between_purchases", FAMILY, "days",
                "Their gap between purchases varies by {value:count:day}", 0),
        # how irregular a customer's rhythm has always been is a trait, not a change an agent could raise with
        # them ("gaps between purchases vary by 17 days around a usual 17 days"): it describes, never names a driver
        Feature("cv_days_between_purchases", FAMILY, "ratio",
                "Buys irregularly: gaps between purchases vary by {std_days_between_purchases:count:day}"
                " around a usual {mean_days_between_purchases:count:day}", 0),
        # the days since the last purchase against the usual gap: overdue when materially longer (Feature.compares)
        Feature("gap_ratio_since_last_purchase", FAMILY, "ratio",
                "Last bought {days_since_last_purchase:ago}, though they usually buy"
                " {mean_days_between_purchases:every}", 1, compares=(None, "mean_days_between_purchases"),
                fact="last_purchase", said_when=(("purchase_gaps_lifetime", ">=", USUAL_CYCLE_GAPS),)),
        # how many gaps the usual one is the mean of: a usual cycle needs USUAL_CYCLE_GAPS of them
        Feature("purchase_gaps_lifetime", FAMILY, "count", "{value:count:gap} between purchase days on record", 0,
                fill=0),
    ]


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    # gap > 0 picks one gap per pair of consecutive purchase days (the other lines of a day have gap 0); exact
    # integer sums, so the result does not depend on the order threads combine rows
    return {"purchases": ["count(*) FILTER (WHERE gap > 0) AS regularity_gaps",
                       "sum(gap) FILTER (WHERE gap > 0) AS regularity_gap_sum",
                       "sum(gap * gap) FILTER (WHERE gap > 0) AS regularity_gap_squares",
                       "min(age) AS regularity_days_since_last"]}


def _columns(ctx: Context) -> dict[str, str]:
    n, s, ss = "regularity_gaps", "regularity_gap_sum", "regularity_gap_squares"
    std = f"CASE WHEN {n} > 1 THEN sqrt(greatest({ss} - {s} * {s} / {n}, 0) / ({n} - 1)) END"
    return {
        "mean_days_between_purchases": f"{s} / nullif({n}, 0)",
        "std_days_between_purchases": std,
        "cv_days_between_purchases": f"{std} / nullif({s} / {n}, 0)",
        "gap_ratio_since_last_purchase": f"regularity_days_since_last / nullif({s} / {n}, 0)",
        "purchase_gaps_lifetime": n,
    }


register(Family(FAMILY, ("transactions",), _features, aggregates=_aggregates, columns=_columns, label="Purchase rhythm"))
