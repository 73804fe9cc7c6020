"""BG/NBD (Fader, Hardie and Lee 2005): a small, tested implementation on numpy/scipy.

Time is measured in weeks. ``x`` is the number of repeat purchase days, ``t_x`` the time of the last
purchase after the first, ``T`` the time from the first purchase to the end of calibration.
The maintained Python library (lifetimes) no longer installs against pandas 3 / numpy 2, hence this.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special


def _unique_rows(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, ...]:
    rows = np.column_stack([x, t_x, T])
    uniq, counts = np.unique(rows, axis=0, return_counts=True)
    return uniq[:, 0], uniq[:, 1], uniq[:, 2], counts.astype(float)


def _terms(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, ...]:
    """The likelihood's two branches (a3: still active at T, a4: dropped out after the last purchase)."""
    r, alpha, a, b = params
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return a3, a4


def bgnbd_log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of BG/NBD parameters (r, alpha, a, b)."""
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    a3, a4 = _terms(params, x, t_x, T)
    return a1 + a2 + np.logaddexp(a3, a4)


def bgnbd_gradient(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer gradient of the log-likelihood with respect to (r, alpha, a, b), shape (4, n)."""
    r, alpha, a, b = params
    a3, a4 = _terms(params, x, t_x, T)
    total = np.logaddexp(a3, a4)
    w3, w4 = np.exp(a3 - total), np.exp(a4 - total)  # the branches' shares of the likelihood
    psi = special.digamma
    log_t3, log_t4 = np.log(alpha + T), np.log(alpha + t_x)
    return np.stack([
        psi(r + x) - psi(r) + np.log(alpha) - w3 * log_t3 - w4 * log_t4,
        r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x)),
        psi(a + b) - psi(a + b + x) + w4 / a,
        psi(a + b) + psi(b + x) - psi(b) - psi(a + b + x) - w4 / np.maximum(b + x - 1, 1e-12),
    ])


class BetaGeoModel:
    """BG/NBD fitted by maximum likelihood.

    Args:
        penalizer: L2 penalty on the parameters (0 reproduces the published estimates).
    """

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BetaGeoModel:
        """Fit on arrays of x, t_x, T (weeks); identical customers are collapsed for speed."""
        ux, ut, uT, w = _unique_rows(np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float))

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            ll = bgnbd_log_likelihood(params, ux, ut, uT)
            grad = bgnbd_gradient(params, ux, ut, uT) @ w
            value = -(w @ ll) / w.sum() + self.penalizer * float(np.sum(params**2))
            # chain rule for the log parametrisation: d/d(log p) = p * d/dp
            return value, params * (-grad / w.sum() + 2 * self.penalizer * params)

        best = None
        for start in (np.log([0.5, 5.0, 1.0, 2.0]), np.zeros(4)):
            res = optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                                    options={"maxiter": 1000, "ftol": 1e-14, "gtol": 1e-9})
            if best is None or res.fun < best.fun:
                best = res
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in np.exp(best.x))
        self.log_likelihood_ = float(-best.fun * w.sum())
        return self

    @property
    def params_(self) -> dict[str, float]:
        return {"r": self.r_, "alpha": self.alpha_, "a": self.a_, "b": self.b_}

    def probability_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(customer still active | history)."""
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        log_ratio = np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        return np.where(x > 0, 1.0 / (1.0 + np.exp(np.minimum(log_ratio, 700))), 1.0)

    def expected_purchases(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """E[number of purchases in the next ``t`` weeks | history]."""
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        z = t / (alpha + T + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        numerator = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
        lead = (a + b + x - 1) / (a - 1)
        return lead * numerator * self.probability_alive(x, t_x, T) * 1.0

    def expected_purchases_new(self, t: float) -> float:
        """E[purchases in ``t`` weeks] of a randomly chosen new customer."""
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        z = t / (alpha + t)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, z))
