"""The words people read: readable labels, the churn definition, the population rule and the band rule, each
defined once (``pipeline.outputs.labels``, family words with each family) and said the same way everywhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import features
from features.registry import FAMILIES, Family, family_label, words
from pipeline.build.problem import churn_definition as build_churn_definition
from pipeline.outputs.labels import (
    CONTACT_GROUPS,
    TERMS,
    band_label,
    band_rule_line,
    band_rule_text,
    band_rule_words,
    churn_definition,
    churn_rate_caption,
    churn_rate_title,
    churn_words,
    contact_label,
    effects_basis_short,
    effects_basis_words,
    feature_label,
    group_counts,
    groups_meaning,
    holdout_share_words,
    net_saving_words,
    newly_in_band,
    no_previous_words,
    population_words,
    profit_sentence,
    targeting_profit_sentence,
    tier_label,
    tiers_meaning,
    win_back_words,
)

ROOT = Path(__file__).resolve().parents[2]
PROBABILITY = {"by": "probability", "bands": {"low": 0.0, "high": 0.6, "medium": 0.3}}
MULTIPLES = {"by": "base_rate_multiple", "bands": {"high": 0.0612, "medium": 0.0306, "low": 0.0},
             "thresholds": {"high": 0.0612, "medium": 0.0306, "low": 0.0},
             "multiples": {"high": 3.0, "medium": 1.5, "low": 0.0}, "base_rate": 0.0204}


def test_labels_are_words_and_unknown_names_are_kept_readable():
    assert family_label("btyd") == "Purchase pattern (model)" and family_label("loyalty_program") == "Loyalty programme"
    assert family_label("new_family") == "New family"
    assert band_label("high") == "High risk" and band_label("very_high") == "Very high risk"
    # value tiers named by value: never a word of risk or activity that reads like a second risk band
    assert tier_label("at_risk") == "Low value" and tier_label("dormant") == "Very low value"
    assert all("value" in tier_label(t).lower() and "risk" not in tier_label(t).lower()
               for t in ("champion", "loyal", "steady", "at_risk", "dormant"))
    assert tier_label("platinum_plus") == "Platinum plus"
    assert contact_label("holdout") == "Hold out — do not contact" and contact_label("treatment") == "Contact"
    assert contact_label("not_selected") == "Not selected" and contact_label("waitlist") == "Waitlist"
    assert feature_label("spend_last_90d") == "Spend, last 90 days"
    assert feature_label("btyd_expected_purchases_next_90d") == "Purchase model expected purchases, next 90 days"
    assert feature_label("profile_region") == "Region (profile)" and feature_label("latest_csat") == "Latest CSAT"


def test_every_family_declares_its_label_and_one_without_gets_its_name_in_words():
    assert set(FAMILIES) >= {"recency", "btyd", "loyalty_program", "payments", "profile"}
    for name, family in FAMILIES.items():
        assert family.label and family_label(name) == family.label, name
    assert FAMILIES["recency"].label == "Time since last purchase"
    declared = Family("weekend_habits", ("transactions",), lambda ctx: [])
    assert declared.label == "Weekend habits" == words("weekend_habits")
    assert Family("x", ("transactions",), lambda ctx: [], label="Shown words").label == "Shown words"
    # every built-in family module declares its label with the family
    for path in sorted((ROOT / "features").glob("*.py")):
        if path.stem in ("__init__", "registry"):
            continue
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)
                 and getattr(n.func, "id", None) == "Family"]
        assert calls and all(any(k.arg == "label" for k in c.keywords) for c in calls), path.name
    assert features.FAMILIES is FAMILIES


def test_churn_definition_and_band_thresholds_in_words():
    assert churn_definition is build_churn_definition  # one definition, worded where the build logs it
    assert churn_definition({"kind": "inactivity", "horizon_days": 90}) == "no purchase in the 90 days after the as-of date"
    assert churn_words({"kind": "inactivity", "horizon_days": 90}) == "No purchase in the 90 days after the as-of date"
    assert churn_definition({"kind": "cancellation", "horizon_days": 30}) == (
        "a subscription active on the as-of date ends within the next 30 days and none is active at the end")
    assert churn_words(None) == ""
    assert band_rule_text(PROBABILITY) == [
        ("High risk", "churn probability 60% or more"), ("Medium risk", "churn probability 30% to under 60%"),
        ("Low risk", "churn probability under 30%")]
    assert band_rule_text({"by": "top_share", "bands": {"high": 0.1, "medium": 0.3, "low": 1.0}}) == [
        ("High risk", "the 10% of customers with the highest churn probability"),
        ("Medium risk", "the next 20% by churn probability"), ("Low risk", "everyone else")]
    assert band_rule_text(None) == [] and band_rule_words(None) == "" and band_rule_words({"bands": {}}) == ""


def test_the_band_rule_is_one_sentence_everywhere():
    assert band_rule_words(PROBABILITY) == ("High risk: churn probability 60% or more; Medium risk: churn probability "
                                            "30% to under 60%; Low risk: churn probability under 30%")
    assert band_rule_words(MULTIPLES) == (
        "High risk: churn probability 6.1% or more; Medium risk: churn probability 3.1% to under 6.1%; Low risk: "
        "churn probability under 3.1% (High risk from 3x, Medium risk from 1.5x the validation churn rate of 2.0%)")
    odds = {"by": "base_rate_odds", "bands": {"high": 0.6522, "medium": 0.385, "low": 0.0},
            "multiples": {"high": 3.0, "medium": 1.0, "low": 0.0}, "base_rate": 0.385}
    assert band_rule_words(odds) == (
        "High risk: churn probability 65.2% or more; Medium risk: churn probability 38.5% to under 65.2%; Low risk: "
        "churn probability under 38.5% (the validation churn rate was 38.5%: High risk from 3 times the average "
        "customer's odds of churning; Medium risk from the average customer's odds of churning)")
    # the default: symmetric around the average, a third to three times its odds
    third = {**odds, "multiples": {"high": 3.0, "medium": 0.333, "low": 0.0}}
    assert band_rule_words(third).endswith("Medium risk from a third of the average customer's odds of churning)")
    assert band_rule_words({**odds, "multiples": {"high": 4.0, "medium": 0.5, "low": 0.0}}).endswith(
        "High risk from 4 times the average customer's odds of churning; Medium risk from half the average "
        "customer's odds of churning)")
    assert band_rule_line(PROBABILITY) == f"Risk bands: {band_rule_words(PROBABILITY)}"
    assert band_rule_line({**PROBABILITY, "base_rate": 0.05}, "when scored") == (
        f"Risk bands when scored: {band_rule_words(PROBABILITY)} (validation churn rate 5.0%)")
    assert newly_in_band("high") == "newly in the high risk band"


def test_contact_groups_population_and_tiers_in_one_vocabulary():
    assert list(CONTACT_GROUPS) == ["treatment", "holdout", "not_selected", "win_back"]
    assert group_counts({"treatment": 1200, "holdout": 130}) == "Contact: 1,200; Hold out — do not contact: 130"
    assert groups_meaning() == (
        "Contact = contact this customer. Hold out — do not contact = kept out of contact on purpose, to measure "
        "whether contacting works: do not contact. Not selected = a contact is expected to cost more than it saves, "
        "or the customer is beyond this run's capacity: not contacted this run. Win back = no purchase for far "
        "longer than their usual gap and than the horizon: lost already, so for the win-back campaign (its own "
        "list), not a retention call.")
    assert holdout_share_words(0.1) == ('10% of the customers selected for contact are marked "Hold out — do not '
                                        'contact": kept out of contact on purpose, to measure whether contacting works')
    assert tiers_meaning(["champion", "at_risk"]) == (
        "Value tiers rank customers by the value they are expected to bring (loyalty score 0-100, from predicted "
        "future spend), not by risk: Top value, Low value. Customers expected to leave are expected to bring little, "
        "so low tiers hold many of them: each tier's churn rate is shown beside it.")
    population = {"rule": "customers with an order in the 365 days up to the as-of date", "left_out": 12,
                  "left_out_reason": "no order in the 365 days before the as-of date (already churned)"}
    assert population_words(population, 1500) == (
        "Scored: customers with an order in the 365 days up to the as-of date (1,500 customers). Left out: 12 customers "
        "with earlier history, because they made no order in the 365 days before the as-of date (already churned).")
    assert population_words({"rule": ""}, 10) == ""
    assert TERMS["risk_band"] == "Risk band" and TERMS["contact_group"] == "Contact group"


def test_no_output_or_command_writes_these_words_itself():
    """The words of bands, groups, tiers and rules are written in the labels module only: another copy in the
    report, its templates, Excel, the outcomes page or a command would drift from it."""
    copies = re.compile(r"do not contact|Hold out|held out \(|High risk|Medium risk|Low value|Customers to call|"
                        r"no purchase in the|subscription active on|days up to the as-of|FAMILY_LABELS|"
                        r"Purchase pattern \(model\)|Time since last purchase")
    places = [*(ROOT / "pipeline" / "outputs").rglob("*.py"), *(ROOT / "pipeline" / "outputs").rglob("*.j2"),
              *(ROOT / "pipeline" / "cli").glob("*.py"), ROOT / "pipeline" / "scoring" / "health.py"]
    found = {str(p.relative_to(ROOT)): copies.findall(p.read_text()) for p in places
             if p.name != "labels.py" and copies.search(p.read_text())}
    assert found == {}


def test_the_list_size_and_its_reason_in_one_sentence():
    profit = {"best_list_size": 971, "best_net_saving": 3748.96, "capacity_list_size": 500,
              "capacity_net_saving": 3100.4, "left_by_capacity": 648.56}
    assert profit_sentence(profit, 90, "EUR") == ("Calling the first 971 customers maximises expected profit: "
                                                  "3,749 EUR over the next 90 days.")
    assert profit_sentence(profit, 90, capacity=500, held_out=50, held_out_saving=310.0) == (
        "Calling the first 971 customers maximises expected profit: 3,749 over the next 90 days. The capacity of 500 "
        "reaches 3,100 and leaves 649 on the table. Holding out 50 of them, to measure whether contacting works, "
        "sets aside 310 of it.")
    assert profit_sentence({**profit, "best_list_size": 0}, 90).startswith("No customer is expected to save more")
    targeting = {"profit": profit, "capacity": None, "groups": {"holdout": 97}, "net_saving_selected": 3748.96,
                 "net_saving_contacted": 3454.76}
    assert targeting_profit_sentence(targeting, 90).endswith("Holding out 97 of them, to measure whether contacting "
                                                             "works, sets aside 294 of it.")
    assert targeting_profit_sentence({"capacity": 10}, 90) == ""  # a list written before the call list had costs
    assert net_saving_words(1.0, 0.0, "EUR").startswith("Expected net saving of contacting a customer over the "
                                                        "horizon = churn probability x value if retained x the")
    assert "offer's cost (2.00" in net_saving_words(1.0, 2.0)
    assert win_back_words(3.0, 90).startswith("Customers with no purchase for longer than the 90-day horizon and than "
                                              "3 of their usual gaps between purchases (one-time buyers: 3 horizons, "
                                              "270 days)")
    assert win_back_words(None, 90) == ""


def test_the_churn_rate_by_month_is_named_by_its_own_period():
    label = {"kind": "inactivity", "horizon_days": 90, "lookback_days": 365, "min_purchases_in_lookback": 1}
    assert churn_rate_title(label) == "90-day churn rate at each month end"
    assert churn_rate_caption(label) == (
        "Share of the customers who bought in the 365 days up to it at each month end and then bought nothing in the "
        "next 90 days: a 90-day rate, not a monthly one. The last months have no rate yet: their 90 days are not over.")
    assert churn_rate_caption({**label, "min_purchases_in_lookback": 2}).startswith(
        "Share of the customers who made at least 2 orders in the 365 days")
    assert churn_rate_caption({"kind": "cancellation", "horizon_days": 30}).startswith(
        "Share of the customers with a subscription active at each month end whose subscriptions all ended in the next "
        "30 days")
    assert churn_rate_title({}) == "Churn rate at each month end"


def test_action_effects_are_called_assumptions_until_measured():
    assumed = effects_basis_words({"used": "defaults"})
    assert assumed.startswith("assuming the action effects") and "not yet measured" in assumed
    assert effects_basis_words({"used": "configured"}) == assumed  # set by hand: still an assumption
    assert effects_basis_words({"used": "measured", "measured_on": "2026-03-31"}) == (
        "with action effects measured by `churn outcomes` on 2026-03-31")
    assert "learned" in effects_basis_words({"used": "effect_model", "learned_as_of": "2026-03-31"})
    assert effects_basis_words({}) == "" and effects_basis_short({"used": "defaults"}) == "assumed action effects"
    assert effects_basis_short({"used": "measured", "measured_on": "2026-03-31"}) == "effects measured 2026-03-31"


def test_no_earlier_list_says_so_and_how_to_pass_one():
    text = no_previous_words({"asked_none": False, "looked_in": "outputs"})
    assert text.startswith("No earlier list was found in outputs") and "--previous PATH" in text
    assert no_previous_words({"asked_none": True, "looked_in": "outputs"}) == (
        "No earlier list was compared (--no-previous).")
    assert no_previous_words(None) == ""
