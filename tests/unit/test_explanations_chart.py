"""The SHAP summary chart of ``churn score`` reads its sample's SHAP values back from the SHAP file written while
scoring: each sampled customer's values, whatever the file's order and however the ids are typed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.files import ParquetChunks
from pipeline.engine.base import FrameRows
from pipeline.scoring import run


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 40), seed=st.integers(0, 1000), batch=st.integers(1, 15))
def test_the_chart_shows_each_sampled_customers_own_values(tmp_path_factory, n, seed, batch):
    rng = np.random.default_rng(seed)
    names = ["visits", "spend"]
    ids = np.array([f"C{i:03d}" for i in rng.permutation(n)], dtype=object)
    frame = pd.DataFrame({"customer_id": ids, "visits": rng.integers(0, 9, n).astype(float), "spend": rng.random(n)})
    # each customer's SHAP value is a function of their own features: any misalignment shows
    shap = pd.DataFrame({"customer_id": ids, "churn_visits": frame["visits"] * 10, "churn_spend": -frame["spend"],
                         "churn_base_value": -1.0}).sort_values("customer_id")
    path = tmp_path_factory.mktemp("chart") / "risk_shap.parquet"
    with ParquetChunks(path, chunk_rows=batch) as out:  # in id order, a row group per batch, as scoring writes it
        for start in range(0, n, batch):
            out.write(shap.iloc[start:start + batch])
    bundle = SimpleNamespace(feature_names=names, check_features=lambda f: f[names])
    seen = {}

    def beeswarm(values, features, title):
        seen["values"], seen["features"] = values, features
        return b"png"

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run.plots, "beeswarm_plot", beeswarm)
        assert run.explanations_chart(run.OwnContributions(path, FrameRows(frame), seed), bundle) == b"png"
    features = seen["features"]
    assert len(features) == n  # up to 3,000 customers: every one of these
    np.testing.assert_array_equal(seen["values"][:, 0], features["visits"].to_numpy() * 10)
    np.testing.assert_array_equal(seen["values"][:, 1], -features["spend"].to_numpy())


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 40), seed=st.integers(0, 1000), batch=st.integers(1, 15), risen=st.integers(0, 40))
def test_one_pass_over_the_shap_file_serves_the_comparison_and_the_chart(tmp_path_factory, n, seed, batch, risen):
    """With an earlier list compared, the risen customers' rows and the chart's sample come from one read of this
    run's SHAP file, each equal to a read of its own; without one, the chart reads the file once."""
    from pipeline.outputs import sets

    rng = np.random.default_rng(seed)
    ids = np.array([f"C{i:03d}" for i in rng.permutation(n)], dtype=object)
    frame = pd.DataFrame({"customer_id": ids, "visits": rng.random(n)})
    shap = pd.DataFrame({"customer_id": ids, "churn_visits": frame["visits"] * 10}).sort_values("customer_id")
    path = tmp_path_factory.mktemp("once") / "risk_shap.parquet"
    with ParquetChunks(path, chunk_rows=batch) as out:
        for start in range(0, n, batch):
            out.write(shap.iloc[start:start + batch])
    asked = list(rng.choice(ids, size=min(risen, n), replace=False))
    reads = []
    real = sets.read_contributions
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run, "read_contributions", lambda *a, **k: reads.append(1) or real(*a, **k))
        own = run.OwnContributions(path, FrameRows(frame), seed)
        rows = own(asked)
        sample = own.sample_rows()
        assert reads == [1]  # the chart read nothing more
        alone = run.OwnContributions(path, FrameRows(frame), seed)  # no comparison: the chart's own read
        pd.testing.assert_frame_equal(alone.sample_rows(), sample)
        assert reads == [1, 1]
    pd.testing.assert_frame_equal(rows, real(path, ids=asked).reset_index(drop=True))
    assert list(sample["customer_id"]) == list(own.sample["customer_id"])
    np.testing.assert_array_equal(sample["churn_visits"].to_numpy(), own.sample["visits"].to_numpy() * 10)


def test_this_runs_own_shap_file_unreadable_is_this_runs_error_not_the_previous_lists(tmp_path):
    from pipeline.core.errors import OutputError

    broken = tmp_path / "shap.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(OutputError, match="this run's SHAP values.*engine.temp_dir"):
        run.read_own_contributions(broken, ["C1"])
