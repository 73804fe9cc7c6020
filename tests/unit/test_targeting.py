"""The call list's rules: priority inputs, capacity, and a holdout that is stable per campaign and fresh across them."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.config import ScoringConfig, TargetingConfig, load_params
from pipeline.scoring.targeting import action_effects, choose_actions, contact_groups, holdout_draw

IDS = np.array([f"C-{i:05d}" for i in range(20_000)])
PRIORITY = np.random.default_rng(0).gamma(1.0, 10.0, IDS.size)
DAY = date(2025, 12, 31)


def test_holdout_share_is_exact_among_the_selected():
    groups = contact_groups(IDS, PRIORITY, DAY, TargetingConfig(holdout_share=0.1), seed=42)
    assert (groups == "holdout").sum() == 2000 and (groups == "treatment").sum() == 18_000
    assert (groups == "not_selected").sum() == 0


def test_capacity_selects_the_highest_priority_and_holds_out_a_share_of_them():
    groups = contact_groups(IDS, PRIORITY, DAY, TargetingConfig(capacity=500, holdout_share=0.2), seed=42)
    selected = groups != "not_selected"
    assert selected.sum() == 500 and (groups == "holdout").sum() == 100
    assert PRIORITY[selected].min() >= PRIORITY[~selected].max()  # the top 500 by priority, nobody else


def test_no_priority_means_not_selected():
    priority = PRIORITY.copy()
    priority[:100] = 0.0
    priority[100:200] = np.nan
    groups = contact_groups(IDS, priority, DAY, TargetingConfig(), seed=42)
    assert (groups[:200] == "not_selected").all()


def test_the_same_campaign_holds_out_the_same_customers_in_any_row_order():
    cfg = TargetingConfig(holdout_share=0.1)
    first = contact_groups(IDS, PRIORITY, DAY, cfg, seed=42)
    order = np.random.default_rng(1).permutation(IDS.size)
    again = contact_groups(IDS[order], PRIORITY[order], DAY, cfg, seed=42)
    assert (again == first[order]).all()


def test_each_campaign_draws_a_fresh_holdout():
    cfg = TargetingConfig(holdout_share=0.1)
    held = [contact_groups(IDS, PRIORITY, day, cfg, seed=42) == "holdout"
            for day in (date(2025, 10, 31), date(2025, 11, 30), DAY)]
    both = (held[0] & held[1]).sum()
    assert both == pytest.approx(0.1 * 0.1 * IDS.size, rel=0.35)  # independent draws: about share squared overlap
    assert (held[0] & held[1] & held[2]).sum() < 40  # nobody is held out every time (expected 20)
    other_seed = contact_groups(IDS, PRIORITY, DAY, cfg, seed=7) == "holdout"
    assert (other_seed & held[2]).sum() == pytest.approx(0.01 * IDS.size, rel=0.35)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=50, unique=True))
def test_holdout_draw_is_uniform_in_unit_interval_and_stable(ids):
    ids = np.array(ids, dtype=object)
    draw = holdout_draw(ids, DAY, 42)
    assert ((draw >= 0) & (draw < 1)).all()
    assert (holdout_draw(ids, DAY, 42) == draw).all()


def test_holdout_draw_is_close_to_uniform():
    draw = holdout_draw(IDS, DAY, 42)
    counts = np.histogram(draw, bins=10, range=(0, 1))[0]
    assert counts.min() > 1800 and counts.max() < 2200


def test_action_effects_use_the_prior_per_action_and_the_default():
    cfg = TargetingConfig(action_effects={"call": 0.3}, default_effect=0.05)
    np.testing.assert_allclose(action_effects(np.array(["call", "email", None], dtype=object), cfg), [0.3, 0.05, 0.05])


# ---------------------------------------------------------------------------------------------------------------
# Actions that fit the customer


def _scoring(actions: dict) -> ScoringConfig:
    return load_params(None, [f"scoring.actions={json.dumps(actions)}", "scoring.default_action=keep in touch"]).scoring


ACTIONS = {
    "subscription": {"text": "renewal offer", "when": {"has_active_subscription": 1}},
    "profile": [{"text": "account review", "when": {"profile_segment": ["small_business", "enterprise"]}},
                {"text": "consumer check-in", "when": {"days_since_signup": {"<": 90}}}],
    "recency": "win-back",
}
# four customers, three driver slots each
FAMILIES = np.array([
    ["subscription", "recency", None],       # no subscription -> the next driver's action
    ["subscription", "profile", "recency"],  # active subscription -> renewal offer
    ["profile", "subscription", "recency"],  # consumer, old, no subscription -> recency's action
    ["profile", "tenure", None],             # consumer, old; tenure has no action -> default
    ["profile", None, None],                 # consumer, new -> the family's second action
], dtype=object)
COLUMNS = {
    "has_active_subscription": pd.Series([0, 1, 0, np.nan, 0]),
    "profile_segment": pd.Series(["consumer", "small_business", "consumer", "consumer", None]),
    "days_since_signup": pd.Series([400, 400, 400, 400, 30]),
}


def test_actions_honour_their_conditions_and_fall_back_to_the_next_driver_then_the_default():
    chosen, notes = choose_actions(FAMILIES, COLUMNS, _scoring(ACTIONS))
    assert list(chosen) == ["win-back", "renewal offer", "win-back", "keep in touch", "consumer check-in"]
    assert notes == []


def test_simple_form_keeps_working_and_no_driver_means_the_default():
    cfg = _scoring({"recency": "win-back", "subscription": "renewal offer"})
    families = np.array([["subscription", None], [None, None], ["basket", "recency"]], dtype=object)
    chosen, _ = choose_actions(families, {}, cfg)
    assert list(chosen) == ["renewal offer", "keep in touch", "win-back"]


def test_an_action_never_refers_to_what_the_customer_lacks():
    rng = np.random.default_rng(3)
    n = 5000
    pool = np.array(["subscription", "profile", "recency", "tenure", None], dtype=object)
    families = pool[rng.integers(0, pool.size, (n, 3))]
    columns = {"has_active_subscription": pd.Series(rng.integers(0, 2, n).astype(float)),
               "profile_segment": pd.Series(rng.choice(["consumer", "small_business", "enterprise"], n)),
               "days_since_signup": pd.Series(rng.integers(0, 900, n))}
    chosen, _ = choose_actions(families, columns, _scoring(ACTIONS))
    assert (columns["has_active_subscription"][chosen == "renewal offer"] == 1).all()
    assert columns["profile_segment"][chosen == "account review"].isin(["small_business", "enterprise"]).all()
    assert (chosen == "renewal offer").sum() > 100 and (chosen == "account review").sum() > 100


def test_a_condition_on_a_missing_feature_never_applies_with_a_note():
    chosen, notes = choose_actions(FAMILIES, {"profile_segment": COLUMNS["profile_segment"]}, _scoring(ACTIONS))
    assert "renewal offer" not in set(chosen)
    assert any("scoring.actions.subscription" in n and "has_active_subscription" in n for n in notes)


@pytest.mark.parametrize(("test", "values", "expected"), [
    ({">=": 2}, [1, 2, 3, None], [False, True, True, False]),
    ({"!=": "a"}, ["a", "b", None, "c"], [False, True, False, True]),
    ({"not_in": ["a", "b"]}, ["a", "b", "c", None], [False, False, True, False]),
    ({">": 0, "<=": 5}, [0, 5, 6, 3], [False, True, False, True]),
    (True, [1, 0, True, None], [True, False, True, False]),
])
def test_condition_operators(test, values, expected):
    cfg = _scoring({"x": {"text": "go", "when": {"v": test}}})
    chosen, _ = choose_actions(np.array([["x"]] * 4, dtype=object), {"v": pd.Series(values, dtype=object)}, cfg)
    assert list(chosen == "go") == expected


def test_action_effects_follow_the_chosen_action():
    chosen, _ = choose_actions(FAMILIES, COLUMNS, _scoring(ACTIONS))
    cfg = TargetingConfig(action_effects={"renewal offer": 0.3, "win-back": 0.1}, default_effect=0.02)
    np.testing.assert_allclose(action_effects(chosen, cfg), [0.1, 0.3, 0.1, 0.02, 0.02])
