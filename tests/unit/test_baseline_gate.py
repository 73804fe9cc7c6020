"""The baseline gate's pieces: the paired bootstrap of the ROC-AUC margin over the best baseline, and the rule
that a model no better than a simple baseline is not promoted."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from models.metrics import _weighted_aucs, auc_margin_bootstrap
from pipeline.core.config import RegistryConfig, load_params
from pipeline.core.errors import ConfigError
from pipeline.training.gate import behind_baselines


def _scores(n: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    signal = rng.normal(size=n) + 1.2 * y
    model = signal + rng.normal(scale=0.5, size=n)
    weak = np.round(signal + rng.normal(scale=1.5, size=n))  # rounded: many ties
    return y, model, {"weak": weak, "noise": rng.normal(size=n)}


def test_weighted_auc_is_the_auc_of_the_resample_ties_included():
    y, model, baselines = _scores(800, 1)
    counts = np.random.default_rng(2).multinomial(len(y), np.full(len(y), 1 / len(y)), size=4).astype(float)
    for score in (model, baselines["weak"]):
        aucs = _weighted_aucs(y.astype(float), score, counts)
        for draw, auc in zip(counts, aucs, strict=True):
            rows = np.repeat(np.arange(len(y)), draw.astype(int))
            assert auc == pytest.approx(roc_auc_score(y[rows], score[rows]), abs=1e-12)


def test_margin_is_against_the_best_baseline_and_its_interval_holds_it():
    y, model, baselines = _scores()
    out = auc_margin_bootstrap(y, model, baselines, draws=300, seed=3)
    expected = roc_auc_score(y, model) - roc_auc_score(y, baselines["weak"])
    assert out["best_baseline"] == "weak" and out["margin"] == pytest.approx(expected)
    assert out["low"] < out["margin"] < out["high"] and out["low"] > 0  # the model is clearly ahead
    assert out["high"] - out["low"] < 0.1 and out["level"] == 0.9 and out["draws"] == 300
    assert auc_margin_bootstrap(y, model, baselines, draws=300, seed=3) == out  # seeded


def test_a_model_that_is_the_baseline_has_an_interval_around_zero():
    y, _, baselines = _scores()
    out = auc_margin_bootstrap(y, baselines["weak"], baselines, draws=200, seed=0)
    assert out["margin"] == 0 and out["low"] <= 0 <= out["high"]


def test_no_baseline_or_one_class_measures_nothing():
    y, model, baselines = _scores(200)
    assert np.isnan(auc_margin_bootstrap(y, model, {})["margin"])
    assert auc_margin_bootstrap(np.zeros(200), model, baselines)["best_baseline"] is None


def test_a_model_not_ahead_of_the_best_baseline_is_held_back():
    cfg = RegistryConfig()
    margin = {"margin": -0.0059, "best_baseline": "btyd", "low": -0.011, "high": -0.001, "level": 0.9}
    reason = behind_baselines(margin, cfg)
    assert "-0.0059" in reason and "btyd" in reason and "-0.0110 to -0.0010" in reason
    assert behind_baselines({**margin, "margin": 0.0}, cfg) is not None  # level is not ahead
    assert behind_baselines({**margin, "margin": 0.003}, cfg) is None
    assert behind_baselines({**margin, "margin": 0.003}, RegistryConfig(min_margin_over_baselines=0.005))
    assert behind_baselines({"margin": float("nan"), "best_baseline": None}, cfg) is None


def test_the_margin_setting_is_checked():
    with pytest.raises(ConfigError, match="min_margin_over_baselines"):
        load_params(None, ["registry.min_margin_over_baselines=2"])
