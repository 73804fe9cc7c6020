"""Probability calibration: smooth, monotone maps that never say exactly 0 or 1, chosen on out-of-fold log loss
and stored as plain numbers.

Why: an isotonic map is a staircase. On the demo it gave 47 distinct probabilities for 3,366 customers, 955 of
them exactly 100% and 190 exactly 0% (a customer who "certainly" leaves, on the word of a few hundred rows), and
judged on the rows it was fitted on it printed an ECE of 0.0000. The maps here are smooth and strictly
increasing, so customers the model tells apart stay apart:

- ``sigmoid``: Platt scaling, a logistic regression on the score's log-odds;
- ``beta``: beta calibration (Kull, Silva Filho and Flach 2017), a logistic regression on ln p and -ln(1 - p)
  with non-negative weights: it also bends the map where the model is over- or under-confident at one end;
- ``spline``: the isotonic fit's blocks, each at its mean score with its churn rate as a Jeffreys estimate
  ((churned + 0.5) / (rows + 1): never 0 or 1), joined in log-odds by a monotone cubic (PCHIP) and continued
  beyond the first and last block along the end segments' slopes;
- ``none``: the booster's own probabilities.

Every map then passes through a soft bound in log-odds that leaves the middle alone and approaches, never
reaches, the most extreme probability the calibration rows can support: that of a group of the ``m`` most
extreme rows that all churned (or all stayed), (m + 0.5) / (m + 1), with m = 5% of the rows, at least 20 and at
most 500 (a probability above 99.9% is a claim no churn data set supports customer by customer).

The method is chosen by cross-fitted log loss: each fold's map is fitted on the other folds (customers grouped,
so a customer's rows of several cutoffs never judge their own map) and judged on its own. Log loss, unlike the
Brier score, punishes a confident wrong probability without limit, which is what a person acting on "99%" needs.
The out-of-fold probabilities of the chosen method are returned too: calibration metrics (ECE, Brier, log loss)
are only ever reported on them, never on rows a map was fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import PchipInterpolator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

METHODS = ("none", "sigmoid", "beta", "spline")
FOLDS = 5
_EPS = 1e-12


def _logit(p: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def _expit(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))


def support_bounds(n: int) -> tuple[float, float]:
    """The lowest and highest probability ``n`` calibration rows can support: the Jeffreys estimate of a group of
    the m most extreme rows all of one outcome, m = 5% of the rows within [20, 500]."""
    m = int(np.clip(round(0.05 * n), 20, 500))
    low = 0.5 / (m + 1)
    return low, 1 - low


def soft_bound(z: np.ndarray, low: float, high: float) -> np.ndarray:
    """Log-odds ``z`` pulled smoothly inside (logit(low), logit(high)): about the identity in the middle (a
    probability of 0.88 moves by under 0.2 points at the demo's bounds), strictly increasing, approaching each
    bound without reaching it."""
    z = np.asarray(z, dtype=float)
    top, bottom = _logit(high), -_logit(low)
    limit = np.where(z >= 0, top, bottom)
    return z / (1 + np.abs(z / limit) ** 4) ** 0.25


@dataclass(frozen=True)
class Calibrator:
    """A fitted calibration map. ``params``: sigmoid ``a, b``; beta ``a, b, c``; spline ``x, y`` knots (log-odds
    of score and of churn rate) and ``slopes`` beyond the first and last knot; all: ``bounds`` (low, high).
    Maps stored before the bounds existed (and isotonic ``x, y`` maps) still transform as they did."""

    method: str = "none"
    params: dict[str, list[float]] = field(default_factory=dict)

    def _log_odds(self, p: np.ndarray) -> np.ndarray:
        if self.method == "sigmoid":
            return self.params["a"][0] * _logit(p, 1e-6) + self.params["b"][0]
        if self.method == "beta":
            a, b, c = (self.params[k][0] for k in ("a", "b", "c"))
            q = np.clip(p, 1e-9, 1 - 1e-9)
            return a * np.log(q) - b * np.log1p(-q) + c
        if self.method == "spline":
            x, y = np.asarray(self.params["x"]), np.asarray(self.params["y"])
            s = _logit(p)
            if len(x) == 1:
                return np.full(len(s), y[0])
            inside = PchipInterpolator(x, y, extrapolate=False)(np.clip(s, x[0], x[-1]))
            left, right = self.params["slopes"]
            return np.where(s < x[0], y[0] + left * (s - x[0]), np.where(s > x[-1], y[-1] + right * (s - x[-1]), inside))
        return _logit(p)

    def transform(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        if self.method == "isotonic":  # maps stored by earlier versions
            return np.interp(p, self.params["x"], self.params["y"])
        if "bounds" not in self.params:
            if self.method == "sigmoid":
                return _expit(self._log_odds(p))
            return p
        low, high = self.params["bounds"]
        return _expit(soft_bound(self._log_odds(p), low, high))

    def to_dict(self) -> dict:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, d: dict) -> Calibrator:
        return cls(d["method"], {k: list(v) for k, v in d["params"].items()})


def _spline_knots(p: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """The isotonic fit's blocks as knots: (mean log-odds of the block's scores, log-odds of its Jeffreys rate)."""
    s = _logit(p)
    fitted = IsotonicRegression(out_of_bounds="clip").fit(s, y).predict(s)
    order = np.argsort(s, kind="stable")
    s, y, fitted = s[order], y[order], fitted[order]
    starts = np.flatnonzero(np.r_[True, np.diff(fitted) != 0])
    counts = np.diff(np.r_[starts, len(s)])
    sums, churned = np.add.reduceat(s, starts), np.add.reduceat(y, starts).astype(float)
    counts = counts.astype(float)
    # Jeffreys rates can fall where a small block sits under a large one (0 of 1 is 0.25, 10 of 100 is 0.10):
    # pool such neighbours until the rates rise strictly, as the isotonic fit pooled its blocks.
    while len(counts) > 1:
        rate = (churned + 0.5) / (counts + 1)
        falls = np.flatnonzero(np.diff(rate) <= 1e-12)
        if not falls.size:
            break
        i = falls[0]
        sums[i] += sums[i + 1]
        churned[i] += churned[i + 1]
        counts[i] += counts[i + 1]
        sums, churned, counts = (np.delete(a, i + 1) for a in (sums, churned, counts))
    x = sums / counts
    knots = _logit((churned + 0.5) / (counts + 1))
    if len(x) == 1:
        return {"x": x.tolist(), "y": knots.tolist(), "slopes": [0.0, 0.0]}
    # Beyond the data, the end segments' slopes, never steeper than the whole map's average slope (one short
    # end segment must not send the next customer to the bound).
    average = (knots[-1] - knots[0]) / (x[-1] - x[0])
    left = min((knots[1] - knots[0]) / (x[1] - x[0]), average)
    right = min((knots[-1] - knots[-2]) / (x[-1] - x[-2]), average)
    return {"x": x.tolist(), "y": knots.tolist(), "slopes": [float(left), float(right)]}


def fit_calibrator(method: str, p: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit one calibration method on predicted probabilities ``p`` and outcomes ``y`` (bounded by
    :func:`support_bounds` of their count)."""
    p, y = np.asarray(p, float), np.asarray(y, int)
    bounds = list(support_bounds(len(p)))
    if method == "sigmoid":
        lr = LogisticRegression(C=1e6).fit(_logit(p, 1e-6).reshape(-1, 1), y)
        return Calibrator("sigmoid", {"a": [float(lr.coef_[0, 0])], "b": [float(lr.intercept_[0])], "bounds": bounds})
    if method == "beta":
        q = np.clip(p, 1e-9, 1 - 1e-9)
        design = np.column_stack([np.log(q), -np.log1p(-q)])
        lr = LogisticRegression(C=1e6).fit(design, y)
        a, b = lr.coef_[0]
        if a < 0 or b < 0:  # a negative weight bends the map back on itself: fit on the one that helps only
            keep = 0 if a >= b else 1
            lr = LogisticRegression(C=1e6).fit(design[:, [keep]], y)
            coef = max(float(lr.coef_[0, 0]), 0.0)
            a, b = (coef, 0.0) if keep == 0 else (0.0, coef)
        return Calibrator("beta", {"a": [float(a)], "b": [float(b)], "c": [float(lr.intercept_[0])], "bounds": bounds})
    if method == "spline":
        return Calibrator("spline", {**_spline_knots(p, y), "bounds": bounds})
    return Calibrator("none", {"bounds": bounds})


def _folds(n: int, groups: np.ndarray | None, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if groups is None:
        return rng.permutation(n) % FOLDS
    _, index = np.unique(np.asarray(groups), return_inverse=True)
    return rng.permutation(index.max() + 1)[index] % FOLDS


def choose_calibrator(p: np.ndarray, y: np.ndarray, seed: int, groups: np.ndarray | None = None
                      ) -> tuple[Calibrator, dict[str, float], np.ndarray]:
    """Pick the method with the lowest cross-fitted log loss (``FOLDS`` folds, rows of one ``groups`` value in
    one fold), then refit it on all rows.

    Returns:
        The map fitted on every row, the out-of-fold log loss of each method, and the chosen method's
        out-of-fold probabilities (the only honest input to calibration metrics).
    """
    p, y = np.asarray(p, float), np.asarray(y, int)
    fold = _folds(len(p), groups, seed)
    scores: dict[str, float] = {}
    out_of_fold: dict[str, np.ndarray] = {}
    for method in METHODS:
        out = np.empty(len(p))
        for k in range(FOLDS):
            test = fold == k
            train = ~test
            if not test.any():
                continue
            if len(np.unique(y[train])) < 2:  # a fold without both outcomes cannot fit a map: leave it as scored
                out[test] = np.clip(p[test], _EPS, 1 - _EPS)
                continue
            out[test] = fit_calibrator(method, p[train], y[train]).transform(p[test])
        out_of_fold[method] = out
        scores[method] = float(log_loss(y, np.clip(out, _EPS, 1 - _EPS), labels=[0, 1]))
    best = min(METHODS, key=lambda m: (scores[m], METHODS.index(m)))
    return fit_calibrator(best, p, y), scores, out_of_fold[best]
