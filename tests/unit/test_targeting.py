"""The call list's rules: priority inputs, capacity, and a holdout that is stable per campaign and fresh across them."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import TargetingConfig
from pipeline.targeting import action_effects, contact_groups, holdout_draw

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
