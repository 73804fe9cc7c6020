"""What changed since the last run, on small hand-made lists."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.registry import Feature, FeatureSpec
from pipeline.scoring.changes import CHANGE_COLUMNS, COMPARED_COLUMNS, compare, previous_list_path, top_band

SPEC = FeatureSpec((
    Feature("complaints_last_90d", "service", "count", "{value:.0f} complaints in the last 90 days", 1, fill=0),
    Feature("days_since_last_purchase", "recency", "days", "No purchase for {value:.0f} days", 1),
    Feature("visits_last_30d", "engagement", "count", "{value:.0f} visits in the last 30 days", -1, fill=0),
    Feature("profile_region", "profile", "category", "Profile region: {value}", 0, kind="categorical"),
))
LABEL = {"kind": "inactivity", "horizon_days": 90, "lookback_days": 365, "min_purchases_in_lookback": 1}
BANDS = {"by": "probability", "bands": {"high": 0.5, "medium": 0.3, "low": 0.0},
         "thresholds": {"high": 0.5, "medium": 0.3, "low": 0.0}}
NOW, BEFORE = "2025-12-31", "2025-11-30"


def summary(day: str, version: str = "churn-model v1 (champion)", label: dict | None = None) -> dict:
    return {"as_of": day, "model_version": version, "label": label or LABEL, "band_rule": BANDS}


def risk_list(day: str, ids: list[str], p: list[float], version: str = "churn-model v1 (champion)") -> pd.DataFrame:
    bands = np.where(np.array(p) >= 0.5, "high", np.where(np.array(p) >= 0.3, "medium", "low"))
    return pd.DataFrame({"customer_id": ids, "as_of": pd.Timestamp(day), "churn_probability": p, "risk_band": bands,
                         "model_version": version})


def shap(ids: list[str], rows: list[list[float]], names=tuple(SPEC.names)) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[f"churn_{n}" for n in names])
    frame.insert(0, "customer_id", ids)
    return frame.assign(churn_base_value=-1.0, loyalty_complaints_last_90d=0.0)


# a rose 31 points (complaints up most, then recency; visits fell), b fell, c stayed, d entered, e left
CURRENT = risk_list(NOW, ["a", "b", "c", "d"], [0.51, 0.10, 0.40, 0.70])
PREVIOUS = risk_list(BEFORE, ["a", "b", "c", "e"], [0.20, 0.35, 0.40, 0.60])
CUR_SHAP = shap(["a", "b", "c", "d"], [[1.2, 0.5, -0.2, 0.3], [0, 0, 0, 0], [0.1, 0.1, 0.1, 0], [1, 1, 1, 0]])
PREV_SHAP = shap(["a", "b", "c", "e"], [[0.0, 0.2, 0.1, 0.0], [0, 0, 0, 0], [0.1, 0.1, 0.1, 0], [0, 0, 0, 0]])
FEATURES = pd.DataFrame({"customer_id": ["d", "c", "b", "a"], "complaints_last_90d": [0, 1, 0, 3],
                         "days_since_last_purchase": [10.0, 5.0, 3.0, 40.0], "visits_last_30d": [1, 2, 3, 0],
                         "profile_region": ["n", "s", "e", "w"]})


def run(current=CURRENT, cur_summary=None, previous=PREVIOUS, prev_summary=None, cur_shap=CUR_SHAP,
        prev_shap=PREV_SHAP, features=FEATURES):
    prev_summary = summary(BEFORE) if prev_summary is None else prev_summary
    return compare(current, cur_summary or summary(NOW), previous, prev_summary, cur_shap,
                   prev_shap, features, SPEC)


def test_columns_changes_and_the_reason_of_a_rise():
    out = run()
    risk = out.risk_list.set_index("customer_id")
    assert list(out.risk_list.columns) == [*CURRENT.columns, *CHANGE_COLUMNS]
    assert list(out.risk_list["customer_id"]) == ["a", "b", "c", "d"]  # the list's own order
    np.testing.assert_allclose(risk["previous_probability"], [0.20, 0.35, 0.40, np.nan])
    np.testing.assert_allclose(risk["probability_change"], [0.31, -0.25, 0.0, np.nan], atol=1e-12)
    assert list(risk["previous_band"].iloc[:3]) == ["low", "medium", "medium"] and pd.isna(risk["previous_band"]["d"])
    assert risk.loc["a", "change_reason"] == ("Risk up 31 points since 2025-11-30: 3 complaints in the last 90 days; "
                                              "no purchase for 40 days")
    assert risk.loc[["b", "c", "d"], "change_reason"].isna().all()  # fell, stayed, new


def test_summary_counts_entered_left_newly_high_and_largest_rises():
    s = run().summary
    assert s["previous_as_of"] == BEFORE and s["previous_model_version"] == "churn-model v1 (champion)"
    assert s["comparable"] is True and s["note"] is None
    assert (s["entered"], s["left"]) == (1, 1)  # d new to the population, e gone from it
    assert s["newly_high"] == 2 and s["newly_high_entered"] == 1  # a (low before) and d (new), both high now
    assert s["largest_rises"] == [{"customer_id": "a", "previous_probability": 0.20, "churn_probability": 0.51,
                                   "probability_change": pytest.approx(0.31), "change_reason": pytest.approx(
                                       "Risk up 31 points since 2025-11-30: 3 complaints in the last 90 days; "
                                       "no purchase for 40 days")}]


def test_largest_rises_are_ordered_and_capped():
    ids = [f"c{i:02d}" for i in range(30)]
    now = risk_list(NOW, ids, [0.5 + i / 100 for i in range(30)])
    before = risk_list(BEFORE, ids, [0.5] * 30)
    zeros = shap(ids, [[0.0] * 4] * 30)
    feats = pd.DataFrame({"customer_id": ids, "complaints_last_90d": 0, "days_since_last_purchase": 1.0,
                          "visits_last_30d": 1, "profile_region": "n"})
    s = compare(now, summary(NOW), before, summary(BEFORE), zeros, zeros, feats, SPEC).summary
    assert [r["customer_id"] for r in s["largest_rises"]] == ids[::-1][:20]
    assert s["largest_rises"][0]["change_reason"] == "Risk up 29 points since 2025-11-30"  # no family rose


def test_another_horizon_is_not_compared():
    out = run(prev_summary=summary(BEFORE, label={**LABEL, "horizon_days": 60}))
    s = out.summary
    assert s["comparable"] is False and "over 60 days" in s["note"] and "not compared" in s["note"]
    assert out.risk_list["previous_probability"].isna().all() and out.risk_list["change_reason"].isna().all()
    assert out.risk_list["previous_band"].isna().all()
    assert s["newly_high"] == 0 and s["largest_rises"] == [] and (s["entered"], s["left"]) == (1, 1)


def test_a_list_without_its_definition_is_not_compared():
    s = run(prev_summary={}).summary
    assert s["comparable"] is False and "does not record the churn definition" in s["note"]
    assert s["previous_as_of"] == BEFORE and s["previous_model_version"] == "churn-model v1 (champion)"  # from the list


def test_another_model_version_compares_probabilities_with_a_note_and_reasons_when_features_match():
    previous = PREVIOUS.assign(model_version="churn-model v0")
    out = run(previous=previous, prev_summary=summary(BEFORE, version="churn-model v0"))
    assert out.summary["comparable"] is True and "churn-model v0" in out.summary["note"]
    assert out.risk_list["change_reason"].iloc[0].endswith("no purchase for 40 days")
    other = PREV_SHAP.drop(columns="churn_profile_region")
    out = run(previous=previous, prev_summary=summary(BEFORE, version="churn-model v0"), prev_shap=other)
    assert out.summary["comparable"] is True and "other features" in out.summary["note"]
    assert out.risk_list["change_reason"].iloc[0] == "Risk up 31 points since 2025-11-30"


def test_without_the_previous_shap_file_a_rise_has_no_reasons_and_a_note():
    out = run(prev_shap=None)
    assert "no SHAP file" in out.summary["note"]
    assert out.risk_list["change_reason"].iloc[0] == "Risk up 31 points since 2025-11-30"


def test_a_previous_list_not_before_this_one_is_not_compared():
    s = run(prev_summary=summary(NOW), previous=PREVIOUS.assign(as_of=pd.Timestamp(NOW))).summary
    assert s["comparable"] is False and "not before this one" in s["note"]


def test_inputs_are_not_changed_and_ids_of_other_types_still_match():
    before = (CURRENT.copy(), PREVIOUS.copy(), CUR_SHAP.copy(), FEATURES.copy())
    run()
    for kept, frame in zip(before, (CURRENT, PREVIOUS, CUR_SHAP, FEATURES), strict=True):
        pd.testing.assert_frame_equal(kept, frame)
    numeric_now = risk_list(NOW, [1, 2], [0.6, 0.1])
    text_before = risk_list(BEFORE, ["1", "2"], [0.2, 0.1])  # a CSV list keeps ids as text
    s = compare(numeric_now, summary(NOW), text_before, summary(BEFORE)).summary
    assert (s["entered"], s["left"], s["newly_high"]) == (0, 0, 1)


def test_previous_list_found_by_default_is_the_newest_before_the_as_of():
    names = ["risk_asof=2025-10-31.parquet", "risk_asof=2025-11-30.csv", "risk_asof=2025-11-30.parquet",
             "risk_asof=2025-12-31.parquet", "risk_asof=2026-01-31.parquet", "risk.parquet",
             "risk_asof=2025-11-30_shap.parquet", "risk_asof=2025-13-01.parquet"]
    assert previous_list_path(names, date(2025, 12, 31)) == Path("risk_asof=2025-11-30.parquet")
    assert previous_list_path(names, date(2025, 10, 31)) is None


def test_top_band_by_each_rule():
    assert top_band(BANDS) == "high"
    assert top_band({"by": "top_share", "bands": {"high": 0.1, "medium": 0.3, "low": 1.0}}) == "high"
    assert top_band({"by": "probability", "bands": {"hot": 0.7, "cold": 0.0}}) == "hot"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_compare_reads_only_its_columns_of_the_previous_list_and_contributions_in_any_row_order(seed):
    """What ``churn score`` reads of an earlier list (``COMPARED_COLUMNS``) is all ``compare`` needs, and the
    contributions are matched by customer id whatever order their rows are in (only the risen customers' rows are
    taken from them)."""
    rng = np.random.default_rng(seed)
    expected = run()
    previous = PREVIOUS.assign(action="Call", driver_1_reason="3 complaints", value_at_risk=rng.random(len(PREVIOUS)))
    previous = previous[rng.permutation(previous.columns)]
    shuffled = [frame.iloc[rng.permutation(len(frame))].reset_index(drop=True) for frame in (CUR_SHAP, PREV_SHAP)]
    asked = []

    def rows_of(ids):  # as ``churn score`` reads the previous SHAP file: only the rows asked for
        asked.append(list(ids))
        return shuffled[1][shuffled[1]["customer_id"].isin(ids)]

    for prev, prev_shap in ((previous, shuffled[1]), (previous[[c for c in previous.columns if c in COMPARED_COLUMNS]],
                                                      rows_of)):
        out = run(previous=prev, cur_shap=shuffled[0], prev_shap=prev_shap)
        pd.testing.assert_frame_equal(out.risk_list, expected.risk_list, check_exact=True)
        assert out.summary == expected.summary
    assert asked == [["a"]]  # the risen customers' rows only, asked for once


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 60), batch=st.integers(1, 7), seed=st.integers(0, 10_000))
def test_the_reasons_of_rises_are_the_same_whatever_the_batches_of_risen_customers(n, batch, seed):
    """``RISE_BATCH``: the risen customers' sentences are worked out a batch at a time; each customer's are their own."""
    from pipeline.scoring import changes

    rng = np.random.default_rng(seed)
    ids = [f"C{i:03d}" for i in range(n)]
    before, now = rng.random(n), rng.random(n)
    current, previous = risk_list(NOW, ids, list(now)), risk_list(BEFORE, ids, list(before))
    cur_shap, prev_shap = (shap(ids, rng.normal(size=(n, len(SPEC.names))).tolist()) for _ in range(2))
    features = pd.DataFrame({"customer_id": ids, "complaints_last_90d": rng.integers(0, 5, n),
                             "days_since_last_purchase": rng.integers(1, 300, n).astype(float),
                             "visits_last_30d": rng.integers(0, 9, n), "profile_region": rng.choice(["n", "s"], n)})
    whole = run(current, None, previous, None, cur_shap, prev_shap, features)
    saved = changes.RISE_BATCH
    try:
        changes.RISE_BATCH = batch
        batched = run(current, None, previous, None, cur_shap, prev_shap, features)
    finally:
        changes.RISE_BATCH = saved
    pd.testing.assert_frame_equal(batched.risk_list, whole.risk_list, check_exact=True)
    assert batched.summary == whole.summary
    if (now - before >= changes.MIN_RISE).sum() >= 3:  # rises with their reasons were compared, not only heads
        assert whole.risk_list["change_reason"].str.contains(": ", regex=False).any()
