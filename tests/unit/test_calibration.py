"""Calibration maps: smooth, strictly increasing, never exactly 0 or 1, chosen on out-of-fold log loss."""

import numpy as np
import pytest

from models.calibration import METHODS, Calibrator, choose_calibrator, fit_calibrator, soft_bound, support_bounds
from models.metrics import expected_calibration_error


def _scores(seed: int, n: int = 3000, power: float = 1.0):
    """Scores of a model that separates well (many near 0 and 1), miscalibrated by ``power``."""
    rng = np.random.default_rng(seed)
    true_p = 1 / (1 + np.exp(-rng.normal(-0.5, 3.0, n)))
    y = (rng.random(n) < true_p).astype(int)
    return true_p**power, y


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_map_is_strictly_increasing_and_never_0_or_1(method, seed):
    p, y = _scores(seed, power=1.7)
    cal = fit_calibrator(method, p, y)
    grid = np.sort(np.r_[0.0, 1e-15, 1e-9, np.linspace(0, 1, 2001)[1:-1], 1 - 1e-9, 1.0])
    out = cal.transform(grid)
    low, high = support_bounds(len(p))
    assert np.all(out > 0) and np.all(out < 1)
    assert out.min() >= low and out.max() <= high
    inner = (grid > 1e-9) & (grid < 1 - 1e-9)  # inside the range a float can tell apart
    assert np.all(np.diff(out[inner]) > 0), "a flat step puts customers the model tells apart on one probability"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_customers_keep_their_own_probabilities(seed):
    """The staircase of an isotonic map (47 distinct probabilities for 3,366 customers, 955 at exactly 100%) is gone:
    every distinct score keeps a distinct probability, and none is 0 or 1 even at the extremes."""
    p, y = _scores(seed)
    cal, _, _ = choose_calibrator(p, y, seed)
    out = cal.transform(p)
    assert len(np.unique(out)) == len(np.unique(p))
    assert 0 < out.min() and out.max() < 1
    assert f"{out.max():.1%}" != "100.0%" and f"{out.min():.1%}" != "0.0%"


def test_the_bound_follows_what_the_data_supports():
    assert support_bounds(100)[1] == pytest.approx(1 - 0.5 / 21)  # 5% of 100 is under 20: a group of 20
    assert support_bounds(3000)[1] == pytest.approx(1 - 0.5 / 151)
    assert support_bounds(10_000_000)[1] == pytest.approx(1 - 0.5 / 501)  # never beyond a group of 500
    z = np.linspace(-30, 30, 601)
    bounded = soft_bound(z, 0.01, 0.99)
    assert np.all(np.diff(bounded) > 0)
    assert np.abs(bounded[np.abs(z) < 1] - z[np.abs(z) < 1]).max() < 0.01  # the middle is left alone


def test_chosen_by_out_of_fold_log_loss_with_honest_figures():
    p, y = _scores(0, power=2.5)
    cal, scores, out_of_fold = choose_calibrator(p, y, seed=0)
    assert set(scores) == set(METHODS) and scores[cal.method] == min(scores.values())
    assert cal.method != "none"
    # the out-of-fold probabilities are not those of the map fitted on every row (that one has seen each row)
    assert not np.allclose(out_of_fold, cal.transform(p))
    assert expected_calibration_error(y, out_of_fold) < expected_calibration_error(y, p) / 2


def test_rows_of_one_customer_stay_in_one_fold():
    """With several cutoffs, a customer's rows must not judge a map fitted on their other rows."""
    p, y = _scores(3, n=2000)
    groups = np.repeat(np.arange(500), 4)
    rng = np.random.default_rng(0)
    p = np.clip(np.repeat(p[:500], 4) + rng.normal(0, 1e-3, 2000), 1e-6, 1 - 1e-6)
    y = np.repeat(y[:500], 4)
    _, grouped, _ = choose_calibrator(p, y, seed=0, groups=groups)
    _, ungrouped, _ = choose_calibrator(p, y, seed=0)
    # a customer seen in the fitting rows makes the flexible map look better than it is
    assert ungrouped["spline"] < grouped["spline"]


def test_spline_knots_rise_strictly_even_where_small_blocks_would_fall():
    p = np.r_[0.01, np.linspace(0.1, 0.2, 100), np.linspace(0.5, 0.9, 100)]
    y = np.r_[0, (np.arange(100) % 10 == 0).astype(int), (np.arange(100) % 10 < 7).astype(int)]
    cal = fit_calibrator("spline", p, y)
    assert np.all(np.diff(cal.params["y"]) > 0) and np.all(np.diff(cal.params["x"]) > 0)
    assert min(cal.params["slopes"]) >= 0


def test_maps_stored_by_earlier_versions_still_transform():
    old_isotonic = Calibrator.from_dict({"method": "isotonic", "params": {"x": [0.0, 0.5, 1.0], "y": [0.0, 0.4, 1.0]}})
    np.testing.assert_allclose(old_isotonic.transform(np.array([0.25, 0.75])), [0.2, 0.7])
    old_sigmoid = Calibrator.from_dict({"method": "sigmoid", "params": {"a": [1.0], "b": [0.0]}})
    np.testing.assert_allclose(old_sigmoid.transform(np.array([0.3])), [0.3])
    p, y = _scores(1)
    cal = choose_calibrator(p, y, 0)[0]
    np.testing.assert_array_equal(Calibrator.from_dict(cal.to_dict()).transform(p), cal.transform(p))
