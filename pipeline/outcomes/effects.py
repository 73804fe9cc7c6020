"""Learning whom the call helps from past lists: which lists can teach it (holdouts, horizons passed), the
training rows they give (features as of each list, the action, contacted or held out, churned), the split by
customer, and the figures on customers the effect model never saw.

Pure: frames in, frames and figures out. Reading lists and data, MLflow and files live in
``pipeline.outcomes.learn.run``. How it works, and why: docs/effects.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from models.uplift import ActionEffects, effect_in_top, measured_effect, qini_coefficient, qini_curve, qini_interval
from pipeline.core.errors import DataError
from pipeline.scoring.targeting import HOLDOUT, TREATMENT

TOP_SHARES = (0.1, 0.2, 0.3)
HELD_OUT_SHARE = 0.3  # customers kept out of fitting, for the figures
MIN_HOLDOUT = 30  # held-out customers a list needs to teach anything
BUDGET_SHARE = 0.2  # the list size of the value comparison: the top 20% of the listed
LIST_COLUMNS = ("customer_id", "action", "contact_group")
NOT_FEATURES = {"customer_id", "as_of", "cutoff", "churned", "future_value"}


def check_past_list(frame: pd.DataFrame, name: str, as_of: date, horizon_days: int, last_data_day: date) -> None:
    """A list can teach effects only with its columns, treated and held-out customers, and its horizon passed."""
    missing = [c for c in LIST_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{name}: lacks {missing}, so it cannot say who was contacted with what. Fix: pass risk lists "
                        "written by `churn score` (or campaign lists with customer_id, action and contact_group)")
    groups = frame["contact_group"].astype("string")
    held, treated = int((groups == HOLDOUT).sum()), int((groups == TREATMENT).sum())
    if held < MIN_HOLDOUT or not treated:
        raise DataError(f"{name}: {held} held-out and {treated} contacted customers; learning effects needs at least "
                        f"{MIN_HOLDOUT} held out and some contacted, as the effect is contacted against held out. "
                        "Fix: leave this list out, and keep targeting.holdout_share above 0 in future campaigns")
    end = as_of + timedelta(days=horizon_days)
    if end > last_data_day:
        raise DataError(f"{name}: its horizon ({horizon_days} days after {as_of}) ends on {end}, and the data reaches "
                        f"{last_data_day}: whether its customers stayed is not known yet. Fix: leave it out until "
                        f"data from after {end} is in, or pass data that reaches it")


def training_rows(listed: pd.DataFrame, features: pd.DataFrame, outcomes: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """One list's contacted and held-out customers joined with their features as of the list and their outcome:
    ``campaign`` (the as-of date), ``customer_id``, ``action``, ``contacted``, ``churned``, the list's own
    ``churn_probability`` and ``value_if_retained`` where it has them, then the features. Customers outside the
    feature population at the as-of date are left out."""
    part = listed[listed["contact_group"].isin([TREATMENT, HOLDOUT])]
    keep = [c for c in ("churn_probability", "value_if_retained") if c in part.columns]
    rows = pd.DataFrame({"campaign": as_of.isoformat(), "customer_id": part["customer_id"].astype(str).to_numpy(),
                         "action": part["action"].astype(str).to_numpy(),
                         "contacted": (part["contact_group"] == TREATMENT).to_numpy()})
    for c in keep:
        rows[f"list_{c}"] = part[c].to_numpy(float)
    rows = rows.merge(outcomes[["customer_id", "churned"]].astype({"customer_id": str}), on="customer_id", how="inner")
    feats = features.drop(columns=[c for c in ("as_of", "cutoff", "churned", "future_value") if c in features.columns])
    return rows.merge(feats.astype({"customer_id": str}), on="customer_id", how="inner")


def combine(parts: list[pd.DataFrame]) -> tuple[pd.DataFrame, list[str]]:
    """The lists' rows together, on the features every list has (event-type features may differ by date); notes
    on the features left out."""
    shared = set.intersection(*(set(p.columns) for p in parts))
    dropped = sorted(set.union(*(set(p.columns) for p in parts)) - shared)
    columns = [c for c in parts[0].columns if c in shared]
    notes = [f"{len(dropped)} feature(s) not built for every list left out: {', '.join(dropped[:5])}"
             f"{' and more' if len(dropped) > 5 else ''}"] if dropped else []
    return pd.concat([p[columns] for p in parts], ignore_index=True), notes


def feature_columns(rows: pd.DataFrame) -> list[str]:
    return [c for c in rows.columns if c not in NOT_FEATURES and c not in
            ("campaign", "action", "contacted", "list_churn_probability", "list_value_if_retained")]


def held_out(customer_ids: pd.Series, seed: int, share: float = HELD_OUT_SHARE) -> np.ndarray:
    """Customers kept out of fitting, by a hash of the id (a customer of several lists is on one side only)."""
    def draw(cid: str) -> float:
        return int.from_bytes(hashlib.blake2b(f"{seed}|{cid}".encode(), digest_size=8).digest(), "big") / 2.0**64
    unique = pd.unique(customer_ids.astype(str))
    out = {c: draw(c) < share for c in unique}
    return customer_ids.astype(str).map(out).to_numpy(dtype=bool)


def given_action_effect(predicted: pd.DataFrame, actions: pd.Series) -> np.ndarray:
    """Each row's predicted effect of the action it was given (NaN for an action the model does not know)."""
    out = np.full(len(actions), np.nan)
    for a in predicted.columns:
        hit = (actions == a).to_numpy()
        out[hit] = predicted.loc[hit, a].to_numpy()
    return out


def net_saving(effect: np.ndarray, p: np.ndarray, value: np.ndarray, contact_cost: float, offer_cost: float
               ) -> np.ndarray:
    """Expected net saving of a contact when the effect is the fall in churn probability: ``tau x V - c -
    d x (1 - p + tau)`` (the offer is paid by whoever stays: those who would anyway and those it keeps)."""
    tau = np.nan_to_num(effect, nan=0.0)
    return tau * np.nan_to_num(value, nan=0.0) - contact_cost - offer_cost * ((1 - np.nan_to_num(p, nan=0.0)) + tau)


def value_saved_measured(contacted: np.ndarray, churned: np.ndarray, value: np.ndarray) -> float | None:
    """Value kept by contacting a group, measured against its holdout: the group's size x (mean value lost among
    the held out - among the contacted)."""
    contacted, churned, value = np.asarray(contacted, bool), np.asarray(churned, float), np.asarray(value, float)
    if contacted.all() or not contacted.any():
        return None
    lost = churned * value
    return float(len(contacted) * (lost[~contacted].mean() - lost[contacted].mean()))


def evaluate(model: ActionEffects, test: pd.DataFrame, risk: np.ndarray, value: np.ndarray, contact_cost: float,
             offer_cost: float, seed: int, draws: int = 200) -> dict[str, Any]:
    """The figures on held-out customers (``test``): Qini coefficient with its 90% bootstrap interval for the
    effect model and for ranking by risk, the Qini curves, the measured effect in the top 10/20/30% by each and
    over everyone (random targeting), and the value kept by the top ``BUDGET_SHARE`` by predicted net saving
    against the top by churn probability x value (each measured against the holdout among them)."""
    predicted = model.predict(test[model.feature_names_])
    effect = given_action_effect(predicted, test["action"])
    known = ~np.isnan(effect)
    t = test["contacted"].to_numpy(bool)[known]
    y = test["churned"].to_numpy(float)[known]
    effect, risk, value = effect[known], np.asarray(risk, float)[known], np.asarray(value, float)[known]
    low, high = qini_interval(effect, t, y, draws=draws, seed=seed)
    r_low, r_high = qini_interval(risk, t, y, draws=draws, seed=seed)
    saving = net_saving(effect, risk, value, contact_cost, offer_cost)
    k = max(1, int(round(BUDGET_SHARE * len(effect))))
    by_saving = np.argsort(-saving, kind="stable")[:k]
    by_risk_value = np.argsort(-(risk * value), kind="stable")[:k]
    kept_effect = value_saved_measured(t[by_saving], y[by_saving], value[by_saving])
    kept_risk = value_saved_measured(t[by_risk_value], y[by_risk_value], value[by_risk_value])
    curve = qini_curve(effect, t, y)
    risk_curve = qini_curve(risk, t, y)
    return {
        "customers": int(len(effect)), "contacted": int(t.sum()), "held_out": int((~t).sum()),
        "qini": {"coefficient": qini_coefficient(effect, t, y), "interval": [low, high], "level": 0.9},
        "qini_by_risk": {"coefficient": qini_coefficient(risk, t, y), "interval": [r_low, r_high], "level": 0.9},
        "effect_overall": measured_effect(t, y),
        "effect_in_top": [{"share": s, "by_effect": effect_in_top(effect, t, y, s),
                           "by_risk": effect_in_top(risk, t, y, s)} for s in TOP_SHARES],
        "value_kept_top": {"share": BUDGET_SHARE, "customers": k, "by_net_saving": kept_effect,
                           "by_risk_x_value": kept_risk},
        "curve": {"share": curve["share"].round(4).tolist(), "effect_model": curve["qini"].tolist(),
                  "by_risk": risk_curve["qini"].tolist(), "random": curve["random"].tolist()},
    }


def passes(evaluation: Mapping[str, Any]) -> tuple[bool, str]:
    """The gate: the Qini coefficient on held-out customers above zero with its whole interval. The reason, in
    words, either way."""
    q = evaluation["qini"]
    low, high = q["interval"]
    if low > 0:
        return True, (f"its Qini coefficient on {evaluation['customers']:,} held-out customers is {q['coefficient']:.4f}"
                      f" ({q['level']:.0%} interval {low:.4f} to {high:.4f}), above zero: it ranks those a contact "
                      "keeps ahead of the others better than random")
    return False, (f"its Qini coefficient on {evaluation['customers']:,} held-out customers is {q['coefficient']:.4f} "
                   f"({q['level']:.0%} interval {low:.4f} to {high:.4f}), not above zero with its interval: it does not "
                   "rank those a contact keeps better than random")


__all__ = ["check_past_list", "combine", "evaluate", "feature_columns", "given_action_effect", "held_out",
           "net_saving", "passes", "training_rows", "value_saved_measured"]
