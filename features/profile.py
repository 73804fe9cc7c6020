"""profile: static customer attributes from the customers table, plus days since sign-up.

Every extra column of ``customers`` (region, segment, loyalty tier...) becomes a feature
``profile_<column>``: numbers stay numeric, anything else is categorical. Attributes are taken as
static (the table holds no history of them).
"""

from __future__ import annotations

import re

from features.registry import Context, Family, Feature, register

FAMILY = "profile"
NUMERIC_TYPES = ("DOUBLE", "FLOAT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "DECIMAL", "HUGEINT", "BOOLEAN")


def _safe(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z_]+", "_", name).strip("_").lower()


def _is_numeric(sql_type: str) -> bool:
    return sql_type.upper().startswith(NUMERIC_TYPES)


def _features(ctx: Context) -> list[Feature]:
    out = [Feature("days_since_signup", FAMILY, "days", "Signed up {value:ago}", -1, context=True,
                   ages=True)]
    for column, sql_type in ctx.profile_columns:
        name = f"profile_{_safe(column)}"
        if _is_numeric(sql_type):
            out.append(Feature(name, FAMILY, "value", f"{column}: {{value:g}}", 0, context=True))
        else:
            out.append(Feature(name, FAMILY, "category", f"{column}: {{value}}", 0, kind="categorical", context=True))
    return out


def _sql(ctx: Context) -> str:
    cols = []
    for column, sql_type in ctx.profile_columns:
        quoted = '"' + column.replace('"', '""') + '"'
        cast = "DOUBLE" if _is_numeric(sql_type) else "VARCHAR"
        cols.append(f", any_value(CAST({quoted} AS {cast})) AS profile_{_safe(column)}")
    return f"""
        SELECT customer_id, {ctx.days_since('min(signup_date)')} AS days_since_signup {''.join(cols)}
        FROM cust GROUP BY customer_id"""


register(Family(FAMILY, ("customers",), _features, sql=_sql, label="Customer profile"))
