"""Gamma-Gamma spend model: the published CDNOW figures, parameter recovery on simulated data, and the
BTYD x Gamma-Gamma lifetime value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.btyd import BetaGeoModel
from models.gamma_gamma import (
    GammaGammaModel,
    btyd_lifetime_value,
    discounted_expected_purchases,
    gamma_gamma_gradient,
    gamma_gamma_log_likelihood,
)
from pipeline.data.samples.cdnow import load_cdnow_sample


def repeat_spend_summary(tx: pd.DataFrame, end: str = "1997-09-30") -> tuple[np.ndarray, np.ndarray]:
    """Per customer: repeat purchase days x and the mean value of those days (NaN when x = 0).

    The first purchase day is left out, as in the paper. The loader's amounts (one day's lines summed,
    rounded to cents) reproduce the published figures as they are; no other rounding is needed.
    """
    cal = tx[tx["timestamp"] <= end]
    first_day = cal.groupby("customer_id")["timestamp"].transform("min")
    repeats = cal[cal["timestamp"] > first_day].groupby("customer_id")["amount"].agg(["count", "mean"])
    summary = repeats.reindex(np.sort(cal["customer_id"].unique()))
    return summary["count"].fillna(0).to_numpy(float), summary["mean"].to_numpy(float)


@pytest.fixture(scope="module")
def cdnow_spend() -> tuple[np.ndarray, np.ndarray]:
    return repeat_spend_summary(load_cdnow_sample())


@pytest.fixture(scope="module")
def cdnow_model(cdnow_spend) -> GammaGammaModel:
    return GammaGammaModel().fit(*cdnow_spend)


def test_golden_cdnow_sample_reproduces_published_estimates(cdnow_spend, cdnow_model):
    """Fader and Hardie (2013): p 6.25, q 3.74, gamma 15.44, LL -4055.92 on the 946 repeat buyers of the
    1/10 sample's 39-week calibration period (the x = 0 customers are in the input and must be ignored)."""
    x, _ = cdnow_spend
    assert len(x) == 2357 and int((x > 0).sum()) == 946
    m = cdnow_model
    assert m.n_fitted_ == 946
    assert m.p_ == pytest.approx(6.25, rel=1e-2)
    assert m.q_ == pytest.approx(3.74, rel=1e-2)
    assert m.v_ == pytest.approx(15.44, rel=1e-2)
    assert m.log_likelihood_ == pytest.approx(-4055.92, abs=0.05)
    assert m.params_ == {"p": m.p_, "q": m.q_, "v": m.v_}
    assert m.population_mean_spend == pytest.approx(m.v_ * m.p_ / (m.q_ - 1))


def test_likelihood_gradient_matches_finite_differences(cdnow_spend):
    x, mbar = cdnow_spend
    x, mbar = x[x > 0], mbar[x > 0]
    for params in (np.array([6.0, 3.5, 15.0]), np.array([0.8, 1.5, 40.0])):
        # central differences: near the optimum the gradient is small beside the summed likelihood
        steps = np.diag(params * 1e-6)
        numeric = [(gamma_gamma_log_likelihood(params + step, x, mbar).sum()
                    - gamma_gamma_log_likelihood(params - step, x, mbar).sum()) / (2 * step.sum()) for step in steps]
        np.testing.assert_allclose(gamma_gamma_gradient(params, x, mbar).sum(axis=1), numeric, rtol=1e-5)


def simulate_gamma_gamma(n, p, q, v, seed):
    rng = np.random.default_rng(seed)
    x = 1.0 + rng.poisson(2.0, n)
    nu = rng.gamma(q, 1 / v, n)
    # x transactions, each gamma(p, rate nu): their sum is gamma(p x, rate nu), their mean gamma(p x, rate x nu)
    return x, rng.gamma(p * x, 1 / (x * nu))


def test_recovers_simulated_parameters():
    x, mbar = simulate_gamma_gamma(20000, 6.0, 4.0, 15.0, seed=0)
    m = GammaGammaModel().fit(x, mbar)
    assert m.p_ == pytest.approx(6.0, rel=0.15) and m.q_ == pytest.approx(4.0, rel=0.1)
    assert m.v_ == pytest.approx(15.0, rel=0.2)
    assert m.population_mean_spend == pytest.approx(6.0 * 15.0 / 3.0, rel=0.02)


def test_fit_rejects_too_few_customers_and_mismatched_inputs():
    with pytest.raises(ValueError, match="at least 10 repeat buyers"):
        GammaGammaModel().fit(np.array([1.0, 2.0, 0.0, 3.0]), np.array([10.0, 20.0, np.nan, -5.0]))
    with pytest.raises(ValueError, match="shape"):
        GammaGammaModel().fit(np.ones(20), np.ones(19))


def test_penalizer_shrinks_the_parameters(cdnow_spend, cdnow_model):
    penalized = GammaGammaModel(penalizer=0.01).fit(*cdnow_spend)
    assert np.sum(np.square(list(penalized.params_.values()))) < np.sum(np.square(list(cdnow_model.params_.values())))
    assert penalized.log_likelihood_ < cdnow_model.log_likelihood_


def test_conditional_expectation_shrinks_towards_the_population_mean_more_for_few_purchases(cdnow_model):
    m = cdnow_model
    population = m.population_mean_spend
    x = np.array([1.0, 3.0, 10.0, 50.0])
    for own_mean in (3 * population, population / 3):
        expected = m.conditional_expected_average_profit(x, np.full(4, own_mean))
        share_of_own = (expected - population) / (own_mean - population)  # 0: the population mean, 1: their own
        assert np.all((share_of_own > 0) & (share_of_own < 1)) and np.all(np.diff(share_of_own) > 0)
        np.testing.assert_allclose(share_of_own, m.p_ * x / (m.p_ * x + m.q_ - 1))


def test_conditional_expectation_without_history_is_the_population_mean(cdnow_model):
    m = cdnow_model
    expected = m.conditional_expected_average_profit(np.array([0.0, 0.0, 2.0]), np.array([np.nan, 25.0, np.nan]))
    np.testing.assert_allclose(expected, m.population_mean_spend)
    # the paper's form, before cancelling (q - 1)
    p, q, v, x, mbar = m.p_, m.q_, m.v_, 4.0, 60.0
    paper = (q - 1) / (p * x + q - 1) * (v * p / (q - 1)) + p * x / (p * x + q - 1) * mbar
    assert m.conditional_expected_average_profit(x, mbar) == pytest.approx(paper)


def test_population_mean_requires_q_above_one():
    m = GammaGammaModel()
    m.p_, m.q_, m.v_ = 2.0, 0.9, 10.0
    with pytest.raises(ValueError, match="infinite"):
        _ = m.population_mean_spend
    assert np.isfinite(m.conditional_expected_average_profit(3.0, 20.0))  # a customer's own history still works


@pytest.fixture(scope="module")
def bgnbd() -> BetaGeoModel:
    """The published CDNOW BG/NBD estimates (Fader, Hardie and Lee 2005), set rather than fitted."""
    m = BetaGeoModel()
    m.r_, m.alpha_, m.a_, m.b_ = 0.243, 4.414, 0.793, 2.426
    return m


def test_lifetime_value_matches_a_hand_computation(bgnbd):
    x, t_x, T, spend = 4.0, 30.0, 38.0, 42.0
    weeks_per_month, annual_rate = 52.1775 / 12, 0.12
    by_hand, before = 0.0, 0.0
    for month in (1, 2, 3):
        by_end = float(bgnbd.expected_purchases(month * weeks_per_month, np.array([x]), np.array([t_x]), np.array([T]))[0])
        by_hand += (by_end - before) * spend / (1 + annual_rate) ** (month / 12)
        before = by_end
    value = btyd_lifetime_value(bgnbd, spend, np.array([x]), np.array([t_x]), np.array([T]), months=3,
                                annual_discount_rate=annual_rate)
    assert value.shape == (1,) and value[0] == pytest.approx(by_hand, rel=1e-12)
    assert discounted_expected_purchases(bgnbd, [x], [t_x], [T], 3, annual_rate)[0] * spend == pytest.approx(by_hand)


def test_lifetime_value_falls_with_the_discount_rate_and_grows_with_the_horizon(bgnbd):
    x, t_x, T = np.array([0.0, 2.0, 7.0]), np.array([0.0, 10.0, 35.0]), np.array([38.0, 38.0, 38.0])
    spend = np.array([30.0, 45.0, 25.0])

    def value(months, rate):
        return btyd_lifetime_value(bgnbd, spend, x, t_x, T, months=months, annual_discount_rate=rate)

    assert np.all(value(12, 0.2) < value(12, 0.05)) and np.all(value(12, 0.05) < value(12, 0.0))
    assert np.all(value(6, 0.1) < value(12, 0.1)) and np.all(value(12, 0.1) < value(36, 0.1))
    assert np.all(value(0, 0.1) == 0)
    # undiscounted, it is the forecast of purchases over the horizon times the spend
    np.testing.assert_allclose(value(12, 0.0), bgnbd.expected_purchases(12 * 52.1775 / 12, x, t_x, T) * spend)


def test_lifetime_value_rejects_a_negative_horizon(bgnbd):
    with pytest.raises(ValueError, match="months"):
        btyd_lifetime_value(bgnbd, 10.0, [1.0], [5.0], [38.0], months=-1, annual_discount_rate=0.1)
