"""basket: what a typical order holds over the last year."""

from features.registry import Context, Family, Feature, register

FAMILY = "basket"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("items_per_order_last_365d", FAMILY, "items", "{value:.1f} items per order in the last year", 0),
        Feature("distinct_categories_last_365d", FAMILY, "count",
                "Bought from {value:count:category|categories} in the last year", -1, fill=0, neutral=2, trait=True),
        Feature("average_order_value_last_365d", FAMILY, "currency",
                "Average order of {value:money} in the last year", 0, missing="No orders in the last year"),
        Feature("discount_share_last_365d", FAMILY, "share",
                "{value:.0%} of their spend in the last year was on discount", 0),
    ]


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    year = ctx.in_window(365)
    return {"purchases": [f"{ctx.count_orders(year)} AS basket_orders_last_365d",
                          f"sum(quantity) FILTER (WHERE {year}) AS basket_items_last_365d",
                          f"sum(discount) FILTER (WHERE {year}) AS basket_discount_last_365d",
                          f"sum(amount) FILTER (WHERE {year}) AS basket_spend_last_365d"]}


def _columns(ctx: Context) -> dict[str, str]:
    return {"items_per_order_last_365d": "basket_items_last_365d / nullif(basket_orders_last_365d, 0)",
            "average_order_value_last_365d": "basket_spend_last_365d / nullif(basket_orders_last_365d, 0)",
            "discount_share_last_365d":
            "basket_discount_last_365d / nullif(basket_spend_last_365d + basket_discount_last_365d, 0)"}


def _sql(ctx: Context) -> str:
    # a DISTINCT aggregate is cheaper in a query of its own than beside the shared aggregates, and
    # cheaper grouped by the integer key than by the text id
    return f"""
        SELECT k.customer_id, d.distinct_categories_last_365d
        FROM (SELECT customer_key, count(DISTINCT category) AS distinct_categories_last_365d
              FROM tx WHERE purchase AND {ctx.in_window(365)} GROUP BY customer_key) d
        JOIN customer_keys k USING (customer_key)"""


register(Family(FAMILY, ("transactions",), _features, sql=_sql, aggregates=_aggregates, columns=_columns,
                label="Basket and categories"))
