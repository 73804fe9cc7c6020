"""The Gamma-Gamma model of spend per transaction (Fader and Hardie 2013, "The Gamma-Gamma Model of Monetary
Value") and customer lifetime value from a BTYD purchase forecast times expected spend, on numpy/scipy.

How it works, and why: docs/value.md, section "models/gamma_gamma.py".
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy import special

from models.btyd import LogParameterModel, fit_log_parameters

MIN_CUSTOMERS = 10
WEEKS_PER_MONTH = 52.1775 / 12


def gamma_gamma_log_likelihood(params: np.ndarray, frequency: np.ndarray, monetary_value: np.ndarray) -> np.ndarray:
    """Per-customer log-density of the mean transaction value ``monetary_value`` over ``frequency`` (> 0)
    transactions under Gamma-Gamma parameters (p, q, v), the paper's eq. 3."""
    p, q, v = params
    x, mbar = frequency, monetary_value
    px = p * x
    return (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(v)
            + (px - 1) * np.log(mbar) + px * np.log(x) - (px + q) * np.log(v + x * mbar))


def gamma_gamma_gradient(params: np.ndarray, frequency: np.ndarray, monetary_value: np.ndarray) -> np.ndarray:
    """Per-customer gradient of the log-likelihood with respect to (p, q, v), shape (3, n)."""
    p, q, v = params
    x, mbar = frequency, monetary_value
    px = p * x
    log_total = np.log(v + x * mbar)
    psi_all = special.digamma(px + q)
    return np.stack([
        x * (psi_all - special.digamma(px) + np.log(mbar) + np.log(x) - log_total),
        psi_all - special.digamma(q) + np.log(v) - log_total,
        q / v - (px + q) / (v + x * mbar),
    ])


def _usable(frequency: np.ndarray, monetary_value: np.ndarray) -> np.ndarray:
    """Rows the model can learn from: repeat buyers with a finite, positive mean spend."""
    with np.errstate(invalid="ignore"):
        return (frequency > 0) & np.isfinite(monetary_value) & (monetary_value > 0)


class GammaGammaModel(LogParameterModel):
    """Gamma-Gamma model of spend per transaction, fitted by maximum likelihood (log-parametrised, L-BFGS
    with the analytic gradient from a couple of starts).

    Learned attributes: ``p_``, ``q_``, ``v_`` (the paper's gamma), ``log_likelihood_`` (summed over the
    fitted customers, without the penalty), ``n_fitted_`` (customers used) and ``params_``.

    Args:
        penalizer: L2 penalty on the parameters (0 reproduces the published estimates).
    """

    PARAMS = ("p", "q", "v")

    def fit(self, frequency: np.ndarray, monetary_value: np.ndarray) -> GammaGammaModel:
        """Fit on each customer's number of repeat transactions and the mean value of those transactions.

        Rows with ``frequency <= 0`` or a missing, infinite or non-positive ``monetary_value`` are ignored.

        Raises:
            ValueError: fewer than ``MIN_CUSTOMERS`` usable customers, or no start gives a finite likelihood.
        """
        frequency, monetary_value = np.asarray(frequency, float), np.asarray(monetary_value, float)
        if frequency.shape != monetary_value.shape:
            raise ValueError(f"frequency has shape {frequency.shape} but monetary_value has {monetary_value.shape}; "
                             "pass one value of each per customer")
        usable = _usable(frequency, monetary_value)
        n_usable = int(usable.sum())
        if n_usable < MIN_CUSTOMERS:
            raise ValueError(f"GammaGammaModel needs at least {MIN_CUSTOMERS} repeat buyers with a positive mean spend, "
                             f"got {n_usable} of {frequency.size} rows; fit it on a longer calibration period")
        x, mbar = frequency[usable], monetary_value[usable]

        # The second start is scaled to the data (its population mean v p / (q - 1) is the mean spend), so
        # the fit does not depend on the currency unit.
        starts = ((1.0, 1.0, 1.0), (1.0, 2.0, float(mbar.mean())))
        best = fit_log_parameters(gamma_gamma_log_likelihood, gamma_gamma_gradient, (x, mbar), starts, self.penalizer)
        if best is None:
            raise ValueError(f"GammaGammaModel fit failed on {n_usable} customers: the likelihood is not finite at any "
                             "start; check monetary_value for extreme amounts")
        self.p_, self.q_, self.v_ = (float(value) for value in np.exp(best.x))
        self.log_likelihood_ = float(gamma_gamma_log_likelihood(self._params(), x, mbar).sum())
        self.n_fitted_ = n_usable
        return self

    @property
    def population_mean_spend(self) -> float:
        """Mean spend per transaction of a randomly chosen customer, v p / (q - 1).

        Raises:
            ValueError: q <= 1, where the spread of customers' mean spend is so heavy-tailed that the
                population mean is infinite.
        """
        if self.q_ <= 1:
            raise ValueError(f"the population mean spend is infinite for q = {self.q_:.3g} <= 1; "
                             "refit with a penalizer or trim extreme monetary values")
        return self.v_ * self.p_ / (self.q_ - 1)

    def conditional_expected_average_profit(self, frequency: np.ndarray, monetary_value: np.ndarray) -> np.ndarray:
        """E[spend per transaction | x repeat transactions of mean value mbar], the paper's eq. 5.

        A weighted mean of the population mean and the customer's own mean, with weight p x / (p x + q - 1)
        on their own: the fewer transactions, the stronger the pull to the population mean. Customers
        without a usable history (``x <= 0``, or a missing or non-positive mean) get the population mean.

        Raises:
            ValueError: some customer needs the population mean and q <= 1 (see ``population_mean_spend``).
        """
        frequency, monetary_value = np.broadcast_arrays(np.asarray(frequency, float), np.asarray(monetary_value, float))
        usable = _usable(frequency, monetary_value)
        p, q, v = self._params()
        x, mbar = np.where(usable, frequency, 1.0), np.where(usable, monetary_value, 1.0)
        # ((q - 1) / (p x + q - 1)) * v p / (q - 1) + (p x / (p x + q - 1)) * mbar, with (q - 1) cancelled
        # so that it also holds for q <= 1
        own = p * (v + x * mbar) / (p * x + q - 1)
        if usable.all():
            return own
        return np.where(usable, own, self.population_mean_spend)


class PurchaseForecaster(Protocol):
    """A BTYD model (:class:`models.btyd.BetaGeoModel`, :class:`models.btyd.ParetoNBDModel`)."""

    def expected_purchases(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray: ...


def discounted_expected_purchases(btyd_model: PurchaseForecaster, x: np.ndarray, t_x: np.ndarray, T: np.ndarray,
                                  months: int, annual_discount_rate: float,
                                  weeks_per_month: float = WEEKS_PER_MONTH) -> np.ndarray:
    """Expected purchases over the next ``months`` months, each month's discounted to today.

    Sum over m = 1..months of (E[X(m)] - E[X(m - 1)]) / (1 + monthly_rate)^m, where E[X(m)] is the
    model's expected purchases in the next m months (``m * weeks_per_month`` weeks) and monthly_rate =
    (1 + annual_discount_rate)^(1/12) - 1.

    Args:
        btyd_model: a fitted model with ``expected_purchases(t_weeks, x, t_x, T)``.
        x: repeat purchases in calibration, per customer.
        t_x: weeks from the first to the last purchase.
        T: weeks from the first purchase to the end of calibration.
        months: the horizon in months (0 gives zeros).
        annual_discount_rate: e.g. 0.1 for 10 % a year.
        weeks_per_month: weeks in a month (the default is an average calendar month).

    Raises:
        ValueError: a negative horizon or an annual discount rate of -100 % or less.
    """
    if months < 0:
        raise ValueError(f"months must be 0 or more, got {months}")
    if annual_discount_rate <= -1:
        raise ValueError(f"annual_discount_rate must be above -1 (-100 %), got {annual_discount_rate}")
    x, t_x, T = (np.asarray(values, float) for values in (x, t_x, T))
    monthly_rate = (1 + annual_discount_rate) ** (1 / 12) - 1
    total = np.zeros(np.broadcast(x, t_x, T).shape)
    purchases_so_far = np.zeros_like(total)
    for month in range(1, months + 1):  # one vectorised forecast per month, over all customers
        purchases_by_month_end = btyd_model.expected_purchases(month * weeks_per_month, x, t_x, T)
        total += (purchases_by_month_end - purchases_so_far) / (1 + monthly_rate) ** month
        purchases_so_far = purchases_by_month_end
    return total


def btyd_lifetime_value(btyd_model: PurchaseForecaster, spend_per_purchase: np.ndarray | float, x: np.ndarray,
                        t_x: np.ndarray, T: np.ndarray, months: int, annual_discount_rate: float,
                        weeks_per_month: float = WEEKS_PER_MONTH) -> np.ndarray:
    """Expected discounted spend over the next ``months`` months, per customer.

    The BTYD model's discounted purchases (:func:`discounted_expected_purchases`) times the expected spend
    per purchase, usually :meth:`GammaGammaModel.conditional_expected_average_profit`. Multiply by a margin
    for profit rather than revenue.

    Args:
        btyd_model: a fitted model with ``expected_purchases(t_weeks, x, t_x, T)``.
        spend_per_purchase: expected spend per purchase, per customer or one for all.
        x: repeat purchases in calibration, per customer.
        t_x: weeks from the first to the last purchase.
        T: weeks from the first purchase to the end of calibration.
        months: the horizon in months.
        annual_discount_rate: e.g. 0.1 for 10 % a year.
        weeks_per_month: weeks in a month (the default is an average calendar month).
    """
    purchases = discounted_expected_purchases(btyd_model, x, t_x, T, months, annual_discount_rate, weeks_per_month)
    return purchases * np.asarray(spend_per_purchase, float)
