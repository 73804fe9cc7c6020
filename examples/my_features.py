"""An example of your own feature family, kept outside the package: weekend shopping and discount hunting.

It registers itself exactly as the built-in families in ``features/`` do. Switch it on in params.yaml:

    features:
      extra_modules: [examples/my_features.py]

then check it on your data with ``churn check-features --data DIR``, and train as usual.
"""

from features.registry import Context, Family, Feature, register

FAMILY = "shopping_habits"


def _features(ctx: Context) -> list[Feature]:
    # name (full words, window, unit), family, unit, a sentence for one customer, direction of risk, fill
    return [
        Feature("weekend_purchase_share_last_365d", FAMILY, "share",
                "{value:.0%} of their purchases in the last year were at the weekend", 0),
        Feature("discounted_purchase_share_last_365d", FAMILY, "share",
                "{value:.0%} of their purchases in the last year had a discount", 1),
        Feature("days_since_last_discounted_purchase", FAMILY, "days",
                "Last bought with a discount {value:.0f} days ago", -1),
    ]


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    # Per-customer aggregates over ``tx``: one row per transaction line up to the end of the as-of day, with
    # ``age`` (whole days before the as-of date) and ``purchase`` (not a return). Names are the features'.
    last_year = ctx.in_window(365)
    return {"tx": [
        "avg(CASE WHEN dayofweek(timestamp) IN (0, 6) THEN 1.0 ELSE 0.0 END) "
        f"FILTER (WHERE purchase AND {last_year}) AS weekend_purchase_share_last_365d",
        "avg(CASE WHEN discount > 0 THEN 1.0 ELSE 0.0 END) "
        f"FILTER (WHERE purchase AND {last_year}) AS discounted_purchase_share_last_365d",
        "min(age) FILTER (WHERE purchase AND discount > 0) AS days_since_last_discounted_purchase",
    ]}


register(Family(FAMILY, ("transactions",), _features, aggregates=_aggregates))
