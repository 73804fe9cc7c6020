"""The report's words: readable labels, the churn definition and the band thresholds."""

from __future__ import annotations

from pipeline.outputs.report.html import (
    band_label,
    band_rule_text,
    churn_definition,
    contact_label,
    family_label,
    feature_label,
    tier_label,
)


def test_labels_are_words_and_unknown_names_are_kept_readable():
    assert family_label("btyd") == "Purchase pattern (model)" and family_label("loyalty_program") == "Loyalty programme"
    assert family_label("new_family") == "New family"
    assert band_label("high") == "High risk" and band_label("very_high") == "Very high risk"
    assert tier_label("at_risk") == "Occasional" and "risk" not in tier_label("at_risk").lower()
    assert contact_label("holdout") == "Hold out — do not contact" and contact_label("treatment") == "Contact"
    assert feature_label("spend_last_90d") == "Spend, last 90 days"
    assert feature_label("btyd_expected_purchases_next_90d") == "Purchase model expected purchases, next 90 days"
    assert feature_label("profile_region") == "Region (profile)" and feature_label("latest_csat") == "Latest CSAT"


def test_churn_definition_and_band_thresholds_in_words():
    assert churn_definition({"kind": "inactivity", "horizon_days": 90}) == "no purchase in the 90 days after the as-of date"
    assert "subscription" in churn_definition({"kind": "cancellation", "horizon_days": 30}) and "30 days" in \
        churn_definition({"kind": "cancellation", "horizon_days": 30})
    assert band_rule_text({"by": "probability", "bands": {"low": 0.0, "high": 0.6, "medium": 0.3}}) == [
        ("High risk", "churn probability 60% or more"), ("Medium risk", "churn probability 30% to under 60%"),
        ("Low risk", "churn probability under 30%")]
    assert band_rule_text({"by": "top_share", "bands": {"high": 0.1, "medium": 0.3, "low": 1.0}}) == [
        ("High risk", "the 10% of customers with the highest churn probability"),
        ("Medium risk", "the next 20% by churn probability"), ("Low risk", "everyone else")]
    assert band_rule_text(None) == []
