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
from pipeline.core.errors import ConfigError
from pipeline.scoring.targeting import (
    CURVE_POINTS,
    action_effects,
    callable_customers,
    choose_actions,
    contact_groups,
    holdout_draw,
    net_saving,
    profit_curve,
    win_back_mask,
)

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


# Call-list economics on a small table worked out by hand: contact cost c = 1, offer cost d = 2.
#   net = p x e x V - c - d x ((1 - p) + p x e)
#   A: 0.5 x 0.2 x 100 = 10.0, offer 2 x (0.5 + 0.1) = 1.2          -> 10.0 - 1 - 1.2 = 7.8
#   B: 0.9 x 0.1 x 50 = 4.5, offer 2 x (0.1 + 0.09) = 0.38          -> 4.5 - 1 - 0.38 = 3.12
#   C: 0.1 x 0.25 x 40 = 1.0, offer 2 x (0.9 + 0.025) = 1.85        -> 1.0 - 1 - 1.85 = -1.85
#   D: 1.0 x 0.05 x 10 = 0.5, offer 2 x (0 + 0.05) = 0.1            -> 0.5 - 1 - 0.1 = -0.6
#   E: no probability: nothing saved, the offer taken by a stayer   -> 0 - 1 - 2 = -3
HAND = pd.DataFrame({"customer_id": list("ABCDE"), "p": [0.5, 0.9, 0.1, 1.0, np.nan],
                     "effect": [0.2, 0.1, 0.25, 0.05, 0.1], "value": [100.0, 50.0, 40.0, 10.0, 80.0],
                     "net": [7.8, 3.12, -1.85, -0.6, -3.0]})
COSTS = TargetingConfig(contact_cost=1.0, offer_cost=2.0, holdout_share=0.0)


def test_net_saving_on_a_table_worked_out_by_hand():
    net = net_saving(HAND["p"].to_numpy(), HAND["value"].to_numpy(), HAND["effect"].to_numpy(), COSTS)
    np.testing.assert_allclose(net, HAND["net"], atol=1e-12)
    free = net_saving(HAND["p"].to_numpy(), HAND["value"].to_numpy(), HAND["effect"].to_numpy(),
                      TargetingConfig(contact_cost=0.0, offer_cost=0.0))
    np.testing.assert_allclose(free, [10.0, 4.5, 1.0, 0.5, 0.0])  # no costs: the value kept, as before


def test_only_a_positive_net_saving_is_called_and_the_capacity_caps_it():
    ids, net = HAND["customer_id"].to_numpy(), HAND["net"].to_numpy()
    groups = contact_groups(ids, net, DAY, COSTS, seed=42)
    assert groups.tolist() == ["treatment", "treatment", "not_selected", "not_selected", "not_selected"]
    capped = contact_groups(ids, net, DAY, TargetingConfig(capacity=1, holdout_share=0.0), seed=42)
    assert capped.tolist() == ["treatment"] + ["not_selected"] * 4


def test_a_call_needs_a_reason_and_a_targeted_action_whatever_its_saving():
    default = ScoringConfig().default_action
    risk = pd.DataFrame({"driver_1_reason": ["No purchase for 40 days", None, "Waited 66 hours for a reply",
                                             "2 complaints in the last 90 days"],
                         "action": ["Reminder with a reason to buy again now", "Reminder with a reason to buy again now",
                                    default, "Follow up on their recent support requests"]})
    can_call = callable_customers(risk, default)
    assert can_call.tolist() == [True, False, False, True]
    groups = contact_groups(np.array(["a", "b", "c", "d"]), np.array([5.0, 9.0, 7.0, 1.0]), DAY,
                            TargetingConfig(holdout_share=0.0), seed=42, can_call=can_call)
    assert groups.tolist() == ["treatment", "not_selected", "not_selected", "treatment"]
    # no action at all is nothing to offer either
    assert not callable_customers(risk.assign(action=[None, None, None, None]), default).any()
    # a list without reasons or actions (an older file): everyone may be called
    assert callable_customers(pd.DataFrame({"x": [1, 2]}), default).all()


def test_the_default_actions_never_say_win_back_on_the_retention_list_and_slow_replies_get_a_follow_up():
    cfg = ScoringConfig()
    texts = {rule.text for rules in cfg.actions.values() for rule in rules}
    assert TargetingConfig().win_back_action not in texts
    service = pd.DataFrame({"complaints_last_90d": [0, 2, 0], "max_response_hours_last_90d": [66.0, 3.0, 2.0],
                            "risk_band": ["medium", "low", "high"]})
    families = np.array([["service"], ["service"], ["service"]], dtype=object)
    chosen, _ = choose_actions(families, {c: service[c] for c in service.columns}, cfg)
    assert chosen.tolist() == ["Follow up on their recent support requests"] * 2 + [cfg.default_action]


def test_profit_curve_peaks_at_the_last_positive_saving_and_says_what_capacity_leaves():
    in_order = np.sort(HAND["net"].to_numpy())[::-1]  # A, B, D, C, E
    curve = profit_curve(in_order, capacity=None)
    assert curve["best_list_size"] == 2 and curve["best_net_saving"] == pytest.approx(10.92)
    assert curve["left_by_capacity"] == 0 and curve["capacity_list_size"] == 2
    np.testing.assert_allclose([v for _, v in curve["curve"]], [0, 7.8, 10.92, 10.32, 8.47, 5.47], atol=1e-12)
    assert [k for k, _ in curve["curve"]] == [0, 1, 2, 3, 4, 5]
    capped = profit_curve(in_order, capacity=1)
    assert capped["capacity_list_size"] == 1 and capped["capacity_net_saving"] == pytest.approx(7.8)
    assert capped["left_by_capacity"] == pytest.approx(3.12)
    nobody = profit_curve(np.array([-0.5, -1.0]), capacity=None)
    assert nobody["best_list_size"] == 0 and nobody["best_net_saving"] == 0


def test_profit_curve_keeps_a_bounded_number_of_points_with_the_maximum():
    saving = np.linspace(5, -5, 10_001)  # the maximum at size 5,000 (the 5,001st saving is 0: no gain)
    curve = profit_curve(saving, capacity=None)
    sizes = [k for k, _ in curve["curve"]]
    assert len(sizes) <= CURVE_POINTS + 2 and sizes[0] == 0 and sizes[-1] == 10_001
    assert curve["best_list_size"] in sizes and curve["best_list_size"] == 5000


def test_win_back_is_longer_than_the_horizon_and_several_usual_gaps():
    days = np.array([200, 80, 150, 280, 250, np.nan, 91, 90])
    gap = np.array([30, 10, 60, np.nan, np.nan, 20, 30, 30])
    gone = win_back_mask(days, gap, horizon_days=90, gaps=3)
    # 200 > 90 and 3 x 30; 80 is within the horizon; 150 < 3 x 60; one-time buyers need 3 horizons (270 days);
    # no purchase date never counts; 91 > 90 = 3 x 30; exactly 90 is not longer
    assert gone.tolist() == [True, False, False, True, False, False, True, False]
    assert not win_back_mask(days, gap, horizon_days=90, gaps=None).any()
    assert win_back_mask(days, None, horizon_days=90, gaps=3).tolist() == [False, False, False, True, False, False,
                                                                           False, False]


def test_win_back_customers_leave_the_retention_list_and_the_holdout_comes_from_the_rest():
    gone = np.zeros(IDS.size, dtype=bool)
    gone[np.argsort(-PRIORITY)[:300]] = True  # the 300 of highest priority are long gone
    cfg = TargetingConfig(capacity=1000, holdout_share=0.1)
    groups = contact_groups(IDS, PRIORITY, DAY, cfg, seed=42, win_back=gone)
    assert (groups[gone] == "win_back").all() and (groups == "win_back").sum() == 300
    assert (groups == "treatment").sum() == 900 and (groups == "holdout").sum() == 100
    selected = np.isin(groups, ["treatment", "holdout"])
    assert PRIORITY[selected].min() >= PRIORITY[~selected & ~gone].max()  # the next 1,000 by priority
    # the holdout draw is the same function of id and campaign: among the same selected, the same customers
    again = contact_groups(IDS[selected], PRIORITY[selected], DAY, TargetingConfig(holdout_share=0.1), seed=42)
    assert (again == groups[selected]).all()


def test_economics_settings_are_checked(tmp_path):
    for bad in ("contact_cost: -1", "offer_cost: -0.5", "win_back_gaps: 0.5", 'win_back_action: " "'):
        path = tmp_path / "params.yaml"
        path.write_text(f"targeting:\n  {bad}\n")
        with pytest.raises(ConfigError, match=f"targeting.{bad.split(':')[0]}"):
            load_params(path)
    path.write_text("targeting:\n  win_back_gaps:\n  contact_cost: 2\n")
    cfg = load_params(path).targeting
    assert cfg.win_back_gaps is None and cfg.contact_cost == 2.0
