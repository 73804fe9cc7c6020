"""The LightGBM booster settings: one frozen class and one set of defaults.

The config's ``model:`` and ``loyalty:`` sections are these settings (``pipeline.core.config``), and the
estimators in ``models.lgbm`` take their parameter defaults from them, so a value written in params.yaml,
a section built in code and an estimator built by hand start from the same numbers. It lives in core, the
lowest layer, so that both the config and the models can import it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BoosterSettings:
    """LightGBM hyperparameters of one model (the churn classifier or the value regressor)."""

    learning_rate: float = 0.1
    num_leaves: int = 15
    max_depth: int = 6  # shallow trees keep TreeSHAP fast: its cost grows with depth (LightGBM's own: squared)
    min_child_samples: int = 50  # LightGBM's min_data_in_leaf
    feature_fraction: float = 1.0  # share of the columns each tree sees; 1 = all
    bagging_fraction: float = 1.0  # share of the rows each bagging round draws
    bagging_freq: int = 0  # draw rows every this many rounds; 0 = no bagging (bagging_fraction unused)
    lambda_l2: float = 0.0
    max_rounds: int = 500  # boosting rounds at most (the estimators' n_estimators)
    early_stopping_rounds: int = 50  # 0 = none; stops on the validation set when one is given
