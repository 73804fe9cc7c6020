"""Whom the call helps: the effect of each action on each customer's churn (conditional average treatment
effect), learned from past lists and their randomised holdouts, and the figures that say whether to trust it.

``ActionEffects`` is an X-learner (Kuenzel, Sekhon, Bickel and Yu, PNAS 2019) on LightGBM, for several actions
sharing one holdout:

1. ``mu0``: churn probability if not contacted, fitted on the holdout (every action's: the holdout is drawn at
   random from the whole list, so it stands for everyone listed);
2. per action ``a``, ``mu1_a``: churn probability if contacted with ``a``, fitted on those contacted with ``a``;
3. imputed effects (the fall in churn probability): ``mu0(x) - y`` for those contacted with ``a``, ``y - mu1_a(x)``
   for the holdout; a regression of each on the features (``tau1_a``, ``tau0_a``);
4. ``effect_a(x) = g_a tau0_a(x) + (1 - g_a) tau1_a(x)``, ``g_a`` the share contacted with ``a`` among those
   contacted with ``a`` and the holdout (constant: contact was drawn at random).

Saved as LightGBM text and JSON (``to_dict``/``from_dict``): loading never unpickles anything.

The figures (Radcliffe 2007, "Using control groups to target on predicted lift"): the Qini curve (extra customers
kept when the top ``k`` by a score are contacted, against the holdout among them), the Qini coefficient (the area
between that curve and random targeting, as a share of the customers) with a bootstrap interval, and the measured
effect in the top 10/20/30%.

How it works, and why: docs/effects.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from pipeline.core.errors import ModelError

FORMAT_VERSION = 1


def _booster(X: np.ndarray, y: np.ndarray, objective: str, params: dict, rounds: int) -> lgb.Booster:
    data = lgb.Dataset(X, y, params={"verbose": -1}, free_raw_data=True)
    return lgb.train({**params, "objective": objective, "verbose": -1}, data, num_boost_round=rounds)


class ActionEffects(BaseEstimator):
    """Per customer and action, the predicted fall in churn probability over the horizon if contacted with that
    action (positive: the contact keeps them; negative: it pushes them away).

    Args:
        n_estimators: boosting rounds of each of the learner's models.
        learning_rate, num_leaves, min_child_samples, lambda_l2: LightGBM settings of each model (small, heavily
            regularised trees: effects are small differences of noisy outcomes).
        random_state: seed.
    """

    def __init__(self, n_estimators: int = 150, learning_rate: float = 0.05, num_leaves: int = 7,
                 min_child_samples: int = 100, lambda_l2: float = 10.0, random_state: int = 0):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.lambda_l2 = lambda_l2
        self.random_state = random_state

    def _params(self) -> dict:
        return {"learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "min_data_in_leaf": self.min_child_samples, "lambda_l2": self.lambda_l2, "seed": self.random_state,
                "deterministic": True, "force_col_wise": True, "num_threads": 2, "feature_fraction": 0.8,
                "feature_fraction_seed": self.random_state}

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The features as numbers in the fitted order: a category is its code among those seen in fitting
        (an unseen one and a missing value: NaN)."""
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise ModelError(f"the effect model needs features this table lacks: {missing[:5]}"
                             f"{' and more' if len(missing) > 5 else ''}")
        cols = []
        for name in self.feature_names_:
            col = X[name]
            if name in self.categories_:
                codes = pd.Categorical(col.astype("string"), categories=self.categories_[name]).codes.astype(float)
                cols.append(np.where(codes < 0, np.nan, codes))
            else:
                cols.append(pd.to_numeric(col, errors="coerce").to_numpy(dtype=float))
        return np.column_stack(cols) if cols else np.zeros((len(X), 0))

    def fit(self, X: pd.DataFrame, action: Sequence[str], contacted: Sequence[bool], churned: Sequence[int]
            ) -> ActionEffects:
        """Fit on listed customers: their features, the action they were given, whether they were contacted
        (False: held out) and whether they churned over the horizon."""
        action = np.asarray(action, dtype=object)
        contacted = np.asarray(contacted, dtype=bool)
        y = np.asarray(churned, dtype=float)
        if not (len(X) == len(action) == len(contacted) == len(y)):
            raise ValueError("X, action, contacted and churned must have the same length")
        self.feature_names_ = [str(c) for c in X.columns]
        self.categories_ = {str(c): sorted(X[c].dropna().astype(str).unique().tolist()) for c in X.columns
                            if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))}
        M = self._matrix(X)
        control = ~contacted
        if control.sum() < 2 or contacted.sum() < 2:
            raise ValueError("fitting needs contacted and held-out customers")
        params = self._params()
        self.mu0_ = _booster(M[control], y[control], "binary", params, self.n_estimators)
        mu0 = self.mu0_.predict(M)
        self.actions_ = sorted({str(a) for a in action[contacted]})
        self.mu1_, self.tau0_, self.tau1_, self.share_contacted_ = {}, {}, {}, {}
        for a in self.actions_:
            treated = contacted & (action == a)
            self.mu1_[a] = _booster(M[treated], y[treated], "binary", params, self.n_estimators)
            self.tau1_[a] = _booster(M[treated], mu0[treated] - y[treated], "regression", params, self.n_estimators)
            self.tau0_[a] = _booster(M[control], y[control] - self.mu1_[a].predict(M[control]), "regression", params,
                                     self.n_estimators)
            self.share_contacted_[a] = float(treated.sum() / (treated.sum() + control.sum()))
        self.n_fitted_ = int(len(y))
        return self

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """The predicted effect of each action (a column per action, clipped to [-1, 1]), a row per customer."""
        M = self._matrix(X)
        out = {}
        for a in self.actions_:
            g = self.share_contacted_[a]
            out[a] = np.clip(g * self.tau0_[a].predict(M) + (1 - g) * self.tau1_[a].predict(M), -1.0, 1.0)
        return pd.DataFrame(out, index=X.index)

    def churn_if_not_contacted(self, X: pd.DataFrame) -> np.ndarray:
        """Churn probability over the horizon without a contact (the holdout's model)."""
        return self.mu0_.predict(self._matrix(X))

    # ---- saving without pickle ----
    def to_dict(self) -> dict:
        """Everything learned, as JSON-able text (boosters as LightGBM's model text)."""
        text = lambda b: b.model_to_string()  # noqa: E731
        return {"format_version": FORMAT_VERSION, "params": self.get_params(), "feature_names": self.feature_names_,
                "categories": self.categories_, "actions": self.actions_, "share_contacted": self.share_contacted_,
                "n_fitted": self.n_fitted_, "mu0": text(self.mu0_),
                "mu1": {a: text(b) for a, b in self.mu1_.items()}, "tau0": {a: text(b) for a, b in self.tau0_.items()},
                "tau1": {a: text(b) for a, b in self.tau1_.items()}}

    @classmethod
    def from_dict(cls, doc: dict) -> ActionEffects:
        if doc.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"effect model format {doc.get('format_version')} is not {FORMAT_VERSION}, the one this "
                             "version reads. Fix: learn it again with `churn learn-effects`")
        est = cls(**doc["params"])
        booster = lambda s: lgb.Booster(model_str=s)  # noqa: E731
        est.feature_names_, est.categories_ = list(doc["feature_names"]), dict(doc["categories"])
        est.actions_, est.share_contacted_ = list(doc["actions"]), dict(doc["share_contacted"])
        est.n_fitted_, est.mu0_ = int(doc["n_fitted"]), booster(doc["mu0"])
        est.mu1_ = {a: booster(s) for a, s in doc["mu1"].items()}
        est.tau0_ = {a: booster(s) for a, s in doc["tau0"].items()}
        est.tau1_ = {a: booster(s) for a, s in doc["tau1"].items()}
        return est


# ---------------------------------------------------------------------------------------------------------------
# Figures on customers the model did not see


def qini_curve(score: np.ndarray, contacted: np.ndarray, churned: np.ndarray, points: int = 101) -> pd.DataFrame:
    """The Qini curve: customers taken by ``score``, highest first; at each share of them, the extra customers
    kept by contacting them, ``kept_T - kept_H x n_T / n_H`` (kept: did not churn; T contacted, H held out among
    the top), as a share of all customers; and the same for random targeting (the straight line to the end)."""
    order = np.argsort(-np.asarray(score, float), kind="stable")
    t = np.asarray(contacted, bool)[order]
    kept = 1.0 - np.asarray(churned, float)[order]
    n = len(order)
    n_t, n_h = np.cumsum(t), np.cumsum(~t)
    kept_t, kept_h = np.cumsum(kept * t), np.cumsum(kept * ~t)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(n_h > 0, kept_t - kept_h * n_t / np.maximum(n_h, 1), 0.0)
    q = np.concatenate([[0.0], q]) / max(n, 1)
    k = np.unique(np.linspace(0, n, min(points, n + 1)).round().astype(int))
    return pd.DataFrame({"share": k / max(n, 1), "qini": q[k], "random": q[-1] * k / max(n, 1)})


def qini_coefficient(score: np.ndarray, contacted: np.ndarray, churned: np.ndarray) -> float:
    """The area between the Qini curve and random targeting (mean over every list size; as a share of the
    customers): above 0, the score puts those a contact keeps ahead of the others."""
    curve = qini_curve(score, contacted, churned, points=len(score) + 1)
    return float(np.mean(curve["qini"] - curve["random"]))


def qini_interval(score: np.ndarray, contacted: np.ndarray, churned: np.ndarray, draws: int = 200,
                  level: float = 0.9, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of the Qini coefficient (customers drawn with replacement, ``level`` percentile)."""
    score, contacted, churned = (np.asarray(a) for a in (score, contacted, churned))
    rng = np.random.default_rng(seed)
    n = len(score)
    values = []
    for _ in range(draws):
        i = rng.integers(0, n, n)
        values.append(qini_coefficient(score[i], contacted[i], churned[i]))
    tail = (1 - level) / 2
    return float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))


def measured_effect(contacted: np.ndarray, churned: np.ndarray) -> float | None:
    """Churn rate of the held out minus that of the contacted (None without both)."""
    contacted, churned = np.asarray(contacted, bool), np.asarray(churned, float)
    if contacted.all() or not contacted.any():
        return None
    return float(churned[~contacted].mean() - churned[contacted].mean())


def effect_in_top(score: np.ndarray, contacted: np.ndarray, churned: np.ndarray, share: float) -> float | None:
    """The measured effect (:func:`measured_effect`) among the top ``share`` of customers by ``score``."""
    k = max(1, int(round(share * len(score))))
    top = np.argsort(-np.asarray(score, float), kind="stable")[:k]
    return measured_effect(np.asarray(contacted)[top], np.asarray(churned)[top])


__all__ = ["ActionEffects", "effect_in_top", "measured_effect", "qini_coefficient", "qini_curve", "qini_interval"]
