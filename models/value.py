"""Customer value: what a customer is worth in the horizon if they stay, over their lifetime, and the
buy-till-you-die baseline of both.

How it works, and why: docs/value.md, section "models/value.py".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.btyd import BetaGeoModel, ParetoNBDModel
from models.gamma_gamma import GammaGammaModel, btyd_lifetime_value

DAYS_PER_MONTH = 365.25 / 12
BTYD_MODELS = {"bgnbd": BetaGeoModel, "pareto_nbd": ParetoNBDModel}
FIT_SAMPLE = 50_000
# Feature columns the baseline reads: purchase history as BTYD summarises it.
HISTORY_COLUMNS = ("orders_lifetime", "days_since_first_purchase", "days_since_last_purchase",
                   "average_order_value_lifetime")


def lifetime_value(p: np.ndarray, value_if_retained: np.ndarray, horizon_days: int, months: int,
                   annual_discount_rate: float, persistence: float | None = None) -> np.ndarray:
    """Expected discounted net spend over ``months`` months.

    The next ``months`` are cut into periods of one horizon (the last one partial). In the first a customer
    stays (buys) with probability ``1 - p``; in period k with probability ``(1 - p) x persistence^(k-1)``,
    ``persistence`` being the measured ratio of staying in one horizon to staying in the one before
    (:func:`purchase_persistence`). Without it, ``1 - p`` itself: ``(1 - p)^k``, a geometric lifetime in which
    a customer who skips one horizon never comes back, right for a cancellation, far too low for an
    inactivity label (CDNOW: 39-week total 46% short). While they stay they spend ``value_if_retained`` per
    full period. Each period's spend is discounted to today at ``annual_discount_rate`` from the period's end.

    Args:
        p: churn probability in one horizon, per customer.
        value_if_retained: spend in one horizon if the customer stays, per customer.
        horizon_days: the length of one period in days.
        months: how far ahead to count.
        annual_discount_rate: yearly discount rate (0.10 = 10%).
        persistence: staying in a horizon relative to the one before (0-1); None = ``1 - p`` per customer.
    """
    p = np.clip(np.asarray(p, float), 0.0, 1.0)
    decay = 1.0 - p if persistence is None else float(np.clip(persistence, 0.0, 1.0))
    value = np.clip(np.asarray(value_if_retained, float), 0.0, None)
    total_days = months * DAYS_PER_MONTH
    periods = int(np.ceil(total_days / horizon_days - 1e-9))
    out = np.zeros_like(value)
    for k in range(1, periods + 1):
        share = min(1.0, (total_days - (k - 1) * horizon_days) / horizon_days)  # the last period may be partial
        discount = (1.0 + annual_discount_rate) ** (-(k * horizon_days) / 365.25)
        out += share * value * (1.0 - p) * decay ** (k - 1) * discount
    return out


def purchase_persistence(cutoffs: pd.Series, customer_ids: pd.Series, churned: np.ndarray,
                         horizon_days: int) -> float | None:
    """How much of one horizon's staying carries into the next: over every pair of labelled snapshot cutoffs
    one horizon apart (the later one within ``horizon_days / 6`` days of a horizon after the earlier), the
    earlier cutoff's customers who stay in the later cutoff's horizon over those who stayed in their own
    (one who is not in the later population did not stay). Pooled over the pairs; None when no pair exists.

    For a cancellation label it is the chance of staying on after staying (the geometric lifetime's 1 - p);
    for an inactivity label it also counts customers who skip a horizon and buy again, which a geometric
    lifetime loses (CDNOW at 90 days: 0.81, where the average 1 - p is 0.15).
    """
    frame = pd.DataFrame({"cutoff": pd.to_datetime(cutoffs).to_numpy(), "customer_id": np.asarray(customer_ids),
                          "stayed": 1 - np.asarray(churned, int)})
    dates = pd.DatetimeIndex(frame["cutoff"].unique()).sort_values()
    tolerance = pd.Timedelta(days=horizon_days / 6)
    stayed_before = stayed_after = 0
    for earlier in dates:
        gaps = abs(dates - (earlier + pd.Timedelta(days=horizon_days)))
        if gaps.min() > tolerance:
            continue
        later = dates[int(gaps.argmin())]
        before = frame[frame["cutoff"] == earlier]
        after = frame.loc[frame["cutoff"] == later, ["customer_id", "stayed"]].set_index("customer_id")["stayed"]
        stayed_before += int(before["stayed"].sum())
        stayed_after += int(before["customer_id"].map(after).fillna(0).sum())
    return stayed_after / stayed_before if stayed_before else None


def btyd_history(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Repeat purchases x, t_x and T in weeks, and mean order value, from the feature table (None when the
    transaction families that give them are switched off)."""
    if any(c not in features for c in HISTORY_COLUMNS):
        return None
    orders = features["orders_lifetime"].to_numpy(float)
    first = features["days_since_first_purchase"].to_numpy(float)
    last = features["days_since_last_purchase"].to_numpy(float)
    x = np.nan_to_num(np.clip(orders - 1, 0, None))
    T = np.nan_to_num(first) / 7.0
    t_x = np.clip(np.nan_to_num(first - last), 0, None) / 7.0
    return x, t_x, T, features["average_order_value_lifetime"].to_numpy(float)


def btyd_baseline(features: pd.DataFrame, horizon_days: int, months: int, annual_discount_rate: float,
                  btyd_model: str = "bgnbd", seed: int = 0) -> pd.DataFrame | None:
    """The buy-till-you-die value of each customer of a feature table: ``btyd_value_if_retained`` (expected
    purchases in the horizon while alive x Gamma-Gamma spend per purchase), ``btyd_expected_value``
    (expected purchases x spend) and ``btyd_lifetime_value`` (discounted over ``months``). None when the
    table lacks the purchase history or too few customers repeat to fit.

    Mean order value includes the first order (the feature table has no repeat-only mean); Gamma-Gamma on
    CDNOW's repeat-only means reproduces the published estimates (``tests/unit/test_gamma_gamma.py``).
    """
    history = btyd_history(features)
    if history is None:
        return None
    x, t_x, T, spend = history
    rows = np.isfinite(spend) & (T > 0)
    if rows.sum() < 10 or x[rows].sum() == 0:
        return None
    fit = np.flatnonzero(rows)
    if fit.size > FIT_SAMPLE:
        fit = np.sort(np.random.default_rng(seed).choice(fit, FIT_SAMPLE, replace=False))
    try:
        purchases = BTYD_MODELS[btyd_model](penalizer=1e-4).fit(x[fit], t_x[fit], T[fit])
        gamma_gamma = GammaGammaModel(penalizer=1e-4).fit(x[fit], spend[fit])
        per_purchase = gamma_gamma.conditional_expected_average_profit(x, np.where(np.isfinite(spend), spend, np.nan))
    except ValueError:  # too few repeat buyers, a likelihood that is not finite, or an infinite mean spend (q <= 1)
        return None
    weeks = horizon_days / 7.0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        expected = purchases.expected_purchases(weeks, x, t_x, T)
        alive = purchases.probability_alive(x, t_x, T)
        if_alive = np.where(alive > 1e-9, expected / np.maximum(alive, 1e-9), expected)
        lifetime = btyd_lifetime_value(purchases, per_purchase, x, t_x, T, months=months,
                                       annual_discount_rate=annual_discount_rate)
    return pd.DataFrame({"btyd_value_if_retained": np.nan_to_num(if_alive * per_purchase),
                         "btyd_expected_value": np.nan_to_num(expected * per_purchase),
                         "btyd_lifetime_value": np.nan_to_num(lifetime)}, index=features.index)
