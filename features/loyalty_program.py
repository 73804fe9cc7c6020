"""loyalty_program: membership and points activity (a lapse in earning or redeeming is a warning)."""

from features.registry import Context, Family, Feature, register

FAMILY = "loyalty_program"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("is_loyalty_member", FAMILY, "flag", "Member of the loyalty programme", -1, fill=0, context=True,
                zero="Not a member of the loyalty programme"),
        Feature("loyalty_points_earned_last_90d", FAMILY, "points",
                "Earned {value:count:loyalty point} in the last 90 days", 0, fill=0),
        Feature("loyalty_points_earned_change_last_90d", FAMILY, "points",
                "Earned {value:abs n} fewer loyalty {value:abs word:point} in the last 90 days than in the 90 days before",
                -1, fill=0, compares=("loyalty_points_earned_last_90d", None), fact="points_earned"),
        Feature("days_since_last_points_earned", FAMILY, "days",
                "Last earned loyalty points {value:ago}[, though they last bought"
                " {days_since_last_purchase:ago}]", 1, neutral="days_since_last_purchase",
                fact="points_earned"),
        Feature("purchase_days_without_points_last_90d", FAMILY, "count",
                "Bought on {value:count:day} in the last 90 days without earning loyalty points"
                "[ (last earned {days_since_last_points_earned:ago})]", 1, fill=0, neutral=0,
                fact="points_earned"),
        Feature("loyalty_points_redeemed_last_365d", FAMILY, "points",
                "Redeemed {value:count:loyalty point} in the last year", -1, neutral=1,
                zero="Redeemed no loyalty points in the last year", fact="redemption"),
        Feature("days_since_last_redemption", FAMILY, "days", "Last redeemed loyalty points {value:ago}", 1,
                neutral=30, fact="redemption"),
    ]


EARNED, REDEEMED = "event_type = 'loyalty_points_earned'", "event_type = 'loyalty_points_redeemed'"


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    """The points activity of every customer with events, in the one pass over the events (``_sql`` adds what
    needs purchases and the customers table)."""
    earned, redeemed = EARNED, REDEEMED
    return {"ev": [
        f"coalesce(sum(value) FILTER (WHERE {earned} AND {ctx.in_window(90)}), 0) "
        "AS loyalty_points_earned_last_90d",
        f"coalesce(sum(value) FILTER (WHERE {earned} AND {ctx.in_window(90)}), 0) "
        f"- coalesce(sum(value) FILTER (WHERE {earned} AND {ctx.in_window(90, 90)}), 0) "
        "AS loyalty_points_earned_change_last_90d",
        # missing for a customer with no points activity at all: redeeming none says nothing then
        f"CASE WHEN count(*) FILTER (WHERE {earned} OR {redeemed}) > 0 "
        f"THEN coalesce(sum(value) FILTER (WHERE {redeemed} AND {ctx.in_window(365)}), 0) END "
        "AS loyalty_points_redeemed_last_365d",
        f"{ctx.days_since(f'max(timestamp) FILTER (WHERE {redeemed})')} AS days_since_last_redemption",
        f"{ctx.days_since(f'max(timestamp) FILTER (WHERE {earned})')} AS days_since_last_points_earned",
        f"max(timestamp) FILTER (WHERE {earned}) AS loyalty_helper_last_points_earned_at",
        f"count(*) FILTER (WHERE {earned} OR {redeemed}) > 0 AS loyalty_helper_has_points_activity",
    ]}


def _sql(ctx: Context) -> str:
    # Membership comes from customers.loyalty_member when given, else from any points activity.
    member = "NULL"
    if "customers" in ctx.tables and "loyalty_member" in dict(ctx.profile_columns):
        member = "any_value(CAST(TRY_CAST(c.loyalty_member AS BOOLEAN) AS INTEGER))"
    return f"""
        WITH activity AS (
            SELECT customer_id, loyalty_helper_last_points_earned_at AS last_points_earned_at,
                   loyalty_helper_has_points_activity AS has_points_activity
            FROM agg_ev),
        -- purchase days since the customer last earned points (a day's grace for the booking), or ever
        unrewarded AS (
            SELECT a.customer_id, count(DISTINCT t.age) AS purchase_days_without_points_last_90d
            FROM activity a JOIN tx t ON t.customer_id = a.customer_id
            WHERE t.purchase AND t.age < 90
              AND (a.last_points_earned_at IS NULL OR t.timestamp > a.last_points_earned_at + INTERVAL 1 DAY)
            GROUP BY a.customer_id)
        SELECT a.customer_id,
               coalesce({member}, CAST(any_value(a.has_points_activity) AS INTEGER))
                   AS is_loyalty_member,
               -- members only: for anyone else buying without points is the rule
               CASE WHEN coalesce({member}, CAST(any_value(a.has_points_activity) AS INTEGER)) = 1
                    THEN coalesce(any_value(u.purchase_days_without_points_last_90d), 0) ELSE 0 END
                   AS purchase_days_without_points_last_90d
        FROM activity a LEFT JOIN unrewarded u USING (customer_id)
        {"LEFT JOIN cust c USING (customer_id)" if member != "NULL" else ""}
        GROUP BY a.customer_id"""


register(Family(FAMILY, ("events",), _features, sql=_sql, aggregates=_aggregates, label="Loyalty programme"))
