"""subscription: plan, price, age and time to the next monthly renewal (end dates after as_of are unseen)."""

from features.registry import Context, Family, Feature, register

FAMILY = "subscription"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("has_active_subscription", FAMILY, "flag", "Active subscription: {value:.0f} (1 = yes)", -1, fill=0),
        Feature("subscription_plan", FAMILY, "category", "On the {value} plan", 0, kind="categorical"),
        Feature("subscription_price", FAMILY, "currency", "Pays {value:,.2f} per period", 0),
        Feature("subscription_age_days", FAMILY, "days", "Subscribed for {value:.0f} days", -1),
        Feature("days_to_renewal", FAMILY, "days", "Next renewal in {value:.0f} days", -1),
        Feature("cancelled_subscriptions_last_365d", FAMILY, "count",
                "Cancelled {value:.0f} subscriptions in the last year", 1, fill=0),
    ]


def _sql(ctx: Context) -> str:
    active = "(end_date IS NULL)"
    age = ctx.days_since("start_date")
    return f"""
        SELECT customer_id,
               CAST(bool_or({active}) AS INTEGER) AS has_active_subscription,
               arg_max(plan, start_date) FILTER (WHERE {active}) AS subscription_plan,
               arg_max(price, start_date) FILTER (WHERE {active}) AS subscription_price,
               max({age}) FILTER (WHERE {active}) AS subscription_age_days,
               min(date_diff('day', {ctx.as_of_sql},
                   CAST(start_date + to_months(CAST(ceil(date_diff('day', start_date, {ctx.as_of_sql} + 1) / 30.4375)
                        AS INTEGER)) AS DATE))) FILTER (WHERE {active}) AS days_to_renewal,
               count(*) FILTER (WHERE end_date IS NOT NULL AND {ctx.within('end_date', 365)})
                   AS cancelled_subscriptions_last_365d
        FROM subs GROUP BY customer_id"""


register(Family(FAMILY, ("subscriptions",), _features, sql=_sql))
