"""The SHAP summary chart's beeswarm, drawn without shap: dots spread where they crowd, within their row, the same
picture every run, the most important features on top."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pipeline.outputs.report.plots import ROW_SPREAD, SWARM_BINS, beeswarm_plot, swarm_offsets

finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(arrays(float, st.integers(0, 300), elements=finite), st.integers(0, 2**32 - 1))
def test_dots_of_one_bin_take_distinct_places_within_the_row(x, seed):
    offsets = swarm_offsets(x, np.random.default_rng(seed))
    assert offsets.shape == x.shape and np.all(np.abs(offsets) < ROW_SPREAD)
    if len(x):
        bins = np.round(SWARM_BINS * (x - x.min()) / (x.max() - x.min() + 1e-8))
        for b in np.unique(bins):
            here = offsets[bins == b]
            assert len(np.unique(here)) == len(here)  # no two dots of a bin on one place
            # one dot on the line, the others alternately above and below it
            assert (here == 0).sum() == 1 and 0 <= (here > 0).sum() - (here < 0).sum() <= 1
        # the crowdedest bin spreads widest, k dots above the line to ROW_SPREAD x k / (k + 1); a lone dot stays on
        # the line
        above = np.bincount(bins.astype(int)).max() // 2  # a bin of n dots: n // 2 steps above the line
        assert np.isclose(offsets.max(), ROW_SPREAD * above / (above + 1))


def test_the_chart_is_the_same_every_run_and_orders_rows_by_importance(monkeypatch):
    rng = np.random.default_rng(3)
    contributions = rng.normal(size=(500, 4)) * [0.1, 3.0, 1.0, 0.5]
    features = pd.DataFrame(rng.normal(size=(500, 4)), columns=["a", "b", "c", "d"])
    features.loc[:50, "c"] = np.nan
    assert beeswarm_plot(contributions, features, "x") == beeswarm_plot(contributions, features, "x")
    labels = []
    from matplotlib.axes import Axes

    set_yticks = Axes.set_yticks
    monkeypatch.setattr(Axes, "set_yticks", lambda ax, ticks, names=None, **kw: labels.append(names) or
                        set_yticks(ax, ticks, names, **kw))
    beeswarm_plot(contributions, features, "x", max_display=3)
    assert labels == [["d", "c", "b"]]  # the largest mean |SHAP| on top (the last row drawn is the highest)
