"""service: support tickets, how long they waited for a first reply (a ticket's ``value``, in hours, when
given) and complaints, recent against prior."""

from features.registry import Context, Family, Feature, register

FAMILY = "service"
# A first reply within a day is service as usual; a slower one is a reason (and the senior call's condition).
SLOW_REPLY_HOURS = 24


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("support_tickets_last_90d", FAMILY, "count", "{value:count:support ticket} in the last 90 days", 1,
                fill=0, neutral=0, fact="support_tickets"),
        Feature("mean_response_hours_last_90d", FAMILY, "hours",
                "Waited {value:count:hour} on average for a first reply to their support tickets in the last 90 days",
                1, neutral=SLOW_REPLY_HOURS, fact="reply_time"),
        Feature("max_response_hours_last_90d", FAMILY, "hours",
                "Waited up to {value:count:hour} for a first reply to a support ticket in the last 90 days", 1,
                neutral=SLOW_REPLY_HOURS, fact="reply_time"),
        Feature("complaints_last_90d", FAMILY, "count", "{value:count:complaint} in the last 90 days", 1, fill=0,
                neutral=0, fact="complaints"),
        Feature("complaints_last_365d", FAMILY, "count", "{value:count:complaint} in the last year", 1, fill=0,
                neutral=0, fact="complaints"),
        Feature("complaints_change_last_90d", FAMILY, "count",
                "{value:count:complaint} more in the last 90 days than in the 90 days before", 1, fill=0,
                compares=("complaints_last_90d", None), fact="complaints"),
        Feature("days_since_last_complaint", FAMILY, "days", "Last complaint {value:ago}", -1, neutral=ctx.horizon_days,
                fact="complaints"),  # a complaint older than the horizon is not recent
    ]


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    c, ticket = "event_type = 'complaint'", "event_type = 'support_ticket'"
    return {"ev": [
        f"count(*) FILTER (WHERE event_type = 'support_ticket' AND {ctx.in_window(90)}) "
        "AS support_tickets_last_90d",
        f"avg(value) FILTER (WHERE {ticket} AND {ctx.in_window(90)}) AS mean_response_hours_last_90d",
        f"max(value) FILTER (WHERE {ticket} AND {ctx.in_window(90)}) AS max_response_hours_last_90d",
        f"count(*) FILTER (WHERE {c} AND {ctx.in_window(90)}) AS complaints_last_90d",
        f"count(*) FILTER (WHERE {c} AND {ctx.in_window(365)}) AS complaints_last_365d",
        f"count(*) FILTER (WHERE {c} AND {ctx.in_window(90)}) "
        f"- count(*) FILTER (WHERE {c} AND {ctx.in_window(90, 90)}) AS complaints_change_last_90d",
        f"{ctx.days_since(f'max(timestamp) FILTER (WHERE {c})')} AS days_since_last_complaint",
    ]}


register(Family(FAMILY, ("events",), _features, aggregates=_aggregates, label="Customer service"))
