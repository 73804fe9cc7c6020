"""BG/NBD: parameter recovery on simulated data and the published CDNOW figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.btyd import BetaGeoModel
from pipeline.data.samples.cdnow import load_cdnow, load_cdnow_sample


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


# -- Pareto/NBD ------------------------------------------------------------------------------------


def simulate_pareto_nbd(n, r, alpha, s, beta, T, seed):
    rng = np.random.default_rng(seed)
    lam, mu = rng.gamma(r, 1 / alpha, n), rng.gamma(s, 1 / beta, n)
    end = np.minimum(rng.exponential(1 / mu), T)  # alive until the end of their lifetime or of the window
    x = rng.poisson(lam * end).astype(float)
    # given x purchases in (0, end], their times are uniform: the last is end * U^(1/x)
    t_x = np.where(x > 0, end * rng.random(n) ** (1 / np.maximum(x, 1)), 0.0)
    return x, t_x, np.full(n, float(T))


def test_pareto_nbd_recovers_simulated_parameters():
    from models.btyd import ParetoNBDModel

    x, t_x, T = simulate_pareto_nbd(20000, 0.8, 6.0, 0.7, 12.0, 52.0, seed=4)
    m = ParetoNBDModel().fit(x, t_x, T)
    assert m.r_ == pytest.approx(0.8, rel=0.15) and m.alpha_ == pytest.approx(6.0, rel=0.2)
    assert m.s_ == pytest.approx(0.7, rel=0.35) and m.beta_ == pytest.approx(12.0, rel=0.5)


def test_pareto_nbd_golden_cdnow_sample_reproduces_published_estimates():
    """Fader, Hardie and Lee (2005) on the 1/10 CDNOW sample: r 0.553, alpha 10.578, s 0.606, beta 11.669,
    LL -9595.0."""
    from models.btyd import ParetoNBDModel

    m = ParetoNBDModel().fit(*cdnow_summary(tx=load_cdnow_sample()))
    assert m.r_ == pytest.approx(0.553, abs=0.002) and m.alpha_ == pytest.approx(10.578, abs=0.02)
    assert m.s_ == pytest.approx(0.606, abs=0.002) and m.beta_ == pytest.approx(11.669, abs=0.05)
    assert m.log_likelihood_ == pytest.approx(-9595.0, abs=0.1)


def test_pareto_nbd_ranks_the_full_cdnow_task_like_the_published_figure():
    """Churn = no purchase in the 90 days after 1997-09-30; the published Pareto/NBD ROC-AUC is 0.774."""
    from sklearn.metrics import roc_auc_score

    from models.btyd import ParetoNBDModel

    tx = load_cdnow()
    cal = tx[tx["timestamp"] <= "1997-09-30"]
    later = tx[(tx["timestamp"] > "1997-09-30") & (tx["timestamp"] <= "1997-12-29")]
    ids = np.sort(cal["customer_id"].unique())  # cdnow_summary's order (groupby sorts)
    churned = ~np.isin(ids, later["customer_id"].unique())
    x, t_x, T = cdnow_summary(tx=tx)
    m = ParetoNBDModel().fit(x, t_x, T)
    assert roc_auc_score(churned, -m.expected_purchases(90 / 7, x, t_x, T)) == pytest.approx(0.774, abs=0.002)


def test_pareto_nbd_holdout_forecast_and_expectations_are_consistent():
    from models.btyd import ParetoNBDModel

    sample = load_cdnow_sample()
    x, t_x, T = cdnow_summary(tx=sample)
    m = ParetoNBDModel().fit(x, t_x, T)
    actual = sample[(sample["timestamp"] > "1997-09-30") & (sample["timestamp"] <= "1998-06-30")]
    assert m.expected_purchases(39, x, t_x, T).sum() == pytest.approx(len(actual), rel=0.15)
    alive = m.probability_alive(np.array([2.0, 2.0]), np.array([30.0, 5.0]), np.array([38.0, 38.0]))
    assert alive[0] > alive[1]  # a recent buyer is likelier alive than a lapsed one
    # a customer with no history at all is a new customer
    assert m.expected_purchases(39, np.zeros(1), np.zeros(1), np.zeros(1))[0] == pytest.approx(m.expected_purchases_new(39))


@pytest.mark.parametrize("params", [(0.5, 10.0, 0.5, 10.0), (5.0, 0.1, 0.2, 100.0), (0.1, 100.0, 3.0, 0.5),
                                    (2.0, 2.0, 1.0, 2.5)])
def test_pareto_nbd_stays_finite_on_long_histories(params):
    """Both branches of the likelihood (alpha above or below beta) and s = 1, with hundreds of purchases."""
    from models.btyd import ParetoNBDModel, pareto_nbd_log_likelihood

    x, t_x, T = np.array([0, 1, 50, 300, 1000.0]), np.array([0, 10, 200, 499, 500.0]), np.full(5, 500.0)
    m = ParetoNBDModel()
    m.r_, m.alpha_, m.s_, m.beta_ = params
    alive, expected = m.probability_alive(x, t_x, T), m.expected_purchases(10, x, t_x, T)
    assert np.all(np.isfinite(pareto_nbd_log_likelihood(np.array(params), x, t_x, T)))
    assert np.all((alive >= 0) & (alive <= 1)) and np.all(np.isfinite(expected)) and np.all(expected >= 0)
    assert alive[-1] > 0.9 and alive[2] < 0.01  # buying until the end vs silent for 300 weeks
