"""service: support tickets and complaints, recent against prior."""

from features.registry import Context, Family, Feature, register

FAMILY = "service"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("support_tickets_last_90d", FAMILY, "count", "{value:.0f} support tickets in the last 90 days", 1, fill=0),
        Feature("complaints_last_90d", FAMILY, "count", "{value:.0f} complaints in the last 90 days", 1, fill=0),
        Feature("complaints_last_365d", FAMILY, "count", "{value:.0f} complaints in the last year", 1, fill=0),
        Feature("complaints_change_last_90d", FAMILY, "count",
                "{value:+.0f} complaints against the 90 days before", 1, fill=0),
        Feature("days_since_last_complaint", FAMILY, "days", "Last complaint {value:.0f} days ago", -1),
    ]


def _sql(ctx: Context) -> str:
    c = "event_type = 'complaint'"
    return f"""
        SELECT customer_id,
               count(*) FILTER (WHERE event_type = 'support_ticket' AND {ctx.within('timestamp', 90)})
                   AS support_tickets_last_90d,
               count(*) FILTER (WHERE {c} AND {ctx.within('timestamp', 90)}) AS complaints_last_90d,
               count(*) FILTER (WHERE {c} AND {ctx.within('timestamp', 365)}) AS complaints_last_365d,
               count(*) FILTER (WHERE {c} AND {ctx.within('timestamp', 90)})
                   - count(*) FILTER (WHERE {c} AND {ctx.within('timestamp', 90, 90)}) AS complaints_change_last_90d,
               {ctx.days_since(f"max(timestamp) FILTER (WHERE {c})")} AS days_since_last_complaint
        FROM ev GROUP BY customer_id"""


register(Family(FAMILY, ("events",), _features, sql=_sql))
