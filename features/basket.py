"""basket: what a typical order holds over the last year."""

from features.registry import Context, Family, Feature, register

FAMILY = "basket"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("items_per_order_last_365d", FAMILY, "items", "{value:.1f} items per order in the last year", -1),
        Feature("distinct_categories_last_365d", FAMILY, "count",
                "Bought from {value:.0f} categories in the last year", -1, fill=0),
        Feature("average_order_value_last_365d", FAMILY, "currency",
                "Average order of {value:,.2f} in the last year", -1),
        Feature("discount_share_last_365d", FAMILY, "share",
                "{value:.0%} of their spend in the last year was discount", 1),
    ]


def _sql(ctx: Context) -> str:
    year = ctx.within("day", 365)
    return f"""
        SELECT *
        FROM (SELECT customer_id,
                     avg(quantity) AS items_per_order_last_365d,
                     avg(amount) AS average_order_value_last_365d,
                     sum(discount) / nullif(sum(amount) + sum(discount), 0) AS discount_share_last_365d
              FROM orders WHERE {year} GROUP BY customer_id)
        LEFT JOIN (SELECT customer_id, count(DISTINCT category) AS distinct_categories_last_365d
                   FROM tx WHERE purchase AND {year} GROUP BY customer_id) USING (customer_id)"""


register(Family(FAMILY, ("transactions",), _features, sql=_sql))
