"""BG/NBD: parameter recovery on simulated data and the published CDNOW figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.btyd import BetaGeoModel
from pipeline.cdnow import load_cdnow, load_cdnow_sample


def simulate_bgnbd(n, r, alpha, a, b, T, seed):
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):  # test-only simulator
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < p[i]:
                break
    return x, t_x, np.full(n, T)


def test_recovers_simulated_parameters():
    x, t_x, T = simulate_bgnbd(6000, 0.5, 3.0, 1.2, 3.0, 40.0, seed=1)
    m = BetaGeoModel().fit(x, t_x, T)
    assert m.r_ == pytest.approx(0.5, rel=0.15) and m.alpha_ == pytest.approx(3.0, rel=0.2)
    assert m.a_ == pytest.approx(1.2, rel=0.35) and m.b_ == pytest.approx(3.0, rel=0.5)


def cdnow_summary(end="1997-09-30", tx=None):
    tx = load_cdnow() if tx is None else tx
    cal = tx[tx["timestamp"] <= end]
    d = cal.groupby("customer_id")["timestamp"].agg(["min", "max", "nunique"])
    return (d["nunique"] - 1).to_numpy(float), ((d["max"] - d["min"]).dt.days / 7).to_numpy(), \
        ((pd.Timestamp(end) - d["min"]).dt.days / 7).to_numpy()


def test_expectations_are_consistent():
    m = BetaGeoModel().fit(*cdnow_summary())
    x, t_x, T = np.array([0.0, 2, 2]), np.array([0.0, 30, 5]), np.array([38.0, 38, 38])
    alive = m.probability_alive(x, t_x, T)
    assert alive[0] == 1.0 and alive[1] > alive[2]  # a recent buyer is likelier alive than a lapsed one
    e = m.expected_purchases(13, x, t_x, T)
    assert np.all(e >= 0) and e[1] > e[2]
    assert 0 < m.expected_purchases_new(13) < m.expected_purchases_new(39)


def test_golden_cdnow_sample_reproduces_published_estimates():
    """Fader, Hardie and Lee (2005): r 0.243, alpha 4.414, a 0.793, b 2.426, LL -9582.4."""
    x, t_x, T = cdnow_summary(tx=load_cdnow_sample())
    assert len(x) == 2357
    m = BetaGeoModel().fit(x, t_x, T)
    assert m.r_ == pytest.approx(0.243, abs=0.001)
    assert m.alpha_ == pytest.approx(4.414, abs=0.005)
    assert m.a_ == pytest.approx(0.793, abs=0.002)
    assert m.b_ == pytest.approx(2.426, abs=0.005)
    assert m.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)


def test_holdout_forecast_tracks_actual_repeat_purchases():
    """Over the 39 weeks after calibration the summed forecast is close to what the sample really did."""
    sample = load_cdnow_sample()
    x, t_x, T = cdnow_summary(tx=sample)
    m = BetaGeoModel().fit(x, t_x, T)
    actual = sample[(sample["timestamp"] > "1997-09-30") & (sample["timestamp"] <= "1998-06-30")]
    forecast = m.expected_purchases(39, x, t_x, T).sum()
    assert forecast == pytest.approx(len(actual), rel=0.15)


def test_likelihood_gradient_matches_finite_differences():
    from scipy import optimize

    from models.btyd import bgnbd_gradient, bgnbd_log_likelihood

    x, t_x, T = cdnow_summary(tx=load_cdnow_sample())
    for params in (np.array([0.3, 4.0, 0.8, 2.5]), np.array([1.5, 0.7, 2.0, 0.9])):
        numeric = optimize.approx_fprime(params, lambda p: bgnbd_log_likelihood(p, x, t_x, T).sum(), 1e-7)
        np.testing.assert_allclose(bgnbd_gradient(params, x, t_x, T).sum(axis=1), numeric, rtol=1e-4)
