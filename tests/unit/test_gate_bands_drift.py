"""The registry gate compares only on rows neither model has seen; risk bands mean something at a 3% base
rate; features that age by construction are not drift."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features.registry import Feature, FeatureSpec
from models.bands import band_thresholds, risk_bands
from models.bundle import feature_reference
from pipeline.core.config import RegistryConfig, load_params
from pipeline.scoring.score import drift_counts, population_stability
from pipeline.training.gate import compare

LABEL = {"kind": "inactivity", "horizon_days": 60, "lookback_days": 365, "min_purchases_in_lookback": 1}


def _meta(as_of: str, refit: bool = False, label: dict = LABEL) -> dict:
    """Metadata of a model trained as of ``as_of`` with a 60-day horizon (cutoffs 30 days apart)."""
    as_of_ts = pd.Timestamp(as_of)
    validation = as_of_ts - pd.Timedelta(days=label["horizon_days"])
    train = [validation - pd.Timedelta(days=label["horizon_days"] + 30 * k) for k in range(3)]
    end = (validation if refit else max(train)) + pd.Timedelta(days=label["horizon_days"])
    return {"validation_cutoff": str(validation.date()), "train_cutoffs": sorted(str(c.date()) for c in train),
            "label": label, "problem": {"label": label}, "labels_end": str(end.date())}


def _validation(cutoffs: list[str], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400 * len(cutoffs)
    churned = rng.random(n) < 0.3
    return pd.DataFrame({"cutoff": pd.to_datetime(np.repeat(cutoffs, 400)), "churned": churned.astype(int),
                         "model": np.clip(churned * 0.2 + rng.random(n) * 0.8, 0, 1)})


def test_a_champion_trained_on_later_labels_is_never_compared_on_rows_it_has_seen():
    # the reported case: a new model as of 2020-07-31 against a champion as of 2020-08-31 (60-day horizon)
    new, champion = _meta("2020-07-31"), _meta("2020-08-31")
    validation = _validation([new["validation_cutoff"]])
    perfect = validation["churned"].to_numpy(float)  # a champion that remembers the answers
    for rule, decision in (("newer", "challenger"), ("keep_champion", "challenger")):
        out = compare(validation, 0.70, perfect, new, champion, "1", RegistryConfig(when_not_comparable=rule))
        assert out.decision == decision and out.champion_score is None and out.rows_compared == 0
        assert "not compared, no validation row is unseen by both" in out.reason
        assert f"registry.when_not_comparable={rule}" in out.reason
    # the other way round: the newer model is the new one, and the older champion never saw its rows
    newer, older = _meta("2020-08-31"), _meta("2020-07-31")
    rows = _validation([newer["validation_cutoff"]])
    out = compare(rows, 0.9, rows["model"].to_numpy() * 0.5, newer, older, "1", RegistryConfig())
    assert out.rows_compared == len(rows) and "on 400 validation rows neither has trained on" in out.reason


def test_a_refitted_champion_has_seen_its_validation_period_and_is_not_compared_there():
    champion = _meta("2020-07-31", refit=True)  # labels up to 2020-07-31
    new = _meta("2020-09-15", refit=True)  # validation cutoff 2020-07-17: seen by the refitted champion
    validation = _validation([new["validation_cutoff"]])
    out = compare(validation, 0.7, validation["model"].to_numpy(), new, champion, "3", RegistryConfig())
    assert out.rows_compared == 0 and out.decision == "champion"  # newer: its labels end 2020-09-15
    assert "this version's training labels end later (2020-09-15 vs 2020-07-31)" in out.reason
    kept = compare(validation, 0.7, validation["model"].to_numpy(), new, champion, "3",
                   RegistryConfig(when_not_comparable="keep_champion"))
    assert kept.decision == "challenger" and "champion v3 stays" in kept.reason


def test_only_the_unseen_rows_are_scored_when_some_are_seen():
    champion = _meta("2020-08-31")  # labels end 2020-07-02
    new = _meta("2020-10-31")
    validation = _validation(["2020-06-01", "2020-09-01"], seed=1)
    seen = validation["cutoff"] < "2020-07-02"
    champion_scores = np.where(seen, validation["churned"], 0.5)  # perfect where it has seen, useless elsewhere
    out = compare(validation, 0.5, champion_scores, new, champion, "1", RegistryConfig())
    assert out.rows_compared == int((~seen).sum()) == 400
    assert out.champion_score == pytest.approx(0.5) and out.decision == "champion"


def test_a_champion_of_another_problem_is_not_compared():
    champion = _meta("2020-06-30", label={**LABEL, "horizon_days": 90})
    new = _meta("2020-10-31")
    validation = _validation([new["validation_cutoff"]])
    out = compare(validation, 0.6, validation["model"].to_numpy(), new, champion, "2", RegistryConfig())
    assert out.rows_compared == 0 and "the champion models another problem (label horizon_days 90 vs 60)" in out.reason
    assert out.decision == "challenger" and "registry.model_name" in out.reason
    for rule in ("keep_champion", "newer"):  # whatever decides between versions of one problem
        cfg = dataclasses.replace(RegistryConfig(), when_not_comparable=rule)
        assert compare(validation, 0.6, validation["model"].to_numpy(), new, champion, "2", cfg).decision == "challenger"


def _calibrated_scores(base_rate: float, n: int = 20_000, spread: float = 1.6, seed: int = 7) -> np.ndarray:
    """Probabilities of a calibrated model of moderate skill (ROC-AUC about 0.8) at a base rate: logit-normal,
    shifted until their mean is the base rate."""
    z = np.random.default_rng(seed).normal(0, spread, n)
    lo, hi = -12.0, 12.0
    for _ in range(60):  # bisection on the shift
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if (1 / (1 + np.exp(-(z + mid)))).mean() < base_rate else (lo, mid)
    return 1 / (1 + np.exp(-(z + lo)))


@pytest.mark.parametrize("base_rate", [0.02, 0.10, 0.40, 0.65])
@pytest.mark.parametrize("spread", [1.0, 1.6, 2.5])
def test_default_bands_split_at_any_base_rate(base_rate, spread):
    """The demo's 38.5% base rate gave high 990, medium 10 (0.3%), low 2,366 under multiples of the rate, and
    "low" customers above the average risk. By odds, every band holds customers, no "low" customer is above the
    base rate and no "high" one below it, and "medium" is around the average (the base rate inside it)."""
    cfg = load_params(None).scoring
    assert cfg.risk_bands_by == "base_rate_odds"
    p = _calibrated_scores(base_rate, spread=spread)
    bands = risk_bands(p, cfg, base_rate=base_rate)
    shares = pd.Series(bands).value_counts(normalize=True)
    assert shares.get("medium", 0) >= 0.05 and shares.get("high", 0) >= 0.05 and shares.get("low", 0) >= 0.05
    assert p[bands == "low"].max() < base_rate <= p[bands == "high"].min()
    assert p[bands == "medium"].min() < base_rate <= p[bands == "medium"].max()


def test_odds_thresholds_by_hand():
    cfg = load_params(None).scoring
    assert band_thresholds(cfg, 0.40) == pytest.approx({"high": 2 / 3, "medium": 0.222 / 1.222, "low": 0.0})
    assert band_thresholds(cfg, 0.02)["high"] == pytest.approx(0.06 / 1.04)  # odds 3 x 2/98 = 6/98
    assert all(0 <= v < 1 for r in (0.001, 0.5, 0.99) for v in band_thresholds(cfg, r).values())


def test_base_rate_multiples_remain_available():
    cfg = load_params(None, ["scoring.risk_bands_by=base_rate_multiple",
                             "scoring.risk_bands={high: 3.0, medium: 1.5, low: 0}"]).scoring
    assert band_thresholds(cfg, 0.03) == pytest.approx({"high": 0.09, "medium": 0.045, "low": 0.0})
    thresholds = band_thresholds(cfg, 0.5)
    assert thresholds["high"] == pytest.approx(1 - 0.5 / 3) and thresholds["medium"] == pytest.approx(1 - 0.5 / 1.5)
    # fixed probabilities put nearly everyone in low at a 3% base rate
    p = np.random.default_rng(7).beta(0.6, 19.4, 3461)
    old = load_params(None, ["scoring.risk_bands_by=probability", "scoring.risk_bands={high: 0.6, medium: 0.3, low: 0}"])
    assert (risk_bands(p, old.scoring) == "low").mean() > 0.99


def test_probability_and_top_share_bands_still_work():
    p = np.linspace(0, 1, 100)
    by_p = load_params(None, ["scoring.risk_bands_by=probability", "scoring.risk_bands={high: 0.6, medium: 0.3, low: 0}"])
    assert (risk_bands(p, by_p.scoring) == "high").sum() == 40
    share = load_params(None, ["scoring.risk_bands_by=top_share", "scoring.risk_bands={high: 0.1, medium: 0.3, low: 1.0}"])
    assert (risk_bands(p, share.scoring) == "high").sum() == 10


def test_a_probability_threshold_above_one_is_a_config_error():
    from pipeline.core.errors import ConfigError

    with pytest.raises(ConfigError, match="by probability, each band's lowest churn probability is from 0 to 1"):
        load_params(None, ["scoring.risk_bands_by=probability"])  # the multiples 3 and 1.5 are not probabilities


def test_ageing_features_are_not_flagged_as_drift():
    spec = FeatureSpec((Feature("days_since_first_purchase", "tenure", "days", "First purchase {value:.0f} days ago",
                                -1, ages=True),
                        Feature("days_since_last_purchase", "recency", "days", "No purchase for {value:.0f} days", 1)))
    rng = np.random.default_rng(0)
    young = pd.DataFrame({"days_since_first_purchase": rng.uniform(0, 120, 2000),
                          "days_since_last_purchase": rng.exponential(20, 2000)})
    reference = feature_reference(young, spec)
    bundle = SimpleNamespace(spec=spec, drift_reference=reference, drift_reference_for=lambda as_of: (reference, None))
    older = young.assign(days_since_first_purchase=young["days_since_first_purchase"] + 90)  # three months on
    drift = population_stability(drift_counts(older, bundle), len(older), bundle, 0.2).set_index("feature")
    assert drift.loc["days_since_first_purchase", "psi"] > 2  # it moved a lot...
    assert drift.loc["days_since_first_purchase", "ages"] and not drift.loc["days_since_first_purchase", "flagged"]
    shifted = older.assign(days_since_last_purchase=older["days_since_last_purchase"] * 4 + 30)
    moved = population_stability(drift_counts(shifted, bundle), len(shifted), bundle, 0.2).set_index("feature")
    assert moved.loc["days_since_last_purchase", "flagged"]


def test_features_that_grow_with_time_are_marked_in_their_metadata():
    from datetime import date

    from features.registry import FAMILIES, Context
    from pipeline.core.config import TABLES

    ctx = Context(as_of=date(2025, 1, 1), tables=frozenset(TABLES))
    ageing = {f.name for fam in FAMILIES.values() for f in fam.features(ctx) if f.ages}
    assert {"days_since_first_purchase", "days_since_signup", "subscription_age_days", "orders_lifetime",
            "spend_lifetime"} <= ageing
    assert "days_since_last_purchase" not in ageing and "orders_last_90d" not in ageing


def test_the_shap_summary_of_a_categorical_feature_warns_nothing():
    """shap colours dots by percentiles of the feature: categories coerced to numbers were all missing, and numpy
    said "All-NaN slice encountered" on every train and score."""
    import warnings

    from pipeline.outputs.report.plots import beeswarm_plot

    X = pd.DataFrame({"spend_last_90d": np.arange(100.0), "profile_region": ["north", "south", None, "east"] * 25})
    contributions = np.random.default_rng(0).normal(size=(100, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        png = beeswarm_plot(contributions, X, "SHAP summary")
    assert png.startswith(b"\x89PNG")


def test_rows_outside_the_champions_own_population_are_not_compared():
    """The champion is scored on its own feature table; a validation row its population lacks has no score (NaN) and
    is left out of both figures."""
    from models.metrics import ranking_metrics

    newer, older = _meta("2020-08-31"), _meta("2020-07-31")
    rows = _validation([newer["validation_cutoff"]])
    scores = rows["model"].to_numpy() * 0.5
    scores[:100] = np.nan
    out = compare(rows, 0.9, scores, newer, older, "1", RegistryConfig())
    assert out.rows_compared == 300 and "on 300 validation rows neither has trained on" in out.reason
    y = rows["churned"].to_numpy()[100:]
    assert out.champion_score == pytest.approx(ranking_metrics(y, scores[100:])["roc_auc"])
    assert out.new_score == pytest.approx(ranking_metrics(y, rows["model"].to_numpy()[100:])["roc_auc"])
