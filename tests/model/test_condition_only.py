"""Condition-only features (``Feature.model_input`` False): columns of the feature table that reasons' and actions'
conditions read, never given to a model nor named as a driver (docs/features.md, "Condition-only features")."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from models.bundle import ModelBundle
from pipeline.core.config import ActionRule, Condition
from pipeline.scoring.score import score
from pipeline.scoring.targeting import WIN_BACK

pytestmark = pytest.mark.slow

CONDITIONS = ("days_since_last_subscription_start_or_end",)
NOT_ACTIVE = "Not active in the last 30 days"


def test_a_condition_only_feature_is_in_the_table_and_in_no_model(scored):
    spec, bundle, features, result = scored["spec"], scored["result"].bundle, scored["features"], scored["score"]
    assert set(CONDITIONS) <= set(spec.condition_names)
    assert not set(spec.condition_names) & set(spec.names)
    for name in spec.condition_names:
        assert name in features.columns and features[name].notna().any(), name  # built, with values
        assert name not in scored["training"][spec.names].columns
        assert name not in bundle.feature_names
        assert name not in bundle.churn.feature_names_ and name not in bundle.loyalty.feature_names_
        assert name not in bundle.drift_reference
        assert all(name not in ref for ref in bundle.seasonal_drift_references.values())
        assert f"churn_{name}" not in result.contributions.columns
        assert name not in set(result.drift["feature"]) and name not in set(result.global_features["feature"])
        assert not spec[name].can_drive
    drivers = result.risk_list[[c for c in result.risk_list.columns if c.endswith("_feature")]].stack()
    assert not set(drivers) & set(spec.condition_names)


def test_the_bundle_keeps_its_conditions_and_scores_a_table_that_holds_them(scored, tmp_path):
    bundle = scored["result"].bundle
    loaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    assert loaded.spec == bundle.spec and loaded.spec.condition_names == bundle.spec.condition_names
    assert loaded.check_features(scored["features"]).columns.tolist() == bundle.feature_names


def test_a_condition_only_feature_moves_no_probability_and_still_silences_a_reason(scored):
    """Set the days since a subscription started or ended to 5 for the customers told "Not active in the last 30
    days": their probabilities and SHAP values stay exactly as they were (no model reads the column), and the
    sentence is no longer said of any of them (its condition reads the column from the feature table)."""
    params, bundle, features, before = scored["params"], scored["result"].bundle, scored["features"], scored["score"]
    reasons = before.risk_list[[c for c in before.risk_list.columns if c.endswith("_reason")]]
    told = before.risk_list.loc[(reasons == NOT_ACTIVE).any(axis=1), "customer_id"]
    assert len(told) >= 5  # the check runs on customers it is said of
    changed = features.assign(days_since_last_subscription_start_or_end=features[
        "days_since_last_subscription_start_or_end"].mask(features["customer_id"].isin(told), 5.0))
    after = score(changed, bundle, scored["as_of"], params.scoring, "test v1")
    key = ["customer_id"]
    a = before.risk_list.set_index(key).sort_index()
    b = after.risk_list.set_index(key).sort_index()
    np.testing.assert_array_equal(a["churn_probability"], b["churn_probability"])
    pd.testing.assert_frame_equal(before.contributions.set_index(key).sort_index(),
                                  after.contributions.set_index(key).sort_index())
    said = b[[c for c in b.columns if c.endswith("_reason")]]
    assert not (said.loc[told.to_numpy()] == NOT_ACTIVE).any().any()
    others = ~a.index.isin(told)
    pd.testing.assert_frame_equal(a.loc[others, said.columns], b.loc[others, said.columns])  # nobody else changes


def test_an_action_rule_reads_a_condition_only_feature(scored):
    params, bundle, features = scored["params"], scored["result"].bundle, scored["features"]
    rule = ActionRule("Welcome back call", (Condition("days_since_last_subscription_start_or_end", "<=", 30),))
    families = {f.family for f in bundle.spec.features}
    cfg = dataclasses.replace(params.scoring, actions={family: (rule,) for family in families})
    result = score(features, bundle, scored["as_of"], cfg, "test v1")
    risk = result.risk_list.merge(features[["customer_id", "days_since_last_subscription_start_or_end"]],
                                  on="customer_id")
    recent = risk["days_since_last_subscription_start_or_end"] <= 30
    has_driver = risk["driver_1_family"].notna() & (risk["contact_group"] != WIN_BACK)
    assert (has_driver & recent).sum() >= 1
    assert (risk.loc[has_driver & recent, "action"] == "Welcome back call").all()
    assert not (risk.loc[~recent, "action"] == "Welcome back call").any()
    assert not any("days_since_last_subscription_start_or_end" in n for n in result.summary["action_notes"])


@pytest.mark.parametrize("kwargs", [{"risk_direction": 1}, {"risk_direction": -1, "monotone": True}])
def test_a_condition_only_feature_cannot_be_a_driver(kwargs):
    from features.registry import Feature

    with pytest.raises(ValueError, match="condition-only"):
        Feature("x", "f", "days", "x {value}", model_input=False, **kwargs)
