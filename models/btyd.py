"""BG/NBD (Fader, Hardie and Lee 2005) and Pareto/NBD (Schmittlein, Morrison and Colombo 1987): small,
tested implementations on numpy/scipy.

Time is measured in weeks. ``x`` is the number of repeat purchase days, ``t_x`` the time of the last
purchase after the first, ``T`` the time from the first purchase to the end of calibration.
The maintained Python library (lifetimes) no longer installs against pandas 3 / numpy 2, hence this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from scipy import optimize, special


def _unique_rows(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, ...]:
    rows = np.column_stack([x, t_x, T])
    uniq, counts = np.unique(rows, axis=0, return_counts=True)
    return uniq[:, 0], uniq[:, 1], uniq[:, 2], counts.astype(float)


def _bgnbd_terms(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, ...]:
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
    a3, a4 = _bgnbd_terms(params, x, t_x, T)
    return a1 + a2 + np.logaddexp(a3, a4)


def bgnbd_gradient(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer gradient of the log-likelihood with respect to (r, alpha, a, b), shape (4, n)."""
    r, alpha, a, b = params
    a3, a4 = _bgnbd_terms(params, x, t_x, T)
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


def fit_log_parameters(log_likelihood: Callable[..., np.ndarray], gradient: Callable[..., np.ndarray] | None,
                       data: tuple[np.ndarray, ...], starts: Iterable[Iterable[float]], penalizer: float,
                       weights: np.ndarray | None = None) -> optimize.OptimizeResult | None:
    """Maximum likelihood over log-parameters by L-BFGS from each of ``starts``; the best finite result, or None.

    Minimises the (``weights``-weighted, else plain) mean negative log-likelihood of ``data`` plus
    ``penalizer`` x the squared parameters. Shared by the BTYD models and :class:`models.gamma_gamma.GammaGammaModel`.

    Args:
        log_likelihood: per-customer log-likelihood, ``log_likelihood(params, *data)``.
        gradient: its per-customer gradient, shape (parameters, customers); None: fitted without one.
        data: the per-customer arrays the likelihood reads.
        starts: starting parameters (not logged).
        penalizer: L2 penalty on the parameters.
        weights: customers each row stands for (identical customers collapsed); None: one each.
    """
    def average(values: np.ndarray) -> np.ndarray:
        return values.mean(axis=-1) if weights is None else (values @ weights) / weights.sum()

    def objective(log_params: np.ndarray):
        params = np.exp(log_params)
        value = -average(log_likelihood(params, *data)) + penalizer * float(np.sum(params**2))
        if gradient is None:
            return value
        # chain rule for the log parametrisation: d/d(log p) = p * d/dp
        return value, params * (-average(gradient(params, *data)) + 2 * penalizer * params)

    best = None
    for start in starts:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            res = optimize.minimize(objective, np.log(start), jac=gradient is not None, method="L-BFGS-B",
                                    options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9})
        if np.isfinite(res.fun) and np.all(np.isfinite(res.x)) and (best is None or res.fun < best.fun):
            best = res
    return best


class LogParameterModel:
    """A model of a few positive parameters fitted by :func:`fit_log_parameters`: its learned parameters are
    the attributes ``<name>_`` of each name in ``PARAMS``.

    Args:
        penalizer: L2 penalty on the parameters (0 reproduces the published estimates).
    """

    PARAMS: tuple[str, ...] = ()

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    @property
    def params_(self) -> dict[str, float]:
        return {name: getattr(self, f"{name}_") for name in self.PARAMS}

    def _params(self) -> np.ndarray:
        return np.array([getattr(self, f"{name}_") for name in self.PARAMS])


class _BTYDModel(LogParameterModel):
    """Maximum-likelihood fit shared by the BTYD models (log-parametrised, L-BFGS from several starts),
    and P(alive), which both read off the likelihood's two branches.

    A model declares its parameter names and starting points, its per-customer ``LOG_LIKELIHOOD``,
    its per-customer ``GRADIENT`` (shape (parameters, customers); None: fitted without one), and
    ``BRANCHES``: the log-likelihood's two history terms (still alive at T; dropped out after the last
    purchase), which weigh P(alive).

    Args:
        penalizer: L2 penalty on the parameters (0 reproduces the published estimates).
    """

    STARTS: tuple[tuple[float, ...], ...] = ()
    LOG_LIKELIHOOD: Callable[..., np.ndarray]
    GRADIENT: Callable[..., np.ndarray] | None = None
    BRANCHES: Callable[..., tuple[np.ndarray, np.ndarray]]

    def fit(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray):
        """Fit on arrays of x, t_x, T (weeks); identical customers are collapsed for speed."""
        ux, ut, uT, w = _unique_rows(np.asarray(x, float), np.asarray(t_x, float), np.asarray(T, float))
        best = fit_log_parameters(self.LOG_LIKELIHOOD, self.GRADIENT, (ux, ut, uT), self.STARTS, self.penalizer, w)
        if best is None:
            raise ValueError(f"{type(self).__name__} fit failed: the likelihood is not finite at any start")
        for name, value in zip(self.PARAMS, np.exp(best.x), strict=True):
            setattr(self, f"{name}_", float(value))
        self.log_likelihood_ = float(-best.fun * w.sum())
        return self

    def probability_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(customer still active | history): the alive branch's share of the history's likelihood."""
        alive, dropped = self.BRANCHES(self._params(), *(np.asarray(v, float) for v in (x, t_x, T)))
        return 1.0 / (1.0 + np.exp(np.minimum(dropped - alive, 700)))


class BetaGeoModel(_BTYDModel):
    """BG/NBD fitted by maximum likelihood (with its analytic gradient)."""

    PARAMS = ("r", "alpha", "a", "b")
    STARTS = ((0.5, 5.0, 1.0, 2.0), (1.0, 1.0, 1.0, 1.0))
    LOG_LIKELIHOOD = staticmethod(bgnbd_log_likelihood)
    GRADIENT = staticmethod(bgnbd_gradient)
    BRANCHES = staticmethod(_bgnbd_terms)

    def expected_purchases(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """E[number of purchases in the next ``t`` weeks | history]."""
        r, alpha, a, b = self._params()
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        z = t / (alpha + T + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        numerator = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
        lead = (a + b + x - 1) / (a - 1)
        return lead * numerator * self.probability_alive(x, t_x, T)

    def expected_purchases_new(self, t: float) -> float:
        """E[purchases in ``t`` weeks] of a randomly chosen new customer."""
        r, alpha, a, b = self._params()
        z = t / (alpha + t)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, z))


def _log_a0(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """log A0 of the Pareto/NBD likelihood (Fader and Hardie 2005, "A note on deriving the Pareto/NBD
    model and related expressions", eq. 19-20): the customer dropped out between t_x and T."""
    r, alpha, s, beta = params
    big, second = (alpha, s + 1.0) if alpha >= beta else (beta, r + x)
    a = r + s + x

    def term(t: np.ndarray) -> np.ndarray:
        # 2F1(a, b; a + 1; z) = (1 - z)^(1 - b) 2F1(1, a + 1 - b; a + 1; z) (Euler): the right-hand
        # series stays small where the left one overflows (long histories, z near 1)
        z = abs(alpha - beta) / (big + t)
        hyp = special.hyp2f1(1.0, a + 1.0 - second, a + 1.0, z)
        return (1.0 - second) * np.log1p(-z) + np.log(hyp) - a * np.log(big + t)

    at_last, at_end = term(t_x), term(T)
    with np.errstate(divide="ignore"):  # t_x == T: the customer cannot have dropped out in between
        return at_last + np.log1p(-np.exp(np.minimum(at_end - at_last, 0.0)))


def _pareto_terms(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, ...]:
    """The Pareto/NBD likelihood's two branches (still active at T; dropped out between t_x and T)."""
    r, alpha, s, beta = params
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    dropped = np.log(s) - np.log(r + s + x) + _log_a0(params, x, t_x, T)
    return alive, dropped


def pareto_nbd_log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of Pareto/NBD parameters (r, alpha, s, beta)."""
    r, alpha, s, beta = params
    lead = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return lead + np.logaddexp(*_pareto_terms(params, x, t_x, T))


class ParetoNBDModel(_BTYDModel):
    """Pareto/NBD fitted by maximum likelihood (same interface as :class:`BetaGeoModel`).

    Purchases follow a Poisson process at a gamma(r, alpha)-distributed rate while the customer is
    alive; lifetimes are exponential with a gamma(s, beta)-distributed dropout rate, so a customer can
    leave at any moment, not only just after a purchase as in BG/NBD.
    """

    PARAMS = ("r", "alpha", "s", "beta")
    STARTS = ((0.5, 10.0, 0.5, 10.0), (1.0, 1.0, 1.0, 1.0))
    LOG_LIKELIHOOD = staticmethod(pareto_nbd_log_likelihood)
    BRANCHES = staticmethod(_pareto_terms)

    def expected_purchases(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """E[number of purchases in the next ``t`` weeks | history]."""
        r, alpha, s, beta = self._params()
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        if abs(s - 1.0) < 1e-9:  # the limit s -> 1 of the general form
            ahead = np.log((beta + T + t) / (beta + T))
        else:
            ahead = (1.0 - ((beta + T) / (beta + T + t)) ** (s - 1.0)) / (s - 1.0)
        return self.probability_alive(x, t_x, T) * (r + x) * (beta + T) / (alpha + T) * ahead

    def expected_purchases_new(self, t: float) -> float:
        """E[purchases in ``t`` weeks] of a randomly chosen new customer."""
        r, alpha, s, beta = self._params()
        if abs(s - 1.0) < 1e-9:
            return float(r * beta / alpha * np.log((beta + t) / beta))
        return float(r * beta / (alpha * (s - 1.0)) * (1.0 - (beta / (beta + t)) ** (s - 1.0)))
