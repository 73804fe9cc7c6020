"""params.yaml -> frozen, typed config.

Loaded once at the edge (the CLI) and validated before any stage runs: an unknown or misspelled key
fails at once naming its dotted path, and so does a value of the wrong type. Stages receive the
narrowest piece they need (``cfg.label``, ``cfg.features``...).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.errors import ConfigError

TABLES = ("transactions", "customers", "events", "invoices", "subscriptions")


@dataclass(frozen=True)
class ColumnsConfig:
    """Canonical column name -> the user's column name, per table."""

    transactions: dict[str, str] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)
    invoices: dict[str, str] = field(default_factory=dict)
    subscriptions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelConfig:
    kind: Literal["inactivity", "cancellation"] = "inactivity"
    horizon_days: int = 90
    lookback_days: int = 365
    min_purchases_in_lookback: int = 1


@dataclass(frozen=True)
class SnapshotsConfig:
    count: int = 8
    step_days: int = 30


@dataclass(frozen=True)
class FeaturesConfig:
    windows_days: tuple[int, ...] = (7, 30, 90, 180, 365)
    trend_window_days: int = 90
    btyd_model: Literal["bgnbd", "pareto_nbd"] = "bgnbd"


@dataclass(frozen=True)
class ValidationConfig:
    on_bad_rows: Literal["fail", "quarantine"] = "quarantine"
    quarantine_dir: str = "quarantine"


@dataclass(frozen=True)
class EngineConfig:
    memory_limit: str = "8GB"
    threads: int = 0
    shard_rows: int = 35_000_000
    temp_dir: str = ""  # where spills and customer shards are written ("" = the system's temporary folder)


@dataclass(frozen=True)
class ChurnModelConfig:
    learning_rate: float = 0.1
    num_leaves: int = 15
    max_depth: int = 6
    min_child_samples: int = 50
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    max_rounds: int = 500
    early_stopping_rounds: int = 50
    refit_on_all_cutoffs: bool = False


@dataclass(frozen=True)
class LoyaltyConfig:
    objective: Literal["tweedie", "regression", "poisson"] = "tweedie"
    tweedie_variance_power: float = 1.3
    learning_rate: float = 0.1
    num_leaves: int = 15
    max_depth: int = 6
    min_child_samples: int = 50
    max_rounds: int = 500
    early_stopping_rounds: int = 50
    refit_on_all_cutoffs: bool = True  # after early stopping, refit on every labelled cutoff's stayers
    # Lower bounds of each tier on the 0-100 score, highest first.
    tiers: dict[str, float] = field(
        default_factory=lambda: {"champion": 80.0, "loyal": 60.0, "steady": 40.0, "at_risk": 20.0, "dormant": 0.0}
    )


@dataclass(frozen=True)
class TuningConfig:
    n_trials: int = 10
    timeout_s: int = 300
    n_folds: int = 2
    storage: str = "optuna.db"


@dataclass(frozen=True)
class RegistryConfig:
    model_name: str = "churn-model"
    metric: str = "roc_auc"
    min_improvement: float = 0.002


@dataclass(frozen=True)
class EvaluationConfig:
    backtest_cutoffs: int = 3
    step_days: int = 30  # spacing of backtest test cutoffs


@dataclass(frozen=True)
class ScoringConfig:
    # risk_bands_by probability: each band's lowest churn probability; top_share: the cumulative share
    # of customers (highest risk first) that the band reaches. Highest band first.
    risk_bands_by: Literal["probability", "top_share"] = "probability"
    risk_bands: dict[str, float] = field(default_factory=lambda: {"high": 0.6, "medium": 0.3, "low": 0.0})
    drift_psi_threshold: float = 0.2
    report_top_n: int = 50
    actions: dict[str, str] = field(default_factory=dict)
    default_action: str = "Keep in regular communication; no targeted action"


@dataclass(frozen=True)
class ValueConfig:
    """Customer value: the horizon's value if retained is learned; lifetime value extends it."""

    lifetime_months: int = 12
    annual_discount_rate: float = 0.10


@dataclass(frozen=True)
class TargetingConfig:
    """Who is called: capacity, the holdout that measures whether calling works, and each action's effect."""

    capacity: int | None = None  # customers the team can contact this run; None = every eligible customer
    holdout_share: float = 0.10  # share of the selected customers kept out of contact (seeded by id and as-of)
    # share of would-be churners each action keeps (prior; `churn outcomes --write-effects` measures it)
    action_effects: dict[str, float] = field(default_factory=dict)
    default_effect: float = 0.10  # for an action not listed in action_effects


@dataclass(frozen=True)
class Params:
    seed: int = 42
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    label: LabelConfig = field(default_factory=LabelConfig)
    snapshots: SnapshotsConfig = field(default_factory=SnapshotsConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    model: ChurnModelConfig = field(default_factory=ChurnModelConfig)
    loyalty: LoyaltyConfig = field(default_factory=LoyaltyConfig)
    tuning: TuningConfig = field(default_factory=TuningConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    value: ValueConfig = field(default_factory=ValueConfig)
    targeting: TargetingConfig = field(default_factory=TargetingConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (for logging the resolved params)."""
        return dataclasses.asdict(self)


def _coerce(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"params: '{path}' must be a mapping, got {value!r}")
        return _build(tp, value, path)
    if origin is Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(map(str, typing.get_args(tp)))
            raise ConfigError(f"params: '{path}' must be one of {choices}; got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"params: '{path}' must be a list, got {value!r}")
        (item_tp, _) = typing.get_args(tp)
        return tuple(_coerce(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"params: '{path}' must be a mapping, got {value!r}")
        key_tp, val_tp = typing.get_args(tp)
        return {str(k): _coerce(v, val_tp, f"{path}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"params: '{path}' must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"params: '{path}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"params: '{path}' must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"params: '{path}' must be text, got {value!r}")
        return value
    return value


def _build(cls: type, raw: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            path = f"{prefix}.{key}" if prefix else str(key)
            raise ConfigError(
                f"params: unknown key '{path}'. Known keys here: {', '.join(sorted(known))}. "
                "Fix the spelling or remove it."
            )
    kwargs = {k: _coerce(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in raw.items()}
    return cls(**kwargs)


def apply_override(raw: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Return a copy of ``raw`` with one ``dotted.key=value`` override applied (value parsed as YAML)."""
    if "=" not in assignment:
        raise ConfigError(f"--set expects dotted.key=value, got {assignment!r}")
    key, text = assignment.split("=", 1)
    value = yaml.safe_load(text) if text != "" else ""
    out = _deep_copy(raw)
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: '{part}' is not a section")
    node[parts[-1]] = value
    return out


def _deep_copy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in d.items()}


def load_params(path: str | Path | None = "params.yaml", overrides: list[str] | tuple[str, ...] = ()) -> Params:
    """Load params.yaml (missing file = defaults only when path is None), apply overrides, validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"params file {p} not found. Pass --params FILE or run from the project folder.")
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"params file {p} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"params file {p} must hold a mapping at the top level")
    for assignment in overrides:
        raw = apply_override(raw, assignment)
    params = _build(Params, raw)
    _check_semantics(params)
    return params


def _check_semantics(p: Params) -> None:
    checks = [
        (p.label.horizon_days > 0, "label.horizon_days must be positive"),
        (p.label.lookback_days > 0, "label.lookback_days must be positive"),
        (p.snapshots.count >= 1, "snapshots.count must be at least 1"),
        (p.snapshots.step_days > 0, "snapshots.step_days must be positive"),
        (len(p.features.windows_days) > 0 and all(w > 0 for w in p.features.windows_days),
         "features.windows_days must be a non-empty list of positive day counts"),
        (p.tuning.n_trials >= 0, "tuning.n_trials must be 0 or more"),
        (p.engine.shard_rows >= 1, "engine.shard_rows must be at least 1 (transactions per customer shard)"),
        (p.value.lifetime_months >= 1, "value.lifetime_months must be at least 1"),
        (0 <= p.value.annual_discount_rate < 1, "value.annual_discount_rate must be a share from 0 to below 1 (0.10 = 10%)"),
        (p.targeting.capacity is None or (type(p.targeting.capacity) is int and p.targeting.capacity >= 0),
         "targeting.capacity must be empty (everyone eligible) or a whole number of customers, 0 or more"),
        (0 <= p.targeting.holdout_share < 1, "targeting.holdout_share must be a share from 0 to below 1 (0.10 = 10%)"),
        (all(0 <= v <= 1 for v in p.targeting.action_effects.values()) and 0 <= p.targeting.default_effect <= 1,
         "targeting.action_effects and targeting.default_effect are shares of would-be churners kept, from 0 to 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"params: {message}")
