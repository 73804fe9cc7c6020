"""loyalty_program: membership and points activity (a lapse in earning or redeeming is a warning)."""

from features.registry import Context, Family, Feature, register

FAMILY = "loyalty_program"


def _features(ctx: Context) -> list[Feature]:
    return [
        Feature("is_loyalty_member", FAMILY, "flag", "Loyalty programme member: {value:.0f} (1 = yes)", -1, fill=0),
        Feature("loyalty_points_earned_last_90d", FAMILY, "points", "Earned {value:,.0f} loyalty points in 90 days",
                -1, fill=0),
        Feature("loyalty_points_earned_change_last_90d", FAMILY, "points",
                "Loyalty points earned changed by {value:+,.0f} against the 90 days before", -1, fill=0),
        Feature("loyalty_points_redeemed_last_365d", FAMILY, "points",
                "Redeemed {value:,.0f} loyalty points in the last year", -1, fill=0),
        Feature("days_since_last_redemption", FAMILY, "days", "Last redeemed loyalty points {value:.0f} days ago", 1),
    ]


def _sql(ctx: Context) -> str:
    earned, redeemed = "event_type = 'loyalty_points_earned'", "event_type = 'loyalty_points_redeemed'"
    # Membership comes from customers.loyalty_member when given, else from any points activity.
    member = "NULL"
    if "customers" in ctx.tables and "loyalty_member" in dict(ctx.profile_columns):
        member = "any_value(CAST(TRY_CAST(c.loyalty_member AS BOOLEAN) AS INTEGER))"
    return f"""
        WITH activity AS (
            SELECT customer_id,
                   coalesce(sum(value) FILTER (WHERE {earned} AND {ctx.within('timestamp', 90)}), 0)
                       AS loyalty_points_earned_last_90d,
                   coalesce(sum(value) FILTER (WHERE {earned} AND {ctx.within('timestamp', 90)}), 0)
                     - coalesce(sum(value) FILTER (WHERE {earned} AND {ctx.within('timestamp', 90, 90)}), 0)
                       AS loyalty_points_earned_change_last_90d,
                   coalesce(sum(value) FILTER (WHERE {redeemed} AND {ctx.within('timestamp', 365)}), 0)
                       AS loyalty_points_redeemed_last_365d,
                   {ctx.days_since(f"max(timestamp) FILTER (WHERE {redeemed})")} AS days_since_last_redemption,
                   count(*) FILTER (WHERE {earned} OR {redeemed}) > 0 AS has_points_activity
            FROM ev GROUP BY customer_id)
        SELECT a.customer_id,
               coalesce({member}, CAST(any_value(a.has_points_activity) AS INTEGER))
                   AS is_loyalty_member,
               any_value(loyalty_points_earned_last_90d) AS loyalty_points_earned_last_90d,
               any_value(loyalty_points_earned_change_last_90d) AS loyalty_points_earned_change_last_90d,
               any_value(loyalty_points_redeemed_last_365d) AS loyalty_points_redeemed_last_365d,
               any_value(days_since_last_redemption) AS days_since_last_redemption
        FROM activity a {"LEFT JOIN cust c USING (customer_id)" if member != "NULL" else ""}
        GROUP BY a.customer_id"""


register(Family(FAMILY, ("events",), _features, sql=_sql))
