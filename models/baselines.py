"""Honest baselines computed from the same feature rows: recency, RFM score, BTYD expectations, and tenure alone
for subscribers (label.kind: cancellation)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _quintile(values: pd.Series) -> pd.Series:
    """Quintile 1-5 by rank (ties broken by order), the usual RFM recipe."""
    ranks = values.rank(method="first", na_option="bottom")
    return np.ceil(ranks / len(values) * 5).clip(1, 5)


def rfm_score(features: pd.DataFrame) -> pd.Series:
    """Hand-weighted RFM: quintile of recency (recent = 5) + frequency + monetary, 3-15."""
    r = _quintile(-features["days_since_last_purchase"].fillna(features["days_since_last_purchase"].max()))
    f = _quintile(features["orders_lifetime"].fillna(0))
    m = _quintile(features["spend_lifetime"].fillna(0))
    return (r + f + m).astype(float)


def churn_baselines(features: pd.DataFrame, horizon_days: int) -> dict[str, np.ndarray]:
    """Churn risk scores (higher = more risk) of each baseline."""
    out = {}
    if "days_since_last_purchase" in features:  # purchase families are left out where transactions are billing
        days = features["days_since_last_purchase"]  # never bought (a subscriber): the longest gap
        out = {"recency": days.fillna(days.max()).to_numpy(float), "rfm": -rfm_score(features).to_numpy()}
    tenure = features.get("subscription_age_days")
    if tenure is not None and len(tenure) and tenure.notna().all():  # every row a subscriber (label.kind: cancellation)
        out["tenure"] = -tenure.to_numpy(float)  # tenure alone: the newer, the riskier
    col = f"btyd_expected_purchases_next_{horizon_days}d"
    if col in features:
        out["btyd"] = -features[col].fillna(0).to_numpy(float)
    return out


def value_baselines(features: pd.DataFrame, horizon_days: int) -> dict[str, np.ndarray]:
    """Future-value rankings of each baseline: RFM score and BTYD expected purchases x average order."""
    out = {"rfm": rfm_score(features).to_numpy()} if "days_since_last_purchase" in features else {}
    col = f"btyd_expected_purchases_next_{horizon_days}d"
    if col in features:
        aov = features["average_order_value_lifetime"].fillna(0).clip(lower=0)
        out["btyd"] = (features[col].fillna(0) * aov).to_numpy(float)
    return out
