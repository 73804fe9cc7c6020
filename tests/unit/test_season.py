"""The season family: the as-of date's time of year, the same for every customer, context and never a reason; and
calibration in the large judged per cutoff."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd

from features.registry import FAMILIES
from pipeline.build.features import build_features, context_for, feature_spec
from pipeline.core.config import load_params
from pipeline.engine.duckdb import dataset_from_frames
from pipeline.training.train import calibration_by_cutoff
from tests.conftest import generate

NAMES = ["season_sine_of_day_of_year", "season_cosine_of_day_of_year"]


def test_the_season_is_the_same_for_every_customer_and_tells_the_time_of_year():
    tables, _ = generate(300, seed=1)
    params = load_params(None)
    ds = dataset_from_frames(tables, params)
    seen = {}
    for day in (date(2025, 3, 31), date(2025, 6, 30), date(2025, 9, 30), date(2025, 12, 31)):
        frame = build_features(ds, params, day, families=("season",))
        assert frame[NAMES].nunique().tolist() == [1, 1]
        seen[day] = tuple(frame[NAMES].iloc[0])
        angle = 2 * math.pi * (day.timetuple().tm_yday - 0.5) / 365.25
        assert seen[day] == (math.sin(angle), math.cos(angle))  # the very same double, as the Spark build gives
    # each season a point of its own on the circle: summer and winter far apart, a year apart the same
    assert np.hypot(*np.subtract(seen[date(2025, 6, 30)], seen[date(2025, 12, 31)])) > 1.9
    assert len(set(seen.values())) == 4


def test_the_season_is_context_never_a_reason_nor_a_drift_alarm():
    tables, _ = generate(50, seed=1)
    params = load_params(None)
    spec, _ = feature_spec(context_for(dataset_from_frames(tables, params), params, date(2025, 6, 30)))
    for name in NAMES:
        feat = spec[name]
        assert feat.context and feat.ages and not feat.can_drive
        assert feat.reason(0.9) is None and feat.reason(-0.9) is None
        assert feat.describe(0.5).startswith("Time of year")
    assert FAMILIES["season"].label == "Time of year"


def test_calibration_is_judged_on_each_cutoff():
    cutoffs = pd.Series(pd.to_datetime(["2025-06-01"] * 4 + ["2025-09-01"] * 4))
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    p = np.array([0.5] * 4 + [0.5] * 4)  # right on the whole, wrong on each season
    table = calibration_by_cutoff(cutoffs, y, p)
    assert table["customers"].tolist() == [4, 4]
    assert np.allclose(table["observed_churn_rate"], [0.5, 0.25])
    assert np.allclose(table["difference"], [0.0, 0.25])
