"""subscription: what a subscriber's history says: tenure, plan changes, cancellations and renewal payments.

Subscription rows are read as of the as-of date (end dates after it are unseen). A row that starts within a
day of the end of the customer's previous one is a change of plan or price, not a cancellation and a new
subscription: an upgrade (another plan at a higher price), a downgrade (a lower price) or a price rise (the
same plan at a higher price). Where transactions hold renewal charges (``pipeline.build.features.data_choices``:
``mixed`` or ``billing``), the family also says how many were paid lately and when the last one was: a
monthly subscriber whose last payment is 45 days old has missed a renewal. Late and failed payments of
invoices are the payments family's; usage (activity per active day) is the activity family's.
"""

from features.registry import Context, Family, Feature, register

FAMILY = "subscription"
MONTH_DAYS = 30.4375
CHANGE_DAYS = 1  # a new row starting within this many days of the previous row's end is a change, not a return


def _renewal_charges(ctx: Context) -> bool:
    return ctx.transactions in ("mixed", "billing")


def _features(ctx: Context) -> list[Feature]:
    out = [
        Feature("has_active_subscription", FAMILY, "flag", "Active subscription: {value:n} (1 = yes)", -1, fill=0,
                context=True),
        Feature("subscription_plan", FAMILY, "category", "On the {value} plan", 0, kind="categorical", context=True),
        Feature("subscription_price", FAMILY, "currency", "Pays {value:money} per period", 0, context=True),
        Feature("subscription_age_days", FAMILY, "days", "Current subscription started {value:ago}", -1,
                context=True, ages=True, monotone=True),
        Feature("months_subscribed", FAMILY, "count", "Subscribed for {value:count:month} in all", -1, fill=0,
                context=True, ages=True),
        Feature("days_to_renewal", FAMILY, "days", "Their subscription renews {value:in}", -1, neutral=7,
                cycle_days=31),
        Feature("cancelled_subscriptions_last_365d", FAMILY, "count",
                "Cancelled {value:count:subscription} in the last year", 1, fill=0, neutral=0),
        Feature("plan_upgrades_last_365d", FAMILY, "count", "Moved to a dearer plan {value:count:time} in the last year",
                0, fill=0),
        Feature("plan_downgrades_last_365d", FAMILY, "count",
                "Moved to a cheaper plan {value:count:time} in the last year", 1, fill=0, neutral=0),
        Feature("price_rises_last_365d", FAMILY, "count",
                "Their plan's price went up {value:count:time} in the last year", 1, fill=0, neutral=0),
        # when a subscription last started or ended: "Not active in the last 30 days" is never said of someone who
        # subscribed or cancelled in those days (features.activity). A condition only, no model input
        # (Feature.model_input): as an input it took the late-payment cause's place in the model
        Feature("days_since_last_subscription_start_or_end", FAMILY, "days",
                "Last started or ended a subscription {value:ago}", 0, model_input=False),
    ]
    if _renewal_charges(ctx):
        out += [
            Feature("renewal_charges_last_90d", FAMILY, "count", "Paid {value:count:renewal} in the last 90 days", -1,
                    fill=0, neutral=3, zero="No renewal paid in the last 90 days"),
            Feature("days_since_last_renewal_charge", FAMILY, "days",
                    "Last renewal paid {value:ago}: a renewal is overdue", 1, neutral=35),
        ]
    return out


def _sql(ctx: Context) -> str:
    active = "(end_date IS NULL)"
    age = ctx.days_since("start_date")
    year = ctx.within("start_date", 365)
    changed = f"(prev_end IS NOT NULL AND abs(date_diff('day', prev_end, start_date)) <= {CHANGE_DAYS})"
    returned = f"(next_start IS NOT NULL AND abs(date_diff('day', end_date, next_start)) <= {CHANGE_DAYS})"
    # a customer's rows in a fixed order, whatever the order of the table
    order = "PARTITION BY customer_id ORDER BY start_date, end_date NULLS LAST, plan, price"
    query = f"""
        SELECT customer_id,
               CAST(bool_or({active}) AS INTEGER) AS has_active_subscription,
               arg_max(plan, start_date) FILTER (WHERE {active}) AS subscription_plan,
               arg_max(price, start_date) FILTER (WHERE {active}) AS subscription_price,
               max({age}) FILTER (WHERE {active}) AS subscription_age_days,
               floor(sum(date_diff('day', start_date, coalesce(end_date, {ctx.end_sql}))) / {MONTH_DAYS})
                   AS months_subscribed,
               min(date_diff('day', {ctx.as_of_sql},
                   CAST(start_date + to_months(CAST(ceil(date_diff('day', start_date, {ctx.as_of_sql} + 1) / {MONTH_DAYS})
                        AS INTEGER)) AS DATE))) FILTER (WHERE {active}) AS days_to_renewal,
               count(*) FILTER (WHERE end_date IS NOT NULL AND {ctx.within('end_date', 365)} AND NOT {returned})
                   AS cancelled_subscriptions_last_365d,
               count(*) FILTER (WHERE {changed} AND {year} AND price > prev_price AND plan IS DISTINCT FROM prev_plan)
                   AS plan_upgrades_last_365d,
               count(*) FILTER (WHERE {changed} AND {year} AND price < prev_price) AS plan_downgrades_last_365d,
               count(*) FILTER (WHERE {changed} AND {year} AND price > prev_price AND plan IS NOT DISTINCT FROM prev_plan)
                   AS price_rises_last_365d,
               {ctx.days_since('max(greatest(start_date, coalesce(end_date, start_date)))')}
                   AS days_since_last_subscription_start_or_end
        FROM (SELECT *, lag(end_date) OVER w AS prev_end, lag(price) OVER w AS prev_price, lag(plan) OVER w AS prev_plan,
                     lead(start_date) OVER w AS next_start
              FROM subs WINDOW w AS ({order}))
        GROUP BY customer_id"""
    if not _renewal_charges(ctx):
        return query
    return f"""
        SELECT s.*, coalesce(r.renewal_charges_last_90d, 0) AS renewal_charges_last_90d,
               r.days_since_last_renewal_charge
        FROM ({query}) s LEFT JOIN (
            SELECT customer_id, count(*) FILTER (WHERE {ctx.within('timestamp', 90)}) AS renewal_charges_last_90d,
                   {ctx.days_since('max(timestamp)')} AS days_since_last_renewal_charge
            FROM renewals GROUP BY customer_id) r USING (customer_id)"""


register(Family(FAMILY, ("subscriptions",), _features, sql=_sql, label="Subscription"))
