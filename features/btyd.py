"""btyd: BG/NBD probability alive and expected purchases in the horizon.

The model's four parameters are fitted once per as-of date on every customer's purchase days up to
that date (population-level, like a scaler's mean); each customer's features then depend only on
their own history and those parameters, so the family shards by customer.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from features.registry import Context, Family, Feature, register
from models.btyd import BetaGeoModel

FAMILY = "btyd"
FIT_SAMPLE = 50_000


def _features(ctx: Context) -> list[Feature]:
    h = ctx.horizon_days
    return [
        Feature("btyd_probability_alive", FAMILY, "probability",
                "The purchase-pattern model gives {value:.0%} odds they are still an active customer", -1),
        Feature(f"btyd_expected_purchases_next_{h}d", FAMILY, "purchases",
                f"Expected to make {{value:.1f}} purchases in the next {h} days", -1),
    ]


def summary_sql(ctx: Context) -> str:
    """Per customer: repeat purchase days x, t_x and T in weeks, from purchase days up to as_of."""
    return f"""
        SELECT customer_id,
               count(*) - 1 AS x,
               date_diff('day', min(day), max(day)) / 7.0 AS t_x,
               date_diff('day', min(day), {ctx.as_of_sql}) / 7.0 AS T
        FROM purchase_days GROUP BY customer_id"""


def _compute(con: duckdb.DuckDBPyConnection, ctx: Context) -> pd.DataFrame:
    summary = con.sql(summary_sql(ctx)).to_df()
    h = ctx.horizon_days
    if len(summary) < 10 or summary["x"].sum() == 0:
        return pd.DataFrame({"customer_id": summary["customer_id"], "btyd_probability_alive": np.nan,
                             f"btyd_expected_purchases_next_{h}d": np.nan})
    # Four population parameters are estimated as well from a seeded sample of customers as from all of
    # them, at a fraction of the cost on large bases.
    summary = summary.sort_values("customer_id", ignore_index=True)
    fit_rows = summary
    if len(summary) > FIT_SAMPLE:
        fit_rows = summary.iloc[np.sort(np.random.default_rng(0).choice(len(summary), FIT_SAMPLE, replace=False))]
    model = BetaGeoModel(penalizer=1e-4).fit(fit_rows["x"], fit_rows["t_x"], fit_rows["T"])
    x, t_x, T = (summary[c].to_numpy(float) for c in ("x", "t_x", "T"))
    return pd.DataFrame({
        "customer_id": summary["customer_id"],
        "btyd_probability_alive": model.probability_alive(x, t_x, T),
        f"btyd_expected_purchases_next_{h}d": model.expected_purchases(h / 7.0, x, t_x, T),
    })


register(Family(FAMILY, ("transactions",), _features, compute=_compute))
