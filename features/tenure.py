"""tenure: how long the customer has been buying (context: a fact for their card, never a driver)."""

from features.registry import Context, Family, Feature, register

FAMILY = "tenure"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("days_since_first_purchase", FAMILY, "days", "First purchase {value:ago}", -1, context=True,
                ages=True),
    ]


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    return {"purchases": ["max(age) AS days_since_first_purchase"]}


register(Family(FAMILY, ("transactions",), _features, aggregates=_aggregates, label="Time as a customer"))
