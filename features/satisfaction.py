"""satisfaction: survey scores (NPS 0-10, CSAT 1-5) and review ratings."""

from features.registry import Context, Family, Feature, register

FAMILY = "satisfaction"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("latest_nps", FAMILY, "score 0-10", "Scored us {value:n} out of 10 in their latest NPS answer", -1,
                neutral=7, fact="nps"),
        Feature("lowest_nps_last_365d", FAMILY, "score 0-10",
                "Scored us as low as {value:n} out of 10 in an NPS answer in the last year", -1, neutral=7,
                fact="nps"),
        Feature("is_nps_detractor", FAMILY, "flag",
                "Latest NPS answer is a detractor score[ ({latest_nps:n} out of 10)]", 1, fill=0, neutral=0,
                zero="Latest NPS answer is not a detractor score", fact="nps"),
        Feature("latest_csat", FAMILY, "score 1-5", "Latest satisfaction score {value:n} out of 5", -1, neutral=3,
                fact="csat"),
        Feature("lowest_csat_last_365d", FAMILY, "score 1-5",
                "Gave a satisfaction score as low as {value:n} out of 5 in the last year", -1, neutral=3,
                fact="csat"),
        Feature("average_review_rating_last_365d", FAMILY, "rating",
                "Average review rating {value:.1f} out of 5 in the last year", -1, neutral=3),
    ]


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    # Over every customer with events: a customer without survey answers or reviews gets none of these (NULL,
    # and is_nps_detractor 0), as when the family read only those event types.
    year = ctx.in_window(365)
    return {"ev": [
        "arg_max(value, timestamp) FILTER (WHERE event_type = 'nps') AS latest_nps",
        f"min(value) FILTER (WHERE event_type = 'nps' AND {year}) AS lowest_nps_last_365d",
        "CAST(coalesce(arg_max(value, timestamp) FILTER (WHERE event_type = 'nps') <= 6, false) AS INTEGER) "
        "AS is_nps_detractor",
        "arg_max(value, timestamp) FILTER (WHERE event_type = 'csat') AS latest_csat",
        f"min(value) FILTER (WHERE event_type = 'csat' AND {year}) AS lowest_csat_last_365d",
        f"avg(value) FILTER (WHERE event_type = 'review' AND {year}) AS average_review_rating_last_365d",
    ]}


register(Family(FAMILY, ("events",), _features, aggregates=_aggregates, label="Satisfaction (NPS, CSAT)"))
