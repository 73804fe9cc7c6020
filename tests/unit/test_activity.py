"""The activity family: per-type features for any event type, a fixed choice of types, ratios, reasons."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.activity import choose_event_types, label, slugs
from pipeline.build.features import build_features, build_training_set, context_for, data_choices, feature_spec
from pipeline.core.config import load_params
from pipeline.core.errors import ConfigError
from pipeline.engine.duckdb import dataset_from_frames

AS_OF = date(2025, 6, 30)
AWKWARD = ["post", "page view", "page-view", "покупка", "like it!", "it's {odd} [x]|y", "1st login", "???", "Post"]


def _tables(types: list[str], with_values: tuple[str, ...] = ()) -> dict[str, pd.DataFrame]:
    """Three customers with a purchase each and events of ``types``: customer A does each type i + 1 times
    in the last 30 days and twice in the 30 before, customer B once a year ago, customer C never."""
    tx = pd.DataFrame({"customer_id": ["A", "B", "C"], "timestamp": pd.to_datetime(["2025-06-01"] * 3),
                       "amount": [10.0, 20.0, 30.0]})
    rows = []
    for i, t in enumerate(types):
        value = float(i + 1) if t in with_values else np.nan
        rows += [("A", pd.Timestamp("2025-06-29") - pd.Timedelta(days=k), t, value) for k in range(i + 1)]
        rows += [("A", pd.Timestamp("2025-05-20") - pd.Timedelta(days=k), t, value) for k in range(2)]
        rows.append(("B", pd.Timestamp("2024-07-15"), t, value))
    rows.append(("A", pd.Timestamp("2025-07-05"), types[0], np.nan))  # after the as-of date: never seen
    events = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type", "value"])
    return {"transactions": tx, "events": events}


def test_slugs_are_safe_unique_and_stable_whatever_the_text():
    names = slugs(tuple(AWKWARD))
    assert len(set(names.values())) == len(AWKWARD)
    assert all(s.isidentifier() and s == s.lower() and s.isascii() and not s[0].isdigit() for s in names.values())
    assert names["like it!"].startswith("like_it_")  # punctuation: a hash of the exact text
    assert names["page view"].startswith("page_view_") and names["post"].startswith("post_")  # slugs that collide
    assert names["покупка"].startswith("type_") and names["1st login"].startswith("type_1st_login_")
    assert slugs(tuple(reversed(AWKWARD))) == names  # the order of the types does not matter
    assert slugs(("post",))["post"] == "post" and slugs(("Post",))["Post"] == "post"  # hashed only on a clash


def test_choice_of_types_is_by_count_then_name_known_types_excluded():
    rows = [("visit", 900, False), ("like", 50, False), ("post", 50, True), ("adview", 70, False), ("dislike", 3, False)]
    chosen, valued, others = choose_event_types(rows, 3)
    assert chosen == ("adview", "like", "post") and valued == ("post",) and others == ("dislike",)
    assert choose_event_types(list(reversed(rows)), 3) == (chosen, valued, others)


def test_per_type_features_for_awkward_names():
    tables = _tables(AWKWARD, with_values=("покупка",))
    p = load_params(None)
    ds = dataset_from_frames(tables, p)
    spec, notices = feature_spec(context_for(ds, p, AS_OF))
    frame = build_features(ds, p, AS_OF).set_index("customer_id")
    names = slugs(tuple(AWKWARD))
    assert not [n for n in notices if "event types" in n]
    for i, t in enumerate(AWKWARD):
        s = names[t]
        assert frame.loc["A", f"{s}_events_last_30d"] == i + 1
        assert frame.loc["A", f"{s}_events_previous_30d"] == 2 and frame.loc["A", f"{s}_events_change_30d"] == i - 1
        assert frame.loc["B", f"{s}_events_last_365d"] == 1 and frame.loc["B", f"{s}_events_last_30d"] == 0
        assert frame.loc["A", f"days_since_last_{s}_event"] == 1 and np.isnan(frame.loc["C", f"days_since_last_{s}_event"])
    cyr = names["покупка"]
    assert frame.loc["A", f"{cyr}_value_sum_90d"] == 4 * (4 + 2) and frame.loc["A", f"{cyr}_value_mean_90d"] == 4
    assert f"{names['post']}_value_sum_90d" not in frame.columns  # no values: no mean and sum
    row = frame.reset_index().iloc[0].to_dict()
    texts = [spec[n].describe(row[n], row) for n in spec.names if spec[n].family == "activity"]
    assert all("{" not in t and "}" not in t for t in texts if t)
    assert spec[f"{cyr}_events_last_30d"].describe(3, row) == '3 "покупка" events in the last 30 days'


def test_reasons_name_the_activity_in_words():
    p = load_params(None, ["features.event_labels={newfriend: new friend|new friends}"])
    tables = _tables(["post", "newfriend"])
    ds = dataset_from_frames(tables, p)
    spec, _ = feature_spec(context_for(ds, p, AS_OF))
    row = {"post_events_last_30d": 2.0, "post_events_previous_30d": 9.0, "newfriend_events_last_30d": 1.0,
           "newfriend_events_previous_30d": 4.0}
    assert spec["post_events_change_30d"].reason(-7.0, row) == "2 posts in the last 30 days, down from 9 in the 30 before"
    assert spec["post_events_change_30d"].reason(3.0, row) is None  # more posts is no reason for risk
    assert spec["newfriend_events_change_30d"].reason(-3.0, row) == (
        "1 new friend in the last 30 days, down from 4 in the 30 before")
    assert spec["post_gap_ratio_since_last_event"].reason(3.75, {**row, "days_since_last_post_event": 45.0,
                                                                "post_usual_days_between_events": 12.0}) == (
        "No posts for 45 days, against one every 12 days before")
    assert label("reply", {}) == ("reply", "replies") and label("page_view", {}) == ("page view", "page views")


def test_days_since_an_activity_are_a_reason_only_against_a_habit_of_it():
    """'No webinars for 307 days' is no reason for someone who went to one once, or to one a year: the days since
    the last event are said only for a customer who had a habit of it (three events or more) and is now twice
    their usual gap past it; for a risky activity, only when the last one was recent. A low count of the usual
    kind is no reason by itself."""
    p = load_params(None, ["features.risky_event_types=[dislike]"])
    as_of = pd.Timestamp(AS_OF)
    rows = [("habit", as_of - pd.Timedelta(days=100 + 10 * k), "webinar") for k in range(6)]  # every 10 days, not for 100
    rows += [("steady", as_of - pd.Timedelta(days=5 + 10 * k), "webinar") for k in range(6)]  # every 10 days, still
    rows += [("once", as_of - pd.Timedelta(days=307), "webinar")]  # one, long ago
    rows += [("twice", as_of - pd.Timedelta(days=d), "webinar") for d in (300, 600)]  # two: no habit yet
    rows += [("burst", as_of - pd.Timedelta(days=200, hours=h), "webinar") for h in range(5)]  # five in a day
    rows += [(c, as_of - pd.Timedelta(days=d), "dislike") for c, d in (("habit", 3), ("steady", 200))]
    events = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type"]).assign(value=np.nan)
    customers = sorted(set(events["customer_id"]))
    tx = pd.DataFrame({"customer_id": customers, "timestamp": as_of - pd.Timedelta(days=20), "amount": 10.0})
    ds = dataset_from_frames({"transactions": tx, "events": events}, p)
    spec, _ = feature_spec(context_for(ds, p, AS_OF))
    frame = build_features(ds, p, AS_OF).set_index("customer_id")
    assert frame.loc["habit", "webinar_usual_days_between_events"] == 10
    assert frame.loc["habit", "webinar_gap_ratio_since_last_event"] == 10
    assert frame.loc["steady", "webinar_gap_ratio_since_last_event"] == 0.5
    for c in ("once", "twice", "burst"):  # no habit: no usual gap, no ratio
        assert np.isnan(frame.loc[c, "webinar_usual_days_between_events"]), c
        assert np.isnan(frame.loc[c, "webinar_gap_ratio_since_last_event"]), c

    def reasons(name):
        feat = spec[name]
        return {c: feat.reason(row[name], row) for c, row in frame.to_dict("index").items()}

    assert not any(reasons("days_since_last_webinar_event").values())  # the days alone: never a reason
    assert not any(reasons("webinar_events_last_90d").values())  # nor "No webinars in the last 90 days"
    said = reasons("webinar_gap_ratio_since_last_event")
    assert said == {"habit": "No webinars for 100 days, against one every 10 days before", "steady": None,
                    "once": None, "twice": None, "burst": None}
    assert reasons("days_since_last_dislike_event")["habit"] == "Last of their dislikes 3 days ago"
    assert reasons("days_since_last_dislike_event")["steady"] is None  # 200 days ago: no news
    assert reasons("dislike_events_last_30d")["habit"] == "1 dislike in the last 30 days"
    assert spec["dislike_gap_ratio_since_last_event"].risk_direction == 0  # a pause in dislikes is no risk


def test_a_type_seen_at_training_and_absent_at_scoring_is_zero():
    p = load_params(None)
    training = _tables(["post", "like"])
    choices = data_choices(dataset_from_frames(training, p), p, AS_OF)
    scoring = {**training, "events": training["events"][training["events"]["event_type"] != "like"]}
    ds = dataset_from_frames(scoring, p)
    frame = build_features(ds, p, AS_OF, choices=choices)
    spec, _ = feature_spec(context_for(ds, p, AS_OF, choices))
    assert list(frame.columns[1:]) == spec.names and "like_events_last_30d" in frame
    assert (frame["like_events_last_30d"] == 0).all() and frame["days_since_last_like_event"].isna().all()
    assert "like_events_last_30d" not in build_features(ds, p, AS_OF).columns  # chosen afresh: not there


def test_types_over_the_limit_are_counted_together_and_named():
    p = load_params(None, ["features.max_event_types=2"])
    tables = _tables(["a", "b", "c", "d"])  # a: 3 events, b: 4, c: 5, d: 6 per customer A
    ds = dataset_from_frames(tables, p)
    ctx = context_for(ds, p, AS_OF)
    assert ctx.event_types == ("d", "c") and ctx.other_event_types == ("b", "a")
    _, notices = feature_spec(ctx)
    assert any("'b', 'a'" in n and "other_events_last_90d" in n for n in notices)
    frame = build_features(ds, p, AS_OF).set_index("customer_id")
    assert frame.loc["A", "other_events_last_90d"] == 3 + 4  # a and b in the last 90 days
    assert "a_events_last_30d" not in frame and "d_events_last_30d" in frame


def test_declared_ratios():
    p = load_params(None, ["features.event_ratios=[{numerator: dislike, denominator: like, window_days: 90}]"])
    tables = _tables(["like", "dislike"])  # A: like 1 + 2, dislike 2 + 2 in 90 days
    ds = dataset_from_frames(tables, p)
    spec, _ = feature_spec(context_for(ds, p, AS_OF))
    frame = build_features(ds, p, AS_OF).set_index("customer_id")
    assert frame.loc["A", "dislike_per_like_90d"] == pytest.approx(4 / 3)
    assert np.isnan(frame.loc["B", "dislike_per_like_90d"])  # no likes: no ratio
    feat = spec["dislike_per_like_90d"]
    assert feat.reason(4 / 3, {}) == "1.33 dislikes per like in the last 90 days" and feat.reason(0.0, {}) is None


@pytest.mark.parametrize("override, message", [
    ("features.event_ratios=[{numerator: like}]", "numerator and a different denominator"),
    ("features.event_ratios=[{numerator: a, denominator: b, window_days: 0}]", "window_days must be positive"),
    ("features.event_ratios=[{numerator: a, denominator: b, windows: 3}]", "features.event_ratios[0].windows"),
    ("features.max_event_types=-1", "max_event_types"),
    ("features.transactions=rentals", "features.transactions"),
])
def test_event_settings_are_validated(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_params(None, [override])


def test_training_cutoffs_share_the_choice_made_as_of_the_training_date():
    """A type first seen after an early cutoff is zero there, not a missing column."""
    p = load_params(None, ["snapshots.count=3", "label.horizon_days=30", "label.lookback_days=3650"])
    tables = _tables(["post", "late"])
    tables["events"] = tables["events"][(tables["events"]["event_type"] != "late")
                                        | (tables["events"]["timestamp"] > "2025-05-01")]
    tables["transactions"] = pd.concat([tables["transactions"].assign(timestamp=pd.Timestamp(day))
                                        for day in ("2025-01-05", "2025-03-01", "2025-04-01")], ignore_index=True)
    training = build_training_set(dataset_from_frames(tables, p), p, AS_OF)
    assert training["cutoff"].nunique() == 3 and training["late_events_last_30d"].notna().all()
    assert (training.loc[training["cutoff"] == training["cutoff"].min(), "late_events_last_365d"] == 0).all()


def test_an_event_type_can_never_take_a_built_in_feature_name():
    from features.activity import reserved_names, type_names

    reserved = reserved_names()
    assert "other_events_last_90d" in reserved  # engagement's count of other events
    names = slugs(("other", "post", "events"))
    assert names["post"] == "post" and names["other"] != "other"
    for slug in names.values():
        assert reserved.isdisjoint(type_names(slug))
