"""Probability calibration chosen on the validation cutoff by Brier score, stored as plain numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

METHODS = ("none", "sigmoid", "isotonic")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class Calibrator:
    """A fitted calibration map. ``params``: sigmoid ``a, b``; isotonic ``x, y`` knots."""

    method: str = "none"
    params: dict[str, list[float]] = field(default_factory=dict)

    def transform(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        if self.method == "sigmoid":
            z = self.params["a"][0] * _logit(p) + self.params["b"][0]
            return 1 / (1 + np.exp(-z))
        if self.method == "isotonic":
            return np.interp(p, self.params["x"], self.params["y"])
        return p

    def to_dict(self) -> dict:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, d: dict) -> Calibrator:
        return cls(d["method"], {k: list(v) for k, v in d["params"].items()})


def fit_calibrator(method: str, p: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit one calibration method on predicted probabilities ``p`` and outcomes ``y``."""
    p, y = np.asarray(p, float), np.asarray(y, int)
    if method == "sigmoid":
        lr = LogisticRegression(C=1e6).fit(_logit(p).reshape(-1, 1), y)
        return Calibrator("sigmoid", {"a": [float(lr.coef_[0, 0])], "b": [float(lr.intercept_[0])]})
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y)
        return Calibrator("isotonic", {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()})
    return Calibrator("none", {})


def choose_calibrator(p: np.ndarray, y: np.ndarray, seed: int) -> tuple[Calibrator, dict[str, float]]:
    """Pick none/sigmoid/isotonic by Brier score in 2-fold cross-fitting on the validation rows (fitting
    and judging on the same rows would always favour isotonic), then refit the winner on all of them."""
    p, y = np.asarray(p, float), np.asarray(y, int)
    folds = np.random.default_rng(seed).permutation(len(p)) % 2
    scores: dict[str, float] = {}
    for method in METHODS:
        out = np.empty(len(p))
        for k in (0, 1):
            train, test = folds != k, folds == k
            out[test] = fit_calibrator(method, p[train], y[train]).transform(p[test])
        scores[method] = float(brier_score_loss(y, out))
    best = min(METHODS, key=lambda m: (scores[m], METHODS.index(m)))
    return fit_calibrator(best, p, y), scores
