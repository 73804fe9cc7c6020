"""engagement: visits, e-mail opens and how they fade."""

from features.registry import Context, Family, Feature, register
from pipeline.schema import KNOWN_EVENT_TYPES

FAMILY = "engagement"


def _features(ctx: Context) -> list[Feature]:
    w = ctx.trend_window_days
    return [
        *[Feature(f"visits_last_{d}d", FAMILY, "count", f"{{value:.0f}} visits in the last {d} days", -1, fill=0)
          for d in (30, 90)],
        Feature("days_since_last_visit", FAMILY, "days", "Last visit {value:.0f} days ago", 1),
        Feature(f"visit_change_ratio_{w}d", FAMILY, "ratio",
                f"Visits in the last {w} days are {{value:.0%}} of the {w} days before", -1),
        Feature("email_opens_last_90d", FAMILY, "count", "Opened {value:.0f} e-mails in the last 90 days", -1, fill=0),
        Feature("other_events_last_90d", FAMILY, "count",
                "{value:.0f} other recorded events in the last 90 days", 0, fill=0),
    ]


def _sql(ctx: Context) -> str:
    w = ctx.trend_window_days
    known = ", ".join(f"'{t}'" for t in KNOWN_EVENT_TYPES)
    visit = "event_type = 'visit'"
    return f"""
        SELECT customer_id,
               count(*) FILTER (WHERE {visit} AND {ctx.within('timestamp', 30)}) AS visits_last_30d,
               count(*) FILTER (WHERE {visit} AND {ctx.within('timestamp', 90)}) AS visits_last_90d,
               {ctx.days_since(f"max(timestamp) FILTER (WHERE {visit})")} AS days_since_last_visit,
               count(*) FILTER (WHERE {visit} AND {ctx.within('timestamp', w)})
                   / nullif(count(*) FILTER (WHERE {visit} AND {ctx.within('timestamp', w, w)}), 0)
                   AS visit_change_ratio_{w}d,
               count(*) FILTER (WHERE event_type = 'email_open' AND {ctx.within('timestamp', 90)})
                   AS email_opens_last_90d,
               count(*) FILTER (WHERE event_type NOT IN ({known}) AND {ctx.within('timestamp', 90)})
                   AS other_events_last_90d
        FROM ev GROUP BY customer_id"""


register(Family(FAMILY, ("events",), _features, sql=_sql))
