"""engagement: visits, e-mail opens and how they fade."""

from features.registry import Context, Family, Feature, register
from pipeline.core.schema import KNOWN_EVENT_TYPES
from pipeline.core.sql import sql_string

FAMILY = "engagement"


def _features(ctx: Context) -> list[Feature]:
    w = ctx.trend_window_days
    return [
        *[Feature(f"visits_last_{d}d", FAMILY, "count",
                  f"{{value:count:visit}} in the last {d} days, down from {{visits_previous_{d}d:n}} in the {d} days before",
                  -1, fill=0, compares=("value", f"visits_previous_{d}d"), fact="recent_activity",
                  zero=f"No visits in the last {d} days, down from {{visits_previous_{d}d:n}} in the {d} days before")
          for d in (30, 90)],
        *[Feature(f"visits_previous_{d}d", FAMILY, "count", f"{{value:count:visit}} in the {d} days before the last {d}",
                  0, fill=0) for d in (30, 90)],
        Feature("days_since_last_visit", FAMILY, "days", "Last visit {value:ago}", 1, neutral=14,
                missing="No visits on record", fact="recent_activity"),
        Feature(f"visit_change_ratio_{w}d", FAMILY, "ratio",
                f"Visits in the last {w} days fell to {{value:.0%}} of the {w} days before", -1,
                compares=(f"visits_last_{w}d", f"visits_previous_{w}d"), counted=True, fact="recent_activity"),
        Feature("email_opens_last_90d", FAMILY, "count", "Opened {value:count:e-mail} in the last 90 days", 0, fill=0),
        Feature("other_events_last_90d", FAMILY, "count",
                "{value:count:other recorded event} in the last 90 days", 0, fill=0),
    ]


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    w = ctx.trend_window_days
    # types with activity features of their own are not "other" (features/activity.py)
    known = ", ".join(sql_string(t) for t in KNOWN_EVENT_TYPES + ctx.event_types)
    visit = "event_type = 'visit'"
    return {"ev": [
        f"count(*) FILTER (WHERE {visit} AND {ctx.in_window(30)}) AS visits_last_30d",
        f"count(*) FILTER (WHERE {visit} AND {ctx.in_window(90)}) AS visits_last_90d",
        f"count(*) FILTER (WHERE {visit} AND {ctx.in_window(30, 30)}) AS visits_previous_30d",
        f"count(*) FILTER (WHERE {visit} AND {ctx.in_window(90, 90)}) AS visits_previous_90d",
        f"{ctx.days_since(f'max(timestamp) FILTER (WHERE {visit})')} AS days_since_last_visit",
        f"count(*) FILTER (WHERE {visit} AND {ctx.in_window(w)}) "
        f"/ nullif(count(*) FILTER (WHERE {visit} AND {ctx.in_window(w, w)}), 0) AS visit_change_ratio_{w}d",
        f"count(*) FILTER (WHERE event_type = 'email_open' AND {ctx.in_window(90)}) AS email_opens_last_90d",
        f"count(*) FILTER (WHERE event_type NOT IN ({known}) AND {ctx.in_window(90)}) "
        "AS other_events_last_90d",
    ]}


register(Family(FAMILY, ("events",), _features, aggregates=_aggregates, label="Engagement (visits, e-mails)"))
