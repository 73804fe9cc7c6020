"""Drivers are chosen on the model's log-odds contributions and reported in probability points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.explain import to_probability_points, top_drivers
from pipeline.build.features import context_for, feature_spec
from pipeline.engine.duckdb import dataset_from_frames
from tests.conftest import AS_OF


@pytest.fixture(scope="module")
def spec(sample_tables, params):
    return feature_spec(context_for(dataset_from_frames(sample_tables, params), params, AS_OF))[0]


def test_a_flat_calibration_step_at_the_base_rate_still_names_the_drivers(spec):
    """Isotonic calibration can map a whole range of scores onto the base rate: rescaled to p - p0 = 0, those
    customers' effects are all 0 and would name no driver, though the model scores them above the base. Chosen
    on the log-odds, they get the model's drivers (effect 0 points); every other customer gets the drivers
    ranking by probability points would give."""
    n, rng = 60, np.random.default_rng(3)
    features = pd.DataFrame({f.name: (rng.choice(["a", "b"], n) if f.kind == "categorical" else rng.uniform(0, 50, n))
                             for f in spec.features})
    log_odds = rng.normal(0.05, 0.3, (n, len(spec.features)))
    p0 = np.full(n, 0.4)
    on_step = np.arange(n) < n // 2  # calibrated onto the base rate itself
    p = np.where(on_step, p0, 1 / (1 + np.exp(-(np.log(0.4 / 0.6) + log_odds.sum(axis=1)))))
    effects = to_probability_points(log_odds, p, p0)
    assert np.allclose(effects[on_step], 0) and np.allclose(effects.sum(axis=1), p - p0)

    by_points = top_drivers(effects, features, spec)
    by_log_odds = top_drivers(effects, features, spec, log_odds=log_odds)
    assert (by_points.feature[on_step] == None).all()  # noqa: E711 - what rescaled effects alone would give
    assert (by_log_odds.feature[on_step, 0] != None).all()  # noqa: E711
    assert np.allclose(by_log_odds.effect[on_step][by_log_odds.feature[on_step] != None], 0)  # noqa: E711
    assert (by_log_odds.feature[~on_step] == by_points.feature[~on_step]).all()
    assert (by_log_odds.reason[~on_step] == by_points.reason[~on_step]).all()
    np.testing.assert_allclose(by_log_odds.effect[~on_step], by_points.effect[~on_step])
