"""Property: for any as-of date and any rows dated after it, the whole feature table is unchanged;
labels at a cutoff are unchanged by rows after the cutoff's horizon."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.build.features import build_features
from pipeline.core.config import load_params
from pipeline.data.samples.retail import generate
from pipeline.engine.duckdb import dataset_from_frames
from tests.future_rows import with_rows_after

pytestmark = pytest.mark.slow

TABLES, _ = generate(250, seed=11)
PARAMS = load_params(None, ["snapshots.count=1"])
CANCELLATION = load_params(None, ["snapshots.count=1", "label.kind=cancellation"])
FIRST, LAST = date(2023, 6, 1), date(2025, 9, 1)
DAYS = (LAST - FIRST).days

settings.register_profile("ci", max_examples=12, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("ci")


def _frame(as_of: date, tables, with_labels: bool = False, params=PARAMS) -> pd.DataFrame:
    return build_features(dataset_from_frames(tables, params), params, as_of, with_labels=with_labels)


@given(offset=st.integers(0, DAYS), seed=st.integers(0, 10_000), n=st.integers(1, 300))
def test_feature_table_ignores_rows_after_as_of(offset, seed, n):
    as_of = FIRST + timedelta(days=offset)
    base = _frame(as_of, TABLES)
    leaked = _frame(as_of, with_rows_after(TABLES, as_of, seed=seed, n=n))
    pd.testing.assert_frame_equal(base, leaked, check_exact=False, rtol=1e-9)


@given(offset=st.integers(0, DAYS - 100), seed=st.integers(0, 10_000), n=st.integers(1, 300),
       params=st.sampled_from([PARAMS, CANCELLATION]))
def test_labels_ignore_rows_after_the_horizon_and_features_ignore_the_horizon(offset, seed, n, params):
    cutoff = FIRST + timedelta(days=offset)
    horizon_end = cutoff + timedelta(days=PARAMS.label.horizon_days)
    base = _frame(cutoff, TABLES, True, params)
    after_horizon = _frame(cutoff, with_rows_after(TABLES, horizon_end, seed=seed, n=n), True, params)
    pd.testing.assert_frame_equal(base, after_horizon, check_exact=False, rtol=1e-9)
    # Rows inside the horizon may change the labels, never the features.
    inside = _frame(cutoff, with_rows_after(TABLES, cutoff, seed=seed, n=n), True, params)
    features = [c for c in base.columns if c not in ("churned", "future_value")]
    pd.testing.assert_frame_equal(base[features], inside[features], check_exact=False, rtol=1e-9)
