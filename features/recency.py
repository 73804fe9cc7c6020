"""recency: how long since the customer last bought."""

from features.registry import Context, Family, Feature, register

FAMILY = "recency"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("days_since_last_purchase", FAMILY, "days",
                # how overdue that is against their own rhythm is the regularity family's reason, said only when
                # it is overdue (a ratio below 1 here would contradict the risk it names); a few days without a
                # purchase are no news by themselves (as for a visit: days_since_last_visit)
                "No purchase for {value:count:day}", 1, neutral=14, fact="last_purchase", monotone=True),
        Feature("days_since_previous_to_last_purchase", FAMILY, "days",
                "The purchase before their last one was {value:ago}", 0),
    ]


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    return {"purchases": [
        "min(age) AS days_since_last_purchase",
        # the previous purchase day is where the most recent positive gap starts
        "min(age + gap) FILTER (WHERE gap > 0) AS days_since_previous_to_last_purchase",
    ]}


register(Family(FAMILY, ("transactions",), _features, aggregates=_aggregates, label="Time since last purchase"))
