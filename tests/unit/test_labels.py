"""Labels, population and snapshots on hand-made histories."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from pipeline.build.features import build_features, snapshot_cutoffs
from pipeline.core.config import load_params
from pipeline.engine.duckdb import dataset_from_frames


def tx(rows):
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).assign(
        timestamp=lambda d: pd.to_datetime(d["timestamp"], format="mixed"))


HISTORY = tx([
    ("stays", "2025-01-10", 10.0), ("stays", "2025-03-31 23:59:59", 5.0), ("stays", "2025-05-01", 7.0),
    ("leaves", "2025-02-01", 20.0), ("leaves", "2025-07-15", 1.0),  # next purchase after the horizon
    ("dormant", "2023-01-01", 3.0), ("dormant", "2025-04-20", 3.0),  # outside lookback at cutoff
    ("refund", "2025-03-01", 30.0), ("refund", "2025-04-10", -30.0),  # a refund is not a purchase
])


def test_inactivity_labels_population_and_future_value():
    p = load_params(None, ["label.horizon_days=90", "label.lookback_days=365"])
    f = build_features(dataset_from_frames({"transactions": HISTORY}, p), p, date(2025, 3, 31), with_labels=True)
    got = f.set_index("customer_id")[["churned", "future_value"]]
    assert list(got.index) == ["leaves", "refund", "stays"]  # dormant: no purchase in the lookback
    assert got.loc["stays"].tolist() == [0, 7.0]  # the 23:59:59 row is history, as-of = end of day
    assert got.loc["leaves"].tolist() == [1, 0.0]
    assert got.loc["refund"].tolist() == [1, 0.0]  # only a refund in the horizon: churned, value floored at 0
    assert f.set_index("customer_id").loc["stays", "days_since_last_purchase"] == 0


def test_cancellation_labels():
    p = load_params(None, ["label.kind=cancellation", "label.horizon_days=30"])
    subs = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "start_date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-01", "2025-05-01"]),
        "end_date": pd.to_datetime(["2025-04-15", None, "2025-03-01", None]),
        "plan": "basic", "price": 10.0,
    })
    tables = {"transactions": HISTORY.assign(customer_id="a"), "subscriptions": subs}
    f = build_features(dataset_from_frames(tables, p), p, date(2025, 3, 31), with_labels=True)
    got = dict(zip(f["customer_id"], f["churned"], strict=True))
    assert got == {"a": 1, "b": 0}  # c ended before the cutoff, d starts after it


def test_snapshot_cutoffs_have_fully_observed_horizons():
    p = load_params(None, ["snapshots.count=3", "snapshots.step_days=30", "label.horizon_days=90"])
    cutoffs = snapshot_cutoffs(p, date(2025, 12, 31))
    assert cutoffs == [date(2025, 8, 3), date(2025, 9, 2), date(2025, 10, 2)]
    assert all((date(2025, 12, 31) - c).days >= 90 for c in cutoffs)


def test_the_same_season_a_year_before_is_a_training_cutoff_where_history_allows():
    """A year before the as-of date and a step either side: the season of the horizon to be scored, last year; and
    the same a year before the validation cutoff: the season its figures judge. Each needs a full lookback of data
    before it and a horizon that ends by the validation cutoff (out of time)."""
    p = load_params(None, ["snapshots.count=3", "snapshots.step_days=30", "label.horizon_days=90"])
    as_of = date(2025, 12, 31)
    regular = snapshot_cutoffs(p, as_of)
    assert regular == snapshot_cutoffs(p, as_of, first=date(2025, 1, 1))  # too little history: none added
    seasonal = set(snapshot_cutoffs(p, as_of, first=date(2023, 1, 1))) - set(regular)
    scored_season = {date(2024, 12, 1), date(2024, 12, 31), date(2025, 1, 30)}
    validation_season = {date(2024, 9, 2), date(2024, 10, 2), date(2024, 11, 1)}  # 2025-10-02 a year before
    assert seasonal == scored_season | validation_season
    validation = max(regular)
    assert validation - timedelta(days=365) in seasonal
    assert all(c + timedelta(days=90) <= validation for c in seasonal)
    # only those with a full lookback (365 days) of data before them
    assert set(snapshot_cutoffs(p, as_of, first=date(2024, 1, 2))) - set(regular) == {date(2025, 1, 30)}
    # a horizon that would reach past the validation cutoff is left out (180 days: 2025-01-30 + 180 > 2025-07-04)
    long = load_params(None, ["snapshots.count=3", "snapshots.step_days=30", "label.horizon_days=180"])
    # (the validation cutoff 2025-07-04 a year before, and its neighbours, all end in time)
    assert set(snapshot_cutoffs(long, as_of, first=date(2023, 1, 1))) - set(snapshot_cutoffs(long, as_of)) == {
        date(2024, 12, 1), date(2024, 12, 31), date(2024, 6, 4), date(2024, 7, 4), date(2024, 8, 3)}
    # a cutoff within half a step of one already taken is not added twice
    many = load_params(None, ["snapshots.count=14", "snapshots.step_days=30", "label.horizon_days=90"])
    taken = snapshot_cutoffs(many, as_of, first=date(2020, 1, 1))
    assert len(taken) == len(set(taken)) and min(b - a for a, b in zip(taken, taken[1:], strict=False)).days >= 15
    off = load_params(None, ["snapshots.same_season_last_year=false"])
    assert snapshot_cutoffs(off, as_of, first=date(2020, 1, 1)) == snapshot_cutoffs(off, as_of)
