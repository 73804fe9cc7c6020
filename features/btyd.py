"""btyd: probability alive and expected purchases in the horizon from a buy-till-you-die model
(``features.btyd_model``: BG/NBD or Pareto/NBD).

The model's four parameters are fitted once per as-of date on every customer's purchase days up to
that date (population-level, like a scaler's mean); each customer's features then depend only on
their own history and those parameters, so the family shards by customer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.registry import Context, Family, Feature, register
from models.btyd import BetaGeoModel, ParetoNBDModel

FAMILY = "btyd"
FIT_SAMPLE = 50_000
MODELS = {"bgnbd": BetaGeoModel, "pareto_nbd": ParetoNBDModel}


def _features(ctx: Context) -> list[Feature]:
    h = ctx.horizon_days
    return [
        Feature("btyd_probability_alive", FAMILY, "probability",
                "The purchase-pattern model gives {value:.0%} odds they are still an active customer", -1, context=True,
                monotone=True),
        Feature(f"btyd_expected_purchases_next_{h}d", FAMILY, "purchases",
                f"Expected to make {{value:.1f}} purchases in the next {h} days", -1, context=True,
                monotone=True),
    ]


def _aggregates(ctx: Context) -> dict[str, list[str]]:
    return {"purchases": ["count(*) FILTER (WHERE gap > 0) AS btyd_repeat_days",
                       "max(age) - min(age) AS btyd_t_x_days",
                       "max(age) AS btyd_T_days"]}


def _statistics(ctx: Context) -> dict[str, str]:
    """Per customer: repeat purchase days x, and in whole days t_x (first to last) and T (first to as_of)."""
    return {"x": "btyd_repeat_days", "t_x_days": "btyd_t_x_days", "T_days": "btyd_T_days"}


def _finish(summary: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """Fit the BTYD model on the whole population's summaries (ordered by id), then each customer's expectations.
    Customers with returns but no purchase have no purchase history to fit and get no expectation."""
    h = ctx.horizon_days
    summary = summary.dropna(subset=["x"])
    if len(summary) < 10 or summary["x"].sum() == 0:
        return pd.DataFrame({"customer_id": summary["customer_id"], "btyd_probability_alive": np.nan,
                             f"btyd_expected_purchases_next_{h}d": np.nan})
    # Four population parameters are estimated as well from a seeded sample of customers as from all of
    # them, at a fraction of the cost on large bases.
    summary = summary.assign(t_x=summary["t_x_days"] / 7.0, T=summary["T_days"] / 7.0)
    fit_rows = summary
    if len(summary) > FIT_SAMPLE:
        fit_rows = summary.iloc[np.sort(np.random.default_rng(0).choice(len(summary), FIT_SAMPLE, replace=False))]
    model = MODELS[ctx.btyd_model](penalizer=1e-4).fit(fit_rows["x"], fit_rows["t_x"], fit_rows["T"])
    # Histories are whole days, so millions of customers share far fewer distinct (x, t_x, T):
    # evaluate each once (the key packs three non-negative integers below 2^21).
    key = (summary["x"].to_numpy(np.int64) << 42) | (summary["t_x_days"].to_numpy(np.int64) << 21) \
        | summary["T_days"].to_numpy(np.int64)
    inverse, unique = pd.factorize(key)
    x, t_x, T = (unique >> 42).astype(float), ((unique >> 21) & (2**21 - 1)) / 7.0, (unique & (2**21 - 1)) / 7.0
    alive = model.probability_alive(x, t_x, T)
    expected = model.expected_purchases(h / 7.0, x, t_x, T)
    return pd.DataFrame({
        "customer_id": summary["customer_id"],
        "btyd_probability_alive": alive[inverse],
        f"btyd_expected_purchases_next_{h}d": expected[inverse],
    })


register(Family(FAMILY, ("transactions",), _features, aggregates=_aggregates, columns=_statistics, finish=_finish,
                label="Purchase pattern (model)"))
