"""Risk list, drivers, reasons, drift and the behaviour of explanations on planted causes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.explain import family_effects, to_probability_points
from pipeline.build import build_features
from pipeline.errors import ModelError
from pipeline.score import risk_bands, score

COLUMNS = ["customer_id", "as_of", "churn_probability", "risk_band", "loyalty_score", "loyalty_tier", "expected_value",
           "value_if_retained", "value_at_risk", "lifetime_value", "model_version"] + [
    f"driver_{k}_{part}" for k in (1, 2, 3) for part in ("feature", "family", "value", "effect", "reason")] + [
    "action", "action_effect", "priority", "contact_group"]


def test_risk_list_schema_and_order(scored):
    risk = scored["score"].risk_list
    assert list(risk.columns) == COLUMNS
    assert len(risk) == len(scored["features"]) and risk["customer_id"].is_unique
    assert risk["priority"].is_monotonic_decreasing  # the call list's order
    for col in ("churn_probability", "loyalty_score", "expected_value", "value_if_retained", "value_at_risk",
                "lifetime_value", "priority", "action_effect", "driver_1_value", "driver_1_effect"):
        assert pd.api.types.is_float_dtype(risk[col]), col
    assert risk["churn_probability"].between(0, 1).all() and risk["loyalty_score"].between(0, 100).all()
    p, retained = risk["churn_probability"], risk["value_if_retained"]
    assert (retained >= 0).all()
    np.testing.assert_allclose(risk["value_at_risk"], p * retained)  # churn counted once
    np.testing.assert_allclose(risk["expected_value"], (1 - p) * retained)
    np.testing.assert_allclose(risk["priority"], p * retained * risk["action_effect"])
    assert set(risk["contact_group"]) <= {"treatment", "holdout", "not_selected"}
    assert set(risk["risk_band"]) <= set(scored["params"].scoring.risk_bands)


def test_drivers_are_the_largest_positive_family_contributions(scored):
    result = scored["score"]
    contrib = result.contributions.set_index("customer_id")
    names = scored["spec"].names
    risk = result.risk_list.set_index("customer_id")
    p = risk.loc[contrib.index, "churn_probability"].to_numpy()
    p0 = np.full(len(p), result.summary["base_probability"])
    effects = to_probability_points(contrib[[f"churn_{c}" for c in names]].to_numpy(), p, p0)
    np.testing.assert_allclose(effects.sum(axis=1), p - p0, atol=1e-9)  # effects add up to p - base
    fam, families = family_effects(effects, scored["spec"])
    for i, cid in enumerate(contrib.index[:300]):
        order = np.argsort(-fam[i], kind="stable")
        expected = [families[j] for j in order[:3] if fam[i, j] > 0]
        got = [risk.loc[cid, f"driver_{k}_family"] for k in (1, 2, 3)]
        got = [g for g in got if isinstance(g, str)]
        assert got == expected[: len(got)]
        for k, family in enumerate(got, start=1):
            assert risk.loc[cid, f"driver_{k}_effect"] == pytest.approx(fam[i, families.index(family)])
            assert risk.loc[cid, f"driver_{k}_effect"] > 0  # drivers only name what raises risk
            assert scored["spec"][risk.loc[cid, f"driver_{k}_feature"]].family == family



def test_reasons_are_sentences_with_the_customers_numbers(scored):
    risk = scored["score"].risk_list
    spec = scored["spec"]
    for k in (1, 2, 3):
        named = risk[risk[f"driver_{k}_feature"].notna()]
        for _, row in named.head(400).iterrows():
            reason, feat = row[f"driver_{k}_reason"], spec[row[f"driver_{k}_feature"]]
            assert isinstance(reason, str) and reason and "{" not in reason and "nan" not in reason.lower()
            if feat.kind == "numeric" and pd.notna(row[f"driver_{k}_value"]):
                assert any(ch.isdigit() for ch in reason), reason


def test_actions_follow_the_leading_driver_family(scored):
    risk, cfg = scored["score"].risk_list, scored["params"].scoring
    for _, row in risk.head(200).iterrows():
        fam = row["driver_1_family"]
        assert row["action"] == (cfg.actions.get(fam, cfg.default_action) if isinstance(fam, str) else cfg.default_action)


def test_model_feature_mismatch_is_refused(scored):
    bundle = scored["result"].bundle
    features = scored["features"]
    with pytest.raises(ModelError, match="missing features \\['days_since_last_purchase'\\]"):
        score(features.drop(columns="days_since_last_purchase"), bundle, scored["as_of"], scored["params"].scoring, "v")
    with pytest.raises(ModelError, match="unexpected features \\['surprise'\\]"):
        score(features.assign(surprise=1.0), bundle, scored["as_of"], scored["params"].scoring, "v")


def test_no_drift_is_flagged_on_the_population_the_model_was_trained_on(scored):
    # the counterpart of the test below: a snapshot from the same process raises no alarm (the sample
    # data once stopped signups months before its end, and every demo flagged days_since_signup)
    drift = scored["score"].drift
    assert not drift["flagged"].any(), drift[drift["flagged"]]
    assert scored["score"].summary["drifted_features"] == []


def test_drift_is_flagged_on_a_shifted_snapshot(scored):
    bundle, cfg = scored["result"].bundle, scored["params"].scoring
    features = scored["features"]
    shifted = features.assign(days_since_last_purchase=features["days_since_last_purchase"] * 4 + 30)
    drift = score(shifted, bundle, scored["as_of"], cfg, "v").drift.set_index("feature")
    assert drift.loc["days_since_last_purchase", "flagged"]
    assert drift.loc["days_since_last_purchase", "psi"] > cfg.drift_psi_threshold
    assert "days_since_last_purchase" in [d["feature"] for d in score(shifted, bundle, scored["as_of"], cfg,
                                                                       "v").summary["drifted_features"]]


def test_top_share_bands():
    from pipeline.config import load_params

    cfg = load_params(None, ["scoring.risk_bands_by=top_share",
                             "scoring.risk_bands={high: 0.1, medium: 0.3, low: 1.0}"]).scoring
    p = np.linspace(0, 1, 100)
    bands = risk_bands(p, cfg)
    assert (bands == "high").sum() == 10 and (bands == "medium").sum() == 20 and (bands == "low").sum() == 70
    assert set(bands[p >= 0.9]) == {"high"}


# planted cause -> the family that should explain it, and what shows it in the data at the scoring date
PLANTED = {
    "complaints": ("service", lambda f: f["complaints_last_90d"] > 0),
    "detractor": ("satisfaction", lambda f: f["is_nps_detractor"].fillna(0) > 0),
    "late_payments": ("payments", lambda f: f["late_invoice_share_last_90d"].fillna(0) > 0),
    "fading_visits": ("engagement", lambda f: f["days_since_last_visit"].fillna(0) > 30),
}


def test_planted_causes_show_up_among_the_drivers(trained):
    """Customers in the warning period of a planted churn cause that already shows in their data get that
    cause's family among their top three drivers, far more often than customers with no cause do."""
    truth = trained["truth"].customers
    params, bundle, ds = trained["params"], trained["result"].bundle, trained["ds"]
    hits = {cause: [] for cause in PLANTED}
    quiet_named = {cause: [] for cause in PLANTED}
    for as_of in pd.to_datetime(["2025-06-30", "2025-08-31", "2025-10-31", "2025-12-31"]):
        feats = build_features(ds, params, as_of.date())
        risk = score(feats, bundle, as_of.date(), params.scoring, "v").risk_list.merge(truth, on="customer_id")
        families = risk[["driver_1_family", "driver_2_family", "driver_3_family"]].astype(str)
        warning = (risk["warning_start"] <= as_of) & (risk["churn_at"] > as_of)
        shown = feats.set_index("customer_id").loc[risk["customer_id"]].reset_index(drop=True)
        quiet = risk["cause"] == "none"
        for cause, (family, visible) in PLANTED.items():
            rows = warning & (risk["cause"] == cause) & visible(shown)
            hits[cause].extend((families[rows] == family).any(axis=1).tolist())
            quiet_named[cause].extend((families[quiet] == family).any(axis=1).tolist())
    rates = {cause: (len(h), np.mean(h), np.mean(quiet_named[cause])) for cause, h in hits.items()}
    assert all(n >= 10 for n, _, _ in rates.values()), rates
    assert np.mean(sum(hits.values(), [])) >= 0.7, rates
    for cause, (_, hit, quiet) in rates.items():
        assert hit >= 0.5 and hit > 2 * quiet, (cause, rates)  # named for its cause, not simply for everyone
