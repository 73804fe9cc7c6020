"""LightGBM wrapped as scikit-learn estimators: churn classifier and future-value regressor.

Deterministic (LightGBM ``deterministic`` with row-wise histograms, a fixed thread count and seed),
categorical columns learned at fit time, feature names and order checked at predict time. The fitted
booster is kept in LightGBM's own text format (``booster_.model_to_string()``), so saving a model never
needs pickle.

The booster parameters' defaults are those of ``pipeline.core.booster.BoosterSettings`` (the config's
``model:`` and ``loyalty:`` sections are such settings); ``from_settings`` builds an estimator from one.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
from typing import Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    _check_sample_weight,
    _check_y,
    check_is_fitted,
    validate_data,
)

from models.treeshap import TreeTables, parse_trees
from pipeline.core.booster import BoosterSettings
from pipeline.core.errors import ModelError

_DEFAULTS = BoosterSettings()
# BoosterSettings' names that the estimators call otherwise (scikit-learn's name for the rounds)
_ESTIMATOR_NAMES = {"max_rounds": "n_estimators"}


_THREAD_CAP: contextvars.ContextVar[int | None] = contextvars.ContextVar("prediction_thread_cap", default=None)


def prediction_threads() -> int:
    """Threads for predicting and explaining: every core this process may run on, or fewer inside
    :func:`prediction_thread_cap`. Each row is predicted and explained on its own, so the result does not depend on
    the count (training keeps ``n_jobs``: its histograms are summed per thread, and a model must not change with the
    machine it is trained on)."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        cores = max(1, os.cpu_count() or 1)
    cap = _THREAD_CAP.get()
    return min(cores, cap) if cap else cores


@contextlib.contextmanager
def prediction_thread_cap(threads: int):
    """Predict and explain on at most ``threads`` threads inside the block: an engine that already runs a task per
    core (Spark) gives each task one, rather than every task all the cores (cores x cores threads fighting)."""
    token = _THREAD_CAP.set(max(1, int(threads)))
    try:
        yield
    finally:
        _THREAD_CAP.reset(token)


def booster_params(settings: BoosterSettings) -> dict:
    """The estimator parameters ``settings`` give (any BoosterSettings, a config section included)."""
    return {_ESTIMATOR_NAMES.get(f.name, f.name): getattr(settings, f.name)
            for f in dataclasses.fields(BoosterSettings)}


def check_feature_frame(X: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Columns ``names`` of ``X`` in that order; a missing or extra feature is a clear error."""
    missing = [c for c in names if c not in X.columns]
    extra = [c for c in X.columns if c not in names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing features {missing}")
        if extra:
            parts.append(f"unexpected features {extra}")
        raise ModelError(
            f"feature table does not match the model: {'; '.join(parts)}. Build features with the same "
            "params and tables the model was trained with, or retrain."
        )
    return X[names]


@dataclasses.dataclass(frozen=True, eq=False)
class EncodedRows:
    """Rows of a feature table as a booster reads them (``_LGBMBase.encode_rows``), with the features and categories
    they were encoded for: a model whose own differ refuses them."""

    data: np.ndarray
    feature_names: tuple
    categories: tuple

    def __len__(self) -> int:
        return len(self.data)


class _LGBMBase(BaseEstimator):
    """Shared fit/predict plumbing; subclasses set the objective."""

    def __init__(
        self,
        learning_rate: float = _DEFAULTS.learning_rate,
        num_leaves: int = _DEFAULTS.num_leaves,
        max_depth: int = _DEFAULTS.max_depth,
        min_child_samples: int = _DEFAULTS.min_child_samples,
        feature_fraction: float = _DEFAULTS.feature_fraction,
        bagging_fraction: float = _DEFAULTS.bagging_fraction,
        bagging_freq: int = _DEFAULTS.bagging_freq,
        lambda_l2: float = _DEFAULTS.lambda_l2,
        n_estimators: int = _DEFAULTS.max_rounds,
        early_stopping_rounds: int = _DEFAULTS.early_stopping_rounds,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.bagging_freq = bagging_freq
        self.lambda_l2 = lambda_l2
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.n_jobs = n_jobs

    @classmethod
    def from_settings(cls, settings: BoosterSettings, **params) -> Self:
        """The estimator with the booster parameters of ``settings``; ``params`` (estimator parameter names:
        ``n_estimators``, ``random_state``, a tuned ``learning_rate``...) are set too and win over them."""
        return cls(**{**booster_params(settings), **params})

    def _objective_params(self) -> dict:
        raise NotImplementedError

    def _lgb_params(self) -> dict:
        return {
            **self._objective_params(),
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "seed": self.random_state,
            "num_threads": self.n_jobs,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # -- input handling -------------------------------------------------------------------------
    @staticmethod
    def _is_named_frame(X) -> bool:
        return isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns)

    def _prepare_fit(self, X, y, y_numeric: bool) -> tuple[np.ndarray, np.ndarray]:
        """Validate X and y the scikit-learn way, learn the text columns' categories, and encode X (``_encode``); a
        named frame (with text columns) is read as a frame, never made one array of objects first."""
        if self._is_named_frame(X):
            if self._plain_frame(X, y):  # scikit-learn's checks without turning the whole frame into one array
                _check_feature_names(self, X, reset=True)
                _check_n_features(self, X, reset=True)
                _check_y(y, y_numeric=y_numeric, estimator=self)
            else:  # anything unusual: the full check, with scikit-learn's own messages
                validate_data(self, X, y, reset=True, ensure_all_finite="allow-nan", dtype=None, y_numeric=y_numeric)
            frame = X  # not changed: _encode builds an array of its own
            y = np.asarray(y)
        else:
            arr, y = validate_data(self, X, y, reset=True, ensure_all_finite="allow-nan", dtype=np.float64,
                                   y_numeric=y_numeric)
            frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
        self.feature_names_ = [str(c) for c in frame.columns]
        self.categories_ = {}
        for col in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[col]) or isinstance(frame[col].dtype, pd.CategoricalDtype):
                cats = sorted(str(v) for v in pd.unique(frame[col].dropna()))
                self.categories_[str(col)] = cats
        return self._encode(frame), y

    @staticmethod
    def _plain_frame(X: pd.DataFrame, y) -> bool:
        """True when ``validate_data`` would pass ``X`` (rows and columns, no infinity in a number column) and ``y`` is
        as long: then the frame is not converted to one array (of objects, with text columns) only to be checked."""
        if X.shape[0] < 1 or X.shape[1] < 1 or np.ndim(y) != 1 or len(y) != X.shape[0]:
            return False
        numbers = X.select_dtypes("number")  # column by column: never the whole table as one array, only to check it
        return not any(np.isinf(numbers[c].to_numpy(dtype=float, na_value=np.nan)).any() for c in numbers.columns)

    def _prepare_predict(self, X) -> np.ndarray:
        check_is_fitted(self, "booster_")
        if isinstance(X, EncodedRows):
            if not self.reads(X) or X.data.shape[1] != len(self.feature_names_):
                raise ModelError("rows encoded for another model's features or categories: encode them with this "
                                 "model (encode_rows)")
            return X.data
        return self._encoded(X)

    def encode_rows(self, X) -> EncodedRows:
        """``X`` as the booster reads it, once: every prediction and explanation of this model (and of any model with
        the same features and categories) takes the result in place of ``X``. Scoring predicts, explains and values
        the same rows with two models; encoding them once saves two of three copies of the feature table."""
        check_is_fitted(self, "booster_")
        data = self._encoded(X)
        data.flags.writeable = False  # shared by every model that reads them
        return EncodedRows(data, tuple(self.feature_names_), self._category_key())

    def reads(self, rows: EncodedRows) -> bool:
        """Whether ``rows`` were encoded for this model's features and categories."""
        check_is_fitted(self, "booster_")
        return rows.feature_names == tuple(self.feature_names_) and rows.categories == self._category_key()

    def _category_key(self) -> tuple:
        return tuple((name, tuple(cats)) for name, cats in sorted(self.categories_.items()))

    def _encoded(self, X) -> np.ndarray:
        """X (frame or array) encoded as the booster was trained on (``_encode``), its columns checked by name."""
        if self._is_named_frame(X) and hasattr(self, "feature_names_in_"):
            return self._encode(check_feature_frame(X, self.feature_names_))
        arr = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64, reset=False)
        return self._encode(pd.DataFrame(arr, columns=self.feature_names_))

    def _encode(self, frame: pd.DataFrame) -> np.ndarray:
        """``frame`` as the booster reads it: one float array, column-major as pandas holds a frame's columns (the
        layout LightGBM was handed a frame in before, so the same bins and trees). Numbers as floats; a text column
        learned at fit time as the position of its value among the categories seen then (pandas' category codes,
        which LightGBM computed from a categorical frame itself), missing (NaN) where the value is missing or was
        not seen in training. Written column by column into the array, the table is copied once per fit or
        prediction, where an encoded frame and LightGBM's array of it copied it twice (and the fit's check for
        infinite values a third time): profiled, 21 s of a 346 s ``churn train`` of 100,000 customers."""
        out = np.empty(frame.shape, dtype=np.float64, order="F")
        for j, col in enumerate(frame.columns):
            cats = self.categories_.get(str(col))
            if cats is not None:
                text = frame[col].astype("string").astype(object).where(frame[col].notna(), None)
                codes = pd.Index(cats, dtype=object).get_indexer(text)  # -1: missing, or not seen in training
                out[:, j] = np.where(codes < 0, np.nan, codes)
            else:
                out[:, j] = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def _train(self, data: np.ndarray, y: np.ndarray, eval_set=None, sample_weight=None) -> None:
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, data, ensure_non_negative=True)
            if not np.any(sample_weight > 0):
                raise ValueError("Sample weights must contain at least one non-zero number.")
        columns = {"feature_name": self.feature_names_, "categorical_feature": list(self.categories_)}
        train = lgb.Dataset(data, label=np.asarray(y, dtype=float), weight=sample_weight, free_raw_data=True, **columns)
        valid_sets, callbacks = [], []
        if eval_set is not None and self.early_stopping_rounds:
            Xv, yv = eval_set
            valid_sets = [lgb.Dataset(self._encoded(Xv), label=np.asarray(yv, dtype=float), reference=train,
                                      **columns)]
            callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        self.booster_ = lgb.train(self._lgb_params(), train, num_boost_round=self.n_estimators,
                                  valid_sets=valid_sets, callbacks=callbacks)
        self.best_iteration_ = self.booster_.best_iteration or self.booster_.current_iteration()

    def _raw_predict(self, X, raw_score: bool = False) -> np.ndarray:
        data = self._prepare_predict(X)
        return self.booster_.predict(data, num_iteration=self.best_iteration_, raw_score=raw_score,
                                     validate_features=True, num_threads=prediction_threads())

    def contributions(self, X) -> np.ndarray:
        """TreeSHAP contributions in raw-score units (log-odds, or log of value); last column = expected value.

        Exact path-dependent TreeSHAP, the values of LightGBM's own ``pred_contrib`` (which ``shap.TreeExplainer``
        calls for a LightGBM booster), worked out from tables of each leaf's contributions
        (:mod:`models.treeshap`, about 5 times faster on 2 cores: ``benchmarks/bench_scoring.py --shap-only``) on every core
        (``prediction_threads``). A model the tables do not cover is explained by ``pred_contrib``. The last column,
        the expected value, is the same for every row.
        """
        data = self._prepare_predict(X)
        if not len(data):
            return np.zeros((0, len(self.feature_names_) + 1))
        tables = self.tree_tables()
        if tables is not None:
            return tables.contributions(data, threads=prediction_threads())
        return self.lightgbm_contributions(data)

    def lightgbm_contributions(self, data: np.ndarray) -> np.ndarray:
        """LightGBM's own TreeSHAP (``pred_contrib``) of the encoded rows ``data``: the reference the tables are held
        to, and what explains a model they do not cover."""
        return np.asarray(self.booster_.predict(data, num_iteration=self.best_iteration_, pred_contrib=True,
                                                validate_features=True, num_threads=prediction_threads()), dtype=float)

    def tree_tables(self) -> TreeTables | None:
        """The contribution tables of the trees used to predict, worked out once per fitted booster (and rounds); None
        where they do not cover the model, or do not give LightGBM's own values on rows probing every split
        (:meth:`TreeTables.probe_rows`): then ``pred_contrib`` explains it (``explanation_cost`` says which)."""
        check_is_fitted(self, "booster_")
        cached = getattr(self, "_tree_tables", None)
        if cached is None or cached[0] is not self.booster_ or cached[1] != self.best_iteration_:
            tables = TreeTables.of_booster(self.booster_.model_to_string(num_iteration=self.best_iteration_))
            if tables is not None:
                probe = tables.probe_rows()
                if not np.allclose(tables.contributions(probe), self.lightgbm_contributions(probe), rtol=1e-9,
                                   atol=1e-12):
                    tables = None
            cached = (self.booster_, self.best_iteration_, tables)
            self._tree_tables = cached
        return cached[2]

    def total_leaves(self) -> int:
        """Leaves of the trees used to predict (``best_iteration_`` rounds), all trees together: what tuning weighs as the
        model's size."""
        return int(self.leaves_per_tree(self.best_iteration_).sum())

    def leaves_per_tree(self, rounds: int | None = None) -> np.ndarray:
        """Leaves of each of the first ``rounds`` trees (every tree when None; none when 0), in boosting order."""
        check_is_fitted(self, "booster_")
        if rounds is not None and rounds <= 0:  # LightGBM reads num_iteration <= 0 as every tree
            return np.zeros(0, dtype=np.int64)
        trees, _ = parse_trees(self.booster_.model_to_string(num_iteration=rounds if rounds is not None else -1))
        return np.array([len(tree.leaf_value) for tree in trees], dtype=np.int64)

    def staged_raw_scores(self, X, rounds: list[int]):
        """Raw scores of ``X`` by the first k trees, for each k of the increasing ``rounds``: each step predicts only
        its own trees and adds them to the last, so all of them cost one prediction of every tree up to the last k."""
        check_is_fitted(self, "booster_")
        data = self._prepare_predict(X)
        raw, done = np.zeros(len(data)), 0
        for k in rounds:
            raw = raw + self.booster_.predict(data, start_iteration=done, num_iteration=k - done, raw_score=True)
            done = k
            yield raw

    def explanation_cost(self) -> dict:
        """What exact TreeSHAP of one customer costs with this model: LightGBM's walks every leaf of every tree used,
        once per depth level on the way (time grows with trees x leaves x depth^2); the tables (``models.treeshap``)
        look up each leaf's row once per feature on its path (trees x leaves x depth). Trees, their leaves, the
        deepest leaf and the sum of leaves x depth^2 over the trees (``leaf_depth_work``), which bounds the work of
        LightGBM's per customer."""
        check_is_fitted(self, "booster_")
        trees = self.booster_.dump_model(num_iteration=self.best_iteration_)["tree_info"]
        leaves, work, deepest = 0, 0, 0

        def depth(node: dict) -> int:
            return 0 if "leaf_value" in node else 1 + max(depth(node["left_child"]), depth(node["right_child"]))

        for tree in trees:
            d = depth(tree["tree_structure"])
            leaves += tree["num_leaves"]
            work += tree["num_leaves"] * d * d
            deepest = max(deepest, d)
        return {"trees": len(trees), "leaves": leaves, "max_depth": deepest, "leaf_depth_work": work,
                "explained_by": "tables" if self.tree_tables() is not None else "pred_contrib"}

    def feature_importance(self) -> pd.Series:
        check_is_fitted(self, "booster_")
        return pd.Series(self.booster_.feature_importance("gain"), index=self.feature_names_).sort_values(
            ascending=False)


class LGBMChurnClassifier(ClassifierMixin, _LGBMBase):
    """Binary churn classifier; ``predict_proba`` gives [P(stay), P(churn)].

    ``monotone_features``: ``(name, direction)`` pairs, +1 where the churn probability may only rise with the
    feature (every other input fixed), -1 where it may only fall: LightGBM's ``monotone_constraints``, by
    ``monotone_constraints_method`` (``basic``, ``intermediate`` or ``advanced``: the less strict the method, the
    more it gives up of the fit to keep the constraint). A name that is not a column is an error at fit time. The
    signature repeats the base parameters on purpose, as the value regressor's does.
    """

    def __init__(
        self,
        learning_rate: float = _DEFAULTS.learning_rate,
        num_leaves: int = _DEFAULTS.num_leaves,
        max_depth: int = _DEFAULTS.max_depth,
        min_child_samples: int = _DEFAULTS.min_child_samples,
        feature_fraction: float = _DEFAULTS.feature_fraction,
        bagging_fraction: float = _DEFAULTS.bagging_fraction,
        bagging_freq: int = _DEFAULTS.bagging_freq,
        lambda_l2: float = _DEFAULTS.lambda_l2,
        n_estimators: int = _DEFAULTS.max_rounds,
        early_stopping_rounds: int = _DEFAULTS.early_stopping_rounds,
        random_state: int = 0,
        n_jobs: int = 2,
        monotone_features: tuple[tuple[str, int], ...] = (),
        monotone_constraints_method: str = "advanced",
    ) -> None:
        super().__init__(learning_rate, num_leaves, max_depth, min_child_samples, feature_fraction, bagging_fraction,
                         bagging_freq, lambda_l2, n_estimators, early_stopping_rounds, random_state, n_jobs)
        self.monotone_features = monotone_features
        self.monotone_constraints_method = monotone_constraints_method

    def _objective_params(self) -> dict:
        return {"objective": "binary"}

    def _lgb_params(self) -> dict:
        params = super()._lgb_params()
        if self.monotone_features:
            directions = {str(name): int(direction) for name, direction in self.monotone_features}
            unknown = sorted(set(directions) - set(self.feature_names_))
            if unknown:
                raise ValueError(f"monotone_features names {unknown[0]!r}, which is not a column of X "
                                 f"({len(self.feature_names_)} columns); pass a frame with that column or drop the name")
            bad = sorted(n for n, d in directions.items() if d not in (-1, 1) or n in self.categories_)
            if bad:
                raise ValueError(f"monotone_features: {bad[0]!r} needs a direction of +1 or -1 and a numeric column")
            if self.monotone_constraints_method not in ("basic", "intermediate", "advanced"):
                raise ValueError("monotone_constraints_method must be basic, intermediate or advanced; got "
                                 f"{self.monotone_constraints_method!r}")
            params["monotone_constraints"] = [directions.get(name, 0) for name in self.feature_names_]
            params["monotone_constraints_method"] = self.monotone_constraints_method
        return params

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X, y, eval_set=None, sample_weight=None) -> LGBMChurnClassifier:
        """Fit on features X and 0/1 churn labels y; ``eval_set=(X_valid, y_valid)`` enables early stopping."""
        data, y = self._prepare_fit(X, y, y_numeric=False)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("y contains only one class; need both churned and retained customers")
        if len(self.classes_) > 2:
            raise ValueError(f"Only binary classification is supported (churned or not); got {len(self.classes_)} classes")
        if eval_set is not None:
            eval_set = (eval_set[0], np.searchsorted(self.classes_, np.asarray(eval_set[1])))
        self._train(data, encoded, eval_set, sample_weight)
        return self

    def predict_proba(self, X) -> np.ndarray:
        p = self._raw_predict(X)
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        churn = self.predict_proba(X)[:, 1] >= 0.5
        return self.classes_[churn.astype(int)]

    def decision_function(self, X) -> np.ndarray:
        return self._raw_predict(X, raw_score=True)


class LGBMValueRegressor(RegressorMixin, _LGBMBase):
    """Future value (spend in the horizon) with a Tweedie objective that handles the many zeros.

    The signature repeats the base parameters on purpose: scikit-learn reads an estimator's parameters
    from its own ``__init__`` signature (no ``**kwargs``). ``unused_features`` are columns the trees never
    split on (LightGBM's ``feature_contri`` of 0): they stay in the feature table the model takes, so it reads
    the same table as the churn model, and their contributions are 0.
    """

    def __init__(
        self,
        objective: str = "tweedie",
        tweedie_variance_power: float = 1.3,
        learning_rate: float = _DEFAULTS.learning_rate,
        num_leaves: int = _DEFAULTS.num_leaves,
        max_depth: int = _DEFAULTS.max_depth,
        min_child_samples: int = _DEFAULTS.min_child_samples,
        feature_fraction: float = _DEFAULTS.feature_fraction,
        bagging_fraction: float = _DEFAULTS.bagging_fraction,
        bagging_freq: int = _DEFAULTS.bagging_freq,
        lambda_l2: float = _DEFAULTS.lambda_l2,
        n_estimators: int = _DEFAULTS.max_rounds,
        early_stopping_rounds: int = _DEFAULTS.early_stopping_rounds,
        random_state: int = 0,
        n_jobs: int = 2,
        unused_features: tuple[str, ...] = (),
    ) -> None:
        super().__init__(learning_rate, num_leaves, max_depth, min_child_samples, feature_fraction, bagging_fraction,
                         bagging_freq, lambda_l2, n_estimators, early_stopping_rounds, random_state, n_jobs)
        self.objective = objective
        self.tweedie_variance_power = tweedie_variance_power
        self.unused_features = unused_features

    def _lgb_params(self) -> dict:
        params = super()._lgb_params()
        if self.unused_features:
            unknown = sorted(set(self.unused_features) - set(self.feature_names_))
            if unknown:
                raise ValueError(f"unused_features names {unknown[0]!r}, which is not a column of X "
                                 f"({len(self.feature_names_)} columns); pass a frame with that column or drop the name")
            params["feature_contri"] = [0.0 if name in self.unused_features else 1.0 for name in self.feature_names_]
        return params

    def _objective_params(self) -> dict:
        params = {"objective": self.objective}
        if self.objective == "tweedie":
            params["tweedie_variance_power"] = self.tweedie_variance_power
        return params

    def fit(self, X, y, eval_set=None, sample_weight=None) -> LGBMValueRegressor:
        """Fit on features X and future spend y (>= 0 for the Tweedie and Poisson objectives)."""
        data, y = self._prepare_fit(X, y, y_numeric=True)
        y = np.asarray(y, dtype=float)
        if self.objective in ("tweedie", "poisson") and np.any(y < 0):
            raise ValueError(f"{self.objective} objective needs non-negative targets")
        self._train(data, y, eval_set, sample_weight)
        return self

    def predict(self, X) -> np.ndarray:
        return self._raw_predict(X)
