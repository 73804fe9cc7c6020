"""One set of LightGBM booster settings: the config sections and the estimators start from the same numbers."""

from __future__ import annotations

import dataclasses

import pytest
from sklearn.base import clone

from models.lgbm import LGBMChurnClassifier, LGBMValueRegressor, booster_params
from pipeline.core.booster import BoosterSettings
from pipeline.core.config import ChurnModelConfig, LoyaltyConfig, load_params
from pipeline.training.train import churn_estimator, value_estimator

BOOSTER = [f.name for f in dataclasses.fields(BoosterSettings)]


def _booster_part(estimator) -> dict:
    params = estimator.get_params()
    return {name: params[name] for name in booster_params(BoosterSettings())}


@pytest.mark.parametrize("estimator", [LGBMChurnClassifier, LGBMValueRegressor])
def test_estimator_defaults_are_the_booster_settings(estimator):
    assert _booster_part(estimator()) == booster_params(BoosterSettings())


def test_config_sections_differ_from_the_booster_settings_only_where_they_say_so():
    base = BoosterSettings()
    for section, differ in [(ChurnModelConfig(), {"feature_fraction", "bagging_fraction", "bagging_freq", "lambda_l2"}),
                            (LoyaltyConfig(), set())]:
        assert isinstance(section, BoosterSettings)
        assert {n for n in BOOSTER if getattr(section, n) != getattr(base, n)} == differ


def test_from_settings_takes_every_setting_and_overrides_win():
    settings = BoosterSettings(learning_rate=0.03, num_leaves=7, max_depth=4, min_child_samples=11,
                               feature_fraction=0.6, bagging_fraction=0.5, bagging_freq=2, lambda_l2=3.0,
                               max_rounds=77, early_stopping_rounds=9)
    est = LGBMChurnClassifier.from_settings(settings, learning_rate=0.2, random_state=5)
    assert _booster_part(est) == {**booster_params(settings), "learning_rate": 0.2}
    assert est.n_estimators == 77 and est.random_state == 5
    assert clone(est).get_params() == est.get_params()


def test_training_builds_the_estimators_from_the_config_sections():
    params = load_params(None, ["seed=7", "model.num_leaves=9", "loyalty.lambda_l2=2.5"])
    churn = churn_estimator(params)
    assert _booster_part(churn) == booster_params(params.model) and churn.random_state == 7
    assert churn.num_leaves == 9
    value = value_estimator(params, n_estimators=12)
    assert _booster_part(value) == {**booster_params(params.loyalty), "n_estimators": 12}
    assert value.lambda_l2 == 2.5 and value.objective == params.loyalty.objective and value.random_state == 7
