"""The generator plants causes that can show in the data, keeps customers arriving until the end, and
names each change of its output with a new VERSION."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.config import load_params
from pipeline.core.errors import DataError
from pipeline.data.samples import check_sample
from pipeline.data.samples.retail import CAUSES, END, START, VERSION, generate, iter_chunks, season_curve

ROOT = Path(__file__).resolve().parents[2]

# What a small seeded sample looks like at this generator VERSION. When a change makes the same seed give
# other data, bump VERSION in pipeline/sample_data.py (the benchmarks then rebuild their cached data;
# `make sample-data` regenerates the bundled sample) and write the new fingerprint here.
FINGERPRINT = (5, "13c5da6fbe1de1a9")


def test_the_generator_version_changes_with_its_output():
    tables, _ = generate(300, seed=1)
    digest = hashlib.sha256()
    for name in sorted(tables):
        digest.update(name.encode())
        digest.update(pd.util.hash_pandas_object(tables[name], index=False).to_numpy().tobytes())
    assert (VERSION, digest.hexdigest()[:16]) == FINGERPRINT, (
        "the same seed now generates other data: bump VERSION in pipeline/sample_data.py and update FINGERPRINT")


def test_every_cause_is_one_the_customer_can_show(sample_with_truth):
    tables, truth = sample_with_truth
    people = truth.customers.merge(tables["customers"], on="customer_id")
    people["subscriber"] = people["customer_id"].isin(tables["subscriptions"]["customer_id"])
    churners = people[people["churn_at"].notna()]
    assert set(churners["cause"]) == set(CAUSES) - {"none"}
    assert churners.loc[churners["cause"] == "late_payments", "subscriber"].all()
    assert churners.loc[churners["cause"] == "loyalty_lapse", "loyalty_member"].all()
    # a churner who cannot show those causes gets another one, not none: no churner is left without a cause
    assert (churners["cause"] != "none").all()
    assert (people.loc[people["churn_at"].isna(), "cause"] == "none").all()


def test_signups_continue_to_the_end():
    """A scoring snapshot holds about as many new customers as a training snapshot (no drift in tenure)."""
    tables, _ = generate(4000, seed=3)
    signup = tables["customers"]["signup_date"]
    assert signup.min() >= START and signup.max() <= END
    years = (END - START) / pd.Timedelta(days=365.25)
    per_quarter = [((signup > q - pd.Timedelta(days=91)) & (signup <= q)).sum()
                   for q in (END - pd.Timedelta(days=365), END)]
    expected = len(signup) / years / 4
    assert np.allclose(per_quarter, expected, rtol=0.2), (per_quarter, expected)


def test_the_bundled_sample_is_what_this_generator_writes():
    """`make demo` and the README's demo figures use data/sample: it must be this generator's output, as
    `make sample-data` writes it (5,000 customers, the seed in params.yaml), rewritten after a change."""
    tables = next(iter_chunks(5000, load_params(ROOT / "params.yaml").seed))
    for name, frame in tables.items():
        on_disk = pd.read_parquet(ROOT / "data" / "sample" / name)
        assert on_disk.equals(frame), f"data/sample/{name} is not this generator's output: run `make sample-data`"


def _no_purchase_share(tables, cutoff: str, horizon_days: int = 90) -> float:
    """The 90-day inactivity label's churn rate at ``cutoff``: customers with a purchase in the year before it and
    none in the ``horizon_days`` after it."""
    tx = tables["transactions"][~tables["transactions"]["is_return"]]
    day = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    before = set(tx.loc[(tx["timestamp"] >= day - pd.Timedelta(days=365)) & (tx["timestamp"] < day), "customer_id"])
    after = set(tx.loc[(tx["timestamp"] >= day) & (tx["timestamp"] < day + pd.Timedelta(days=horizon_days)),
                       "customer_id"])
    return len(before - after) / len(before)


def test_the_year_has_a_peak_before_christmas_and_a_summer_lull():
    days = pd.to_datetime(["2025-12-12", "2025-07-24", "2025-03-15"]).to_numpy("datetime64[s]").astype(float)
    peak, lull, ordinary = season_curve(days)
    assert peak > 2.5 and lull < 0.5 and 0.9 < ordinary < 1.1
    assert np.allclose(season_curve(days, 0.0), 1.0)  # switched off
    assert season_curve(days, 2.0)[0] > peak  # stronger


def test_seasons_move_the_churn_rate_by_more_than_ten_points():
    """A cutoff before the summer lull sees far more customers go 90 days without a purchase than one before
    Christmas; with seasons switched off the two are alike."""
    seasonal, _ = generate(4000, seed=5)
    flat, _ = generate(4000, seed=5, seasonality=0.0)
    summer, winter = _no_purchase_share(seasonal, "2025-05-31"), _no_purchase_share(seasonal, "2025-09-30")
    assert summer - winter > 0.10, (summer, winter)
    flat_gap = _no_purchase_share(flat, "2025-05-31") - _no_purchase_share(flat, "2025-09-30")
    assert abs(flat_gap) < 0.04, flat_gap


def test_a_seasonality_out_of_range_is_a_clear_error():
    with pytest.raises(DataError, match="--seasonality"):
        check_sample("retail", "csv", 10, -1.0)
    with pytest.raises(DataError, match="retail only"):
        check_sample("subscription", "csv", 10, 0.5)
