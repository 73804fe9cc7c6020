"""Customer-base health against direct computations on small tables."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipeline.build.features import build_features
from pipeline.core.config import load_params
from pipeline.engine.duckdb import dataset_from_frames
from pipeline.scoring.health import (
    churn_by_month,
    cohort_retention,
    customer_health,
    growth_by_month,
    month_ends,
    population_counts,
    satisfaction_by_month,
    support_by_month,
    value_by_tier,
)
from tests.conftest import copy_tables


def tx(rows):
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "category"]).assign(
        timestamp=lambda d: pd.to_datetime(d["timestamp"], format="mixed"))


SMALL = tx([
    ("a", "2025-01-15", 10.0, "x"), ("a", "2025-02-10", 30.0, "y"), ("a", "2025-04-02", 5.0, "x"),
    ("b", "2025-02-03", 20.0, "x"), ("b", "2025-02-20", -20.0, "x"),  # a refund is no purchase
    ("c", "2025-02-28", 8.0, "z"), ("c", "2025-03-05", 8.0, "z"), ("c", "2025-03-06", 4.0, "z"),
    ("d", "2025-03-31 23:00", 50.0, None),
])


def test_month_ends_are_complete_months_only():
    assert month_ends(date(2025, 1, 15), date(2025, 4, 10)) == [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31)]
    assert month_ends(date(2025, 1, 15), date(2025, 3, 31), months=2) == [date(2025, 2, 28), date(2025, 3, 31)]


@pytest.mark.parametrize("overrides, cutoffs", [
    ([], [date(2025, 3, 31), date(2025, 4, 30), date(2025, 5, 31)]),
    (["label.min_purchases_in_lookback=2", "label.lookback_days=180"], [date(2025, 4, 30)]),
    (["label.kind=cancellation", "label.horizon_days=30"], [date(2025, 3, 31), date(2025, 6, 30)]),
])
def test_churn_by_month_equals_the_training_labels(sample_tables, overrides, cutoffs):
    params = load_params(None, overrides)
    ds = dataset_from_frames(copy_tables(sample_tables), params)
    as_of = date(2025, 9, 30)
    got = {m["cutoff"]: m for m in churn_by_month(ds.con, params.label, as_of, cutoffs)}
    for t in cutoffs:
        labels = build_features(ds, params, t, with_labels=True)
        assert got[t.isoformat()]["population"] == len(labels) > 0
        assert got[t.isoformat()]["churned"] == int(labels["churned"].sum())
        assert got[t.isoformat()]["churn_rate"] == pytest.approx(labels["churned"].mean())


def test_churn_rate_is_left_empty_until_the_horizon_is_observed():
    params = load_params(None, ["label.horizon_days=30"])
    ds = dataset_from_frames({"transactions": SMALL}, params)
    months = churn_by_month(ds.con, params.label, date(2025, 4, 10), [date(2025, 2, 28), date(2025, 3, 31)])
    # Feb: a, b, c in the population; b bought nothing in March; a bought on 2 Apr, after the 30 days
    assert months[0] == {"month": "2025-02", "cutoff": "2025-02-28", "population": 3, "churned": 2,
                         "churn_rate": pytest.approx(2 / 3)}
    assert months[1]["population"] == 4 and months[1]["churned"] is None and months[1]["churn_rate"] is None


def test_cohort_retention_counts_buyers_and_leaves_unobserved_months_empty():
    ds = dataset_from_frames({"transactions": SMALL}, load_params(None))
    cohorts = cohort_retention(ds.con, date(2025, 4, 15), months=3)
    # January (the data's first month) is left out: its customers may have bought before the data
    assert [c["cohort"] for c in cohorts] == ["2025-02", "2025-03"]
    feb, mar = cohorts
    assert feb["customers"] == 2  # b and c; a's first purchase was in January
    assert feb["retention"] == [1.0, 0.5, None, None]  # c came back in March; April is not complete
    assert mar["customers"] == 1 and mar["retention"] == [1.0, None, None, None]  # d


def test_growth_matches_a_direct_computation():
    ds = dataset_from_frames({"transactions": SMALL}, load_params(None))
    months = month_ends(date(2025, 1, 1), date(2025, 4, 30))
    got = {m["month"]: m for m in growth_by_month(ds.con, date(2025, 4, 30), months)}
    # Feb: a returns (AOV 30 > 10, category y new): upsell and cross-sell; Mar: c returns (AOV 6 < 8, z not new)
    assert got["2025-02"] == {"month": "2025-02", "returning_buyers": 1, "upsell_rate": 1.0, "cross_sell_rate": 1.0}
    assert got["2025-03"] == {"month": "2025-03", "returning_buyers": 1, "upsell_rate": 0.0, "cross_sell_rate": 0.0}
    assert got["2025-04"]["returning_buyers"] == 1 and got["2025-04"]["upsell_rate"] == 0.0  # a: 5 < 20
    assert got["2025-01"]["returning_buyers"] == 0 and got["2025-01"]["upsell_rate"] is None


def test_satisfaction_and_support_match_a_direct_computation():
    rng = np.random.default_rng(3)
    n = 400
    events = pd.DataFrame({
        "customer_id": rng.choice(["a", "b", "c", "d"], n),
        "timestamp": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 120 * 24, n), unit="h"),
        "event_type": rng.choice(["nps", "csat", "support_ticket", "visit"], n),
    })
    events["value"] = np.where(events["event_type"] == "nps", rng.integers(0, 11, n),
                               np.where(events["event_type"] == "csat", rng.integers(1, 6, n),
                                        np.where(events["event_type"] == "support_ticket", rng.uniform(0, 48, n), np.nan)))
    events.loc[events.index[::7], "value"] = np.where(events["event_type"][::7] == "support_ticket", np.nan,
                                                      events["value"][::7])  # some tickets without a time
    ds = dataset_from_frames({"transactions": SMALL, "events": events}, load_params(None))
    months = month_ends(date(2025, 1, 1), date(2025, 4, 30))
    sat = {m["month"]: m for m in satisfaction_by_month(ds.con, date(2025, 4, 30), months)}
    sup = {m["month"]: m for m in support_by_month(ds.con, date(2025, 4, 30), months)}
    events["month"] = events["timestamp"].dt.strftime("%Y-%m")
    for month, part in events.groupby("month"):
        nps = part.loc[part["event_type"] == "nps", "value"]
        assert sat[month]["nps"] == pytest.approx(100 * ((nps >= 9).mean() - (nps <= 6).mean()))
        assert sat[month]["csat"] == pytest.approx(part.loc[part["event_type"] == "csat", "value"].mean())
        tickets = part.loc[part["event_type"] == "support_ticket", "value"]
        assert sup[month]["tickets"] == len(tickets) and sup[month]["with_response_time"] == tickets.notna().sum()
        assert sup[month]["mean_response_hours"] == pytest.approx(tickets.mean())
        assert sup[month]["median_response_hours"] == pytest.approx(tickets.median())


def test_population_counts_and_value_by_tier():
    params = load_params(None, ["label.lookback_days=30"])
    ds = dataset_from_frames({"transactions": SMALL}, params)
    scored = build_features(ds, params, date(2025, 3, 31))["customer_id"]
    counts = population_counts(ds.con, params.label, date(2025, 3, 31), scored)
    assert counts["with_history"] == 4 and counts["scored"] == 2 and counts["left_out"] == 2  # a and b lapsed
    assert "30 days" in counts["rule"] and "no order" in counts["left_out_reason"]
    risk = pd.DataFrame({"customer_id": ["a", "b", "c"], "loyalty_tier": ["loyal", "dormant", "loyal"],
                         "loyalty_score": [70.0, 5.0, 65.0], "churn_probability": [0.1, 0.8, 0.3],
                         "value_if_retained": [100.0, 10.0, 50.0], "value_at_risk": [10.0, 8.0, 15.0],
                         "expected_value": [90.0, 2.0, 35.0], "lifetime_value": [300.0, 5.0, 120.0]})
    tiers = value_by_tier(risk)
    assert [t["tier"] for t in tiers] == ["loyal", "dormant"]
    assert tiers[0]["customers"] == 2 and tiers[0]["total_lifetime_value"] == 420.0
    assert tiers[0]["mean_value_if_retained"] == 75.0 and tiers[0]["mean_churn_probability"] == pytest.approx(0.2)


def test_customer_health_is_json_ready_and_reads_nothing_after_as_of(sample_tables):
    import json

    params = load_params(None)
    as_of = date(2025, 6, 30)
    risk = pd.DataFrame({"customer_id": ["x"], "loyalty_tier": ["loyal"], "loyalty_score": [50.0],
                         "churn_probability": [0.5], "value_if_retained": [1.0]})
    health = customer_health(dataset_from_frames(copy_tables(sample_tables), params).con, params.label, as_of, risk)
    cut = {k: v for k, v in copy_tables(sample_tables).items()}
    for name, col in (("transactions", "timestamp"), ("events", "timestamp")):
        cut[name] = cut[name][cut[name][col] < pd.Timestamp("2025-07-01")]
    same = customer_health(dataset_from_frames(cut, params).con, params.label, as_of, risk)
    assert json.dumps(health, sort_keys=True) == json.dumps(same, sort_keys=True)
    assert {"churn", "cohorts", "growth", "tiers", "satisfaction", "support"} <= set(health)
    assert len(health["churn"]) == 24 and health["churn"][-1]["churn_rate"] is None  # horizon not over yet
    assert all(0 <= m["churn_rate"] <= 1 for m in health["churn"][:-3] if m["population"])
