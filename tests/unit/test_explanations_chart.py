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
        assert run.explanations_chart(frame, path, bundle, seed) == b"png"
    features = seen["features"]
    assert len(features) == n  # up to 3,000 customers: every one of these
    np.testing.assert_array_equal(seen["values"][:, 0], features["visits"].to_numpy() * 10)
    np.testing.assert_array_equal(seen["values"][:, 1], -features["spend"].to_numpy())


def test_this_runs_own_shap_file_unreadable_is_this_runs_error_not_the_previous_lists(tmp_path):
    from pipeline.core.errors import OutputError

    broken = tmp_path / "shap.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(OutputError, match="this run's SHAP values.*engine.temp_dir"):
        run.read_own_contributions(broken, ["C1"])
