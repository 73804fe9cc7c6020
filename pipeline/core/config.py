"""params.yaml -> frozen, typed config.

Loaded once at the edge (the CLI) and validated before any stage runs: an unknown or misspelled key
fails at once naming its dotted path, and so does a value of the wrong type. Stages receive the
narrowest piece they need (``cfg.label``, ``cfg.features``...).
"""

from __future__ import annotations

import dataclasses
import datetime
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.core.booster import BoosterSettings
from pipeline.core.errors import ConfigError

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
    # also train on the cutoff a year before the as-of date and its two neighbours (step_days apart), where the data
    # holds a full lookback before them and their horizon ends by the validation cutoff: the same season as the
    # horizon that will be scored; and the same a year before the validation cutoff, the season its figures judge
    # (docs/models.md, "Seasons")
    same_season_last_year: bool = True
    # training data whose last transaction is more than this many days before --as-of stops `churn train`
    # (exit 3) unless --allow-stale; None = no limit
    max_data_age_days: int | None = None


@dataclass(frozen=True)
class EventRatioConfig:
    """A ratio of two activities' event counts in one window (dislikes per like), declared by the user."""

    numerator: str = ""
    denominator: str = ""
    window_days: int = 90
    risk_direction: int = 1  # 1: a higher ratio means more churn risk, -1: less, 0: neither


@dataclass(frozen=True)
class FeaturesConfig:
    windows_days: tuple[int, ...] = (7, 30, 90, 180, 365)
    trend_window_days: int = 90
    btyd_model: Literal["bgnbd", "pareto_nbd"] = "bgnbd"
    max_event_types: int = 30  # the most frequent event types each get activity features; the rest are counted together
    event_labels: dict[str, str] = field(default_factory=dict)  # event type -> words for reasons ("new friends")
    event_ratios: tuple[EventRatioConfig, ...] = ()
    risky_event_types: tuple[str, ...] = ()  # event types of which more mean more risk (dislike); others: fewer
    # what transactions are: auto (decided from the data), purchases, mixed (renewal charges among purchases,
    # left out of the purchase families) or billing (renewal charges only: purchase families left out)
    transactions: Literal["auto", "purchases", "mixed", "billing"] = "auto"
    # your own families: modules (``my_package.features``) or .py files outside the package that register
    # families the way the built-in ones do; loaded once by the CLI before any build (pipeline/extensions.py)
    extra_modules: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # families or single features switched off (an unknown name is an error)


@dataclass(frozen=True)
class ValidationConfig:
    on_bad_rows: Literal["fail", "quarantine"] = "quarantine"
    quarantine_dir: str = "quarantine"
    # under quarantine, a table with a larger share of bad rows stops the run: that is a format problem
    max_bad_share: float = 0.01


@dataclass(frozen=True)
class FormatConfig:
    """How one table's files are written; empty = detected from the file (README "File formats")."""

    delimiter: str = ""  # one character; "tab" or "\\t" for a tab
    decimal_separator: str = ""  # "." or ","
    thousands_separator: str = ""  # ".", ",", space (any space: " ") or apostrophe ("'")
    date_format: str | tuple[str, ...] = ()  # strftime style, e.g. "%d.%m.%Y"; a list: each is tried in turn
    encoding: str = ""  # utf-8, utf-16, cp1251, gbk, gb18030, latin-1... (any Python codec)
    sheet: str = ""  # the sheet of an .xlsx workbook ("" = the first)

    @property
    def date_formats(self) -> tuple[str, ...]:
        return (self.date_format,) if isinstance(self.date_format, str) and self.date_format else tuple(self.date_format)

    @property
    def thousands_char(self) -> str:
        return {"space": " ", "apostrophe": "'"}.get(self.thousands_separator, self.thousands_separator)

    @property
    def delimiter_char(self) -> str:
        return "\t" if self.delimiter in ("tab", "\\t") else self.delimiter


@dataclass(frozen=True)
class InputConfig(FormatConfig):
    """The format of the input files: these settings for every table, ``tables.NAME`` overriding them."""

    tables: dict[str, FormatConfig] = field(default_factory=dict)

    def for_table(self, name: str) -> FormatConfig:
        """The settings that apply to table ``name``: its own where given, else the global ones."""
        own = self.tables.get(name, FormatConfig())
        return FormatConfig(**{f.name: getattr(own, f.name) or getattr(self, f.name)
                                for f in dataclasses.fields(FormatConfig)})


@dataclass(frozen=True)
class SparkConfig:
    """Where and how the Spark engine runs (``engine.kind: spark``)."""

    master: str = "local[*]"  # local[2], spark://host:7077, yarn, k8s://...; empty: what spark-submit gives
    app_name: str = "churn-pipeline"
    conf: dict[str, str | bool | int | float] = field(default_factory=dict)  # any Spark setting, e.g. spark.executor.memory: 8g
    shard_rows: int = 2_000_000  # input rows per customer shard (one Spark task each)
    task_memory_limit: str = "1GB"  # DuckDB's memory inside one task; beyond it the task spills to local disk
    training_set_dir: str = ""  # where Spark writes the training set (Parquet, a folder per cutoff); "" = temporary


@dataclass(frozen=True)
class EngineConfig:
    kind: Literal["duckdb", "spark"] = "duckdb"
    memory_limit: str = "8GB"
    threads: int = 0
    shard_rows: int = 35_000_000
    temp_dir: str = ""  # spills, customer shards and the SHAP file while scoring ("" = the system's temporary folder)
    spark: SparkConfig = field(default_factory=SparkConfig)


@dataclass(frozen=True)
class ChurnModelConfig(BoosterSettings):
    """The churn classifier: its booster settings and how it is refitted."""

    # Column and row sampling and an L2 penalty, unlike the value model (``BoosterSettings``' other defaults).
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    refit_on_all_cutoffs: bool = True  # after validation, refit on every labelled cutoff (the latest included)
    # The refit's rounds and calibration come from customer-grouped folds over at most about this many labelled rows
    # (a seeded share of the customers, every snapshot of each); the refit itself is on every row. 0 = every row.
    refit_cv_max_rows: int = 200_000
    # Never behind a simple baseline (docs/models.md): hold the model to the direction of risk of the features the
    # baselines are made of (``Feature.monotone``: days since the last purchase, orders, BTYD expectations, a
    # subscription's age) by LightGBM's monotone constraints, built by ``monotone_method``. auto: where the
    # unconstrained model's validation ROC-AUC is less than ``close_margin`` above the best baseline's (one more fit;
    # pipeline.training.train.held_to_baselines)
    monotone_baselines: bool | Literal["auto"] = "auto"
    close_margin: float = 0.02
    monotone_method: Literal["basic", "intermediate", "advanced"] = "advanced"
    # Leaves sized to the churners: each leaf holds at least this many rows of the rarer class on average, so
    # min_child_samples = churners_per_leaf / the rarer class's share of the rows fitted (at least 20, at most
    # half the rows), and tuning searches a quarter to four times that; 0 = min_child_samples as given
    churners_per_leaf: float = 0.0


@dataclass(frozen=True)
class LoyaltyConfig(BoosterSettings):
    """The value-if-retained regressor behind the loyalty score: objective, booster settings and tiers."""

    objective: Literal["tweedie", "regression", "poisson"] = "tweedie"
    tweedie_variance_power: float = 1.3
    refit_on_all_cutoffs: bool = True  # after early stopping, refit on every labelled cutoff's stayers
    # the refit's rounds from folds over at most about this many stayers' rows (0 = all); lower than the churn model's
    # bound: the value model's folds give only its rounds, no calibration (docs/models.md)
    refit_cv_max_rows: int = 100_000
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
    # The learning rate is searched from here to 0.2: below it the rounds, and with them training and TreeSHAP
    # (whose cost grows with the trees x leaves explained), multiply for AUC in the fourth decimal (docs/models.md
    # "Models no bigger than they need to be").
    min_learning_rate: float = 0.05
    # A trial's score is its fold-mean ROC-AUC less size_penalty for each doubling of its model's leaves (trees x
    # leaves per tree, the folds' mean) beyond size_budget: a larger model must buy that much AUC to be chosen. The
    # refit's rounds weigh size the same way (pipeline.training.train.sized_rounds), so the model kept is bounded too.
    size_penalty: float = 0.002
    size_budget: int = 4000
    # Trials are scored on at most about this many training rows (a seeded share of the customers, all their
    # snapshots), so that tuning costs the same on 20,000 customers or a million; the model is fitted on all rows.
    max_rows: int = 100_000


@dataclass(frozen=True)
class RegistryConfig:
    model_name: str = "churn-model"
    metric: str = "roc_auc"
    min_improvement: float = 0.002
    # a version whose validation ROC-AUC beats the best baseline's (recency, RFM, BTYD, tenure) by this or less is
    # not promoted (challenger, tagged with the reason; --promote overrides)
    min_margin_over_baselines: float = 0.0
    # when no validation row is unseen by both the champion and the new version (or they model different
    # problems): newer = the version whose training labels end later becomes champion; keep_champion = it stays
    when_not_comparable: Literal["newer", "keep_champion"] = "newer"


@dataclass(frozen=True)
class EvaluationConfig:
    backtest_cutoffs: int = 3
    step_days: int = 30  # spacing of backtest test cutoffs


# Operators of an action's condition; a bare value means "==", a list means "in".
CONDITION_OPERATORS = ("==", "!=", "in", "not_in", ">=", ">", "<=", "<")


@dataclass(frozen=True)
class Condition:
    """One test on a customer's feature, attribute or risk-list column (``has_active_subscription == 1``)."""

    column: str
    operator: str
    value: Any  # a number, text or true/false; a tuple of them for ``in`` and ``not_in``


@dataclass(frozen=True)
class ActionRule:
    """An action text and the conditions (all of them) a customer must meet for it to be suggested."""

    text: str
    when: tuple[Condition, ...] = ()


# The suggested action per driver family, in params.yaml's form (parsed by _action_rules into ActionRule). Each
# action says when it applies, on the customer's own data: a replenishment reminder needs a usual cycle (three gaps
# or more) not lapsed beyond two of them; a returns follow-up a return in the last 90 days; a payment plan an overdue
# invoice or paying a week late on average; a senior agent's call a complaint or a slow reply in the last 90 days and
# a high risk band (below it, a follow-up of those requests). A customer whose reason fits no action gets the action
# of their next reason. The win-back message is the win-back list's own (targeting.win_back_action): on the
# retention list a customer who has not bought for a while is still within their rhythm, so is reminded.
_REMINDER = {"text": "Replenishment reminder timed to their usual cycle",
             "when": {"purchase_gaps_lifetime": {">=": 3}, "gap_ratio_since_last_purchase": {"<=": 2}}}
_SENIOR_CALL = "Service recovery call from a senior agent"
_FOLLOW_UP = "Follow up on their recent support requests"
_REMIND = "Reminder with a reason to buy again now"
_PAYMENT_PLAN = "Offer a payment plan and check billing contact"
DEFAULT_ACTIONS: dict[str, Any] = {
    "recency": _REMIND,
    "frequency": _REMINDER,
    "regularity": _REMINDER,
    "monetary": "Personalised offer on categories they buy",
    "trend": "Personalised offer on categories they buy",
    "basket": "Bundle or cross-sell offer",
    "returns": {"text": "Quality follow-up on recent returns", "when": {"days_since_last_return": {"<=": 90}}},
    "payments": [{"text": _PAYMENT_PLAN, "when": {"overdue_invoices_now": {">=": 1}}},
                 {"text": _PAYMENT_PLAN, "when": {"average_days_late_last_365d": {">=": 7}}}],
    "engagement": "Re-engagement campaign with personalised content",
    "activity": "Re-engagement campaign with personalised content",
    "service": [{"text": _SENIOR_CALL, "when": {"complaints_last_90d": {">=": 1}, "risk_band": "high"}},
                {"text": _SENIOR_CALL, "when": {"max_response_hours_last_90d": {">=": 24}, "risk_band": "high"}},
                {"text": _FOLLOW_UP, "when": {"complaints_last_90d": {">=": 1}}},
                {"text": _FOLLOW_UP, "when": {"max_response_hours_last_90d": {">=": 24}}}],
    "satisfaction": "Personal outreach to hear and fix their concerns",
    "loyalty_program": "Loyalty invitation: bonus points to reactivate",
    "btyd": _REMIND,
    "tenure": "Onboarding check-in",
    "subscription": [{"text": "Retention offer before renewal", "when": {"has_active_subscription": 1}},
                     {"text": "Win-back offer to restart their subscription",
                      "when": {"has_active_subscription": 0, "cancelled_subscriptions_last_365d": {">=": 1}}}],
    "profile": {"text": "Account review by their account manager",
                "when": {"profile_segment": ["small_business", "enterprise"]}},
}

# The prior share of would-be churners each action keeps (its text as in DEFAULT_ACTIONS).
DEFAULT_ACTION_EFFECTS: dict[str, float] = {
    "Win-back message with a reason to return now": 0.08,
    "Reminder with a reason to buy again now": 0.08,
    "Win-back offer to restart their subscription": 0.08,
    "Replenishment reminder timed to their usual cycle": 0.10,
    "Personalised offer on categories they buy": 0.12,
    "Bundle or cross-sell offer": 0.08,
    "Quality follow-up on recent returns": 0.15,
    "Offer a payment plan and check billing contact": 0.20,
    "Re-engagement campaign with personalised content": 0.08,
    "Service recovery call from a senior agent": 0.25,
    "Follow up on their recent support requests": 0.15,
    "Personal outreach to hear and fix their concerns": 0.20,
    "Loyalty invitation: bonus points to reactivate": 0.12,
    "Onboarding check-in": 0.10,
    "Retention offer before renewal": 0.15,
    "Account review by their account manager": 0.15,
    "Keep in regular communication; no targeted action": 0.02,
}


@dataclass(frozen=True)
class ScoringConfig:
    # risk_bands_by base_rate_odds: a band starts where the odds of churning are this many times the odds of the
    # validation base rate stored with the model (1 = the base rate; README "Risk bands"); base_rate_multiple: a
    # multiple of the base rate; probability: each band's lowest churn probability; top_share: the cumulative
    # share of customers (highest risk first) that the band reaches. Highest band first.
    risk_bands_by: Literal["base_rate_odds", "base_rate_multiple", "probability", "top_share"] = "base_rate_odds"
    risk_bands: dict[str, float] = field(default_factory=lambda: {"high": 3.0, "medium": 0.333, "low": 0.0})
    drift_psi_threshold: float = 0.2
    report_top_n: int = 50
    # scoring data whose last transaction is more than this many days before --as-of (with --as-of data-end: before
    # today) stops `churn score` (exit 3) unless --allow-stale; None = no limit. A nightly job on a stale export
    # would otherwise score every customer as long gone (README "Running every night")
    max_data_age_days: int | None = 30
    currency: str = ""  # written with amounts in reasons and the Excel call list ("EUR", "€"); "" = no symbol
    # family -> the action(s) for a customer whose driver is that family: text, {text, when} or a list of
    # them (the first whose conditions hold); parsed by _action_rules (README "Actions that fit").
    actions: dict[str, tuple[ActionRule, ...]] = field(
        default_factory=lambda: {family: _action_rules(rules, f"scoring.actions.{family}")
                                 for family, rules in DEFAULT_ACTIONS.items()})
    default_action: str = "Keep in regular communication; no targeted action"
    # The value model's per-feature contributions (loyalty_<feature> in the SHAP file, mean_abs_loyalty in the global
    # importance): read by almost no one and as costly as the churn model's, so computed only when asked for. The churn
    # model's exact TreeSHAP, which the drivers and reasons need, is always computed.
    explain_loyalty: bool = False
    # customers scored (predicted, explained, given drivers and actions) at a time: the per-customer intermediates
    # (contributions in probability points, driver texts) are held for one batch, not for every customer
    batch_rows: int = 100_000


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
    action_effects: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_ACTION_EFFECTS))
    default_effect: float = 0.10  # for an action not listed in action_effects
    # the day `churn outcomes --write-effects` measured action_effects (it writes it beside them); None = the effects
    # are assumptions, and every output that rests on them says so
    action_effects_measured: str | None = None
    # Economics of a contact (in the data's currency): the list holds customers whose expected net saving
    # p x effect x value if retained - contact_cost - offer_cost x (1 - p + p x effect) is above zero
    contact_cost: float = 1.0  # cost of one contact (agent time, message), paid for every customer contacted
    offer_cost: float = 0.0  # cost of the offer, paid by those who take it: the kept and those who stay anyway
    # win-back list: no purchase for longer than the horizon and than this many usual gaps between purchases
    # (one-time buyers: this many horizons); None = no win-back list
    win_back_gaps: float | None = 3.0
    win_back_action: str = "Win-back message with a reason to return now"


@dataclass(frozen=True)
class Params:
    seed: int = 42
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    label: LabelConfig = field(default_factory=LabelConfig)
    snapshots: SnapshotsConfig = field(default_factory=SnapshotsConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    input: InputConfig = field(default_factory=InputConfig)
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
    if tp == tuple[ActionRule, ...]:
        return _action_rules(value, path)
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
    if origin in (typing.Union, types.UnionType):  # the first form that takes the value (None: empty in YAML)
        forms = typing.get_args(tp)
        if value is None and type(None) in forms:
            return None
        errors = []
        for form in (f for f in forms if f is not type(None)):
            try:
                return _coerce(value, form, path)
            except ConfigError as exc:
                errors.append(exc)
        if bool in forms and all(f is bool or typing.get_origin(f) is Literal for f in forms if f is not type(None)):
            choices = ["true", "false"] + [str(c) for f in forms if typing.get_origin(f) is Literal
                                           for c in typing.get_args(f)]
            raise ConfigError(f"params: '{path}' must be {', '.join(choices[:-1])} or {choices[-1]}; got {value!r}")
        raise errors[-1] if isinstance(value, list | tuple) else errors[0]  # the form the value was meant as
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
        if isinstance(value, datetime.date):  # YAML reads an unquoted 2026-03-01 as a date: it is meant as its text
            return value.isoformat()
        if not isinstance(value, str):
            raise ConfigError(f"params: '{path}' must be text, got {value!r}")
        return value
    return value


def _action_rules(value: Any, path: str) -> tuple[ActionRule, ...]:
    """One family's actions: ``"text"``, ``{text: ..., when: {...}}`` or a list of these, tried in order."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError(f"params: '{path}' is an empty list; give at least one action text or remove the key")
    return tuple(_action_rule(v, f"{path}[{i}]" if isinstance(value, list) else path) for i, v in enumerate(items))


def _action_rule(value: Any, path: str) -> ActionRule:
    form = ("an action text, {text: TEXT, when: {FEATURE: VALUE}} or a list of these, e.g. "
            "{text: \"Retention offer before renewal\", when: {has_active_subscription: 1}}")
    if isinstance(value, str):
        if not value.strip():
            raise ConfigError(f"params: '{path}' is empty; give {form}")
        return ActionRule(value)
    if not isinstance(value, dict):
        raise ConfigError(f"params: '{path}' must be {form}; got {value!r}")
    unknown = sorted(str(k) for k in set(value) - {"text", "when"})
    if unknown:
        raise ConfigError(f"params: unknown key '{path}.{unknown[0]}'. Known keys here: text, when. "
                          "Fix the spelling or remove it.")
    text = value.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"params: '{path}.text' must be the action's text, got {text!r}")
    when = value.get("when") or {}
    if not isinstance(when, dict):
        raise ConfigError(f"params: '{path}.when' must map a feature to the value(s) it must have, e.g. "
                          f"{{profile_segment: [small_business, enterprise]}}; got {when!r}")
    return ActionRule(text, tuple(c for column, test in when.items()
                                  for c in _conditions(str(column), test, f"{path}.when.{column}")))


def _conditions(column: str, test: Any, path: str) -> list[Condition]:
    """``1`` -> == 1; ``[a, b]`` -> in (a, b); ``{">=": 1, "<": 90}`` -> one condition per operator."""
    scalar = (str, int, float, bool)
    if isinstance(test, scalar):
        return [Condition(column, "==", test)]
    if isinstance(test, list):
        if not test or not all(isinstance(v, scalar) for v in test):
            raise ConfigError(f"params: '{path}' must be a non-empty list of values (text, numbers), got {test!r}")
        return [Condition(column, "in", tuple(test))]
    if isinstance(test, dict) and test:
        out = []
        for op, v in test.items():
            where = f"{path}.{op}"
            if op not in CONDITION_OPERATORS:
                raise ConfigError(f"params: unknown operator '{where}'. Known operators: "
                                  f"{', '.join(CONDITION_OPERATORS)}.")
            if op in ("in", "not_in"):
                if not isinstance(v, list) or not v or not all(isinstance(x, scalar) for x in v):
                    raise ConfigError(f"params: '{where}' must be a non-empty list of values, got {v!r}")
                v = tuple(v)
            elif op in (">=", ">", "<=", "<"):
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise ConfigError(f"params: '{where}' must be a number, got {v!r}")
            elif not isinstance(v, scalar):
                raise ConfigError(f"params: '{where}' must be a value (text, number, true/false), got {v!r}")
            out.append(Condition(column, str(op), v))
        return out
    raise ConfigError(f"params: '{path}' must be a value (== it), a list of values (one of them) or a mapping of "
                      f"operators ({', '.join(CONDITION_OPERATORS)}) to values; got {test!r}")


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
    try:
        value = yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:  # text YAML cannot read as a value, e.g. a date format "%d.%m.%Y": the text itself
        value = text
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


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader refusing a key written twice in one mapping (the second would silently replace the first,
    a whole section at the top level)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is written twice in one mapping (lines {seen[key] + 1} and "
                    f"{key_node.start_mark.line + 1}); the second would replace the first. Fix: keep one", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _ordered(values: list[float], strictly: bool = True) -> bool:
    """Whether ``values`` decrease (band and tier bounds, highest first)."""
    return all(a > b if strictly else a >= b for a, b in zip(values, values[1:], strict=False))


def _booster_checks(section: str, b: BoosterSettings) -> list[tuple[bool, str]]:
    return [
        (b.learning_rate > 0, f"{section}.learning_rate must be above 0 (0.1 is usual)"),
        (b.num_leaves >= 2, f"{section}.num_leaves must be at least 2"),
        (b.max_depth == -1 or b.max_depth >= 1, f"{section}.max_depth must be at least 1 (-1: no limit)"),
        (b.min_child_samples >= 1, f"{section}.min_child_samples must be at least 1"),
        (0 < b.feature_fraction <= 1, f"{section}.feature_fraction must be a share above 0 and at most 1"),
        (0 < b.bagging_fraction <= 1, f"{section}.bagging_fraction must be a share above 0 and at most 1"),
        (b.bagging_freq >= 0, f"{section}.bagging_freq must be 0 (no bagging) or more"),
        (b.lambda_l2 >= 0, f"{section}.lambda_l2 must be 0 or more"),
        (b.max_rounds >= 1, f"{section}.max_rounds must be at least 1"),
        (b.early_stopping_rounds >= 0, f"{section}.early_stopping_rounds must be 0 (none) or more"),
    ]


MAX_HORIZON_DAYS = 3660  # ten years: a horizon or lookback beyond it is a typo, and dates past year 9999 overflow

# The least memory DuckDB is given: below it a build of even a small table runs out (DuckDB's own guidance is about
# 125 MB per thread; docs/configuration.md, "Engine memory"). 1000-based, as DuckDB reads "128MB".
MIN_ENGINE_MEMORY_BYTES = 128 * 1000**2
_MEMORY_UNITS = {"": None, "b": 1, "byte": 1, "bytes": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2,
                 "g": 1000**3, "gb": 1000**3, "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2,
                 "gib": 1024**3, "tib": 1024**4}


def memory_bytes(text: str) -> int | None:
    """The bytes a memory setting as DuckDB reads it stands for (``8GB``, ``500MB``, ``1.5GiB``, ``50%`` of the
    machine's memory); None when it is not one."""
    import re

    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*|%)\s*", str(text))
    if not found:
        return None
    number, unit = float(found.group(1)), found.group(2).lower()
    if unit == "%":
        if not 0 < number <= 100:
            return None
        import os

        try:
            machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # a system that does not say: the share is taken as enough
            return MIN_ENGINE_MEMORY_BYTES
        return int(machine * number / 100)
    factor = _MEMORY_UNITS.get(unit)
    return None if factor is None else int(number * factor)


def _memory_check(key: str, value: str) -> tuple[bool, str]:
    size = memory_bytes(value)
    allowed = (f"a memory size of at least {MIN_ENGINE_MEMORY_BYTES // 1000**2}MB (such as 8GB or 500MB), or a share "
               "of the machine's memory, up to 100%, that comes to at least that (such as 50%)")
    if size is None:
        return False, f"{key}: '{value}' is not a memory size DuckDB reads; it must be {allowed}"
    return size >= MIN_ENGINE_MEMORY_BYTES, (
        f"{key}: '{value}' is too little memory for the engine to work in (about {size / 1000**2:,.0f}MB); it must be "
        f"{allowed}. Fix: --set {key}=1GB, or more")


def load_params(path: str | Path | None = "params.yaml", overrides: list[str] | tuple[str, ...] = ()) -> Params:
    """Load params.yaml (missing file = defaults only when path is None), apply overrides, validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"params file {p} not found. Pass --params FILE or run from the project folder.")
        if not p.is_file():
            raise ConfigError(f"params file {p} is a folder, not a file. Fix: pass --params FOLDER/params.yaml")
        try:
            raw = yaml.load(p.read_text(), Loader=_UniqueKeyLoader) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"params file {p} is not valid YAML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"params file {p} cannot be read ({exc}). Fix: pass a readable UTF-8 params.yaml") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"params file {p} must hold a mapping at the top level")
    for assignment in overrides:
        raw = apply_override(raw, assignment)
    params = _build(Params, raw)
    _check_semantics(params)
    return params


def section_from_dict(name: str, raw: dict[str, Any]) -> Any:
    """One top-level section of params (``label``, ``features``...) built and checked from a plain mapping
    such as ``dataclasses.asdict`` gives (the problem definition stored with a model)."""
    hints = typing.get_type_hints(Params)
    if name not in hints or not dataclasses.is_dataclass(hints[name]):
        raise ConfigError(f"params: '{name}' is not a section of params")
    return _coerce(raw, hints[name], name)


def check_params(p: Params) -> Params:
    """The checks of ``load_params`` across keys, for params assembled in code (returned unchanged)."""
    _check_semantics(p)
    return p


def _is_iso_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _check_semantics(p: Params) -> None:
    checks = [
        (0 < p.label.horizon_days <= MAX_HORIZON_DAYS, f"label.horizon_days must be from 1 to {MAX_HORIZON_DAYS} days"),
        (0 < p.label.lookback_days <= MAX_HORIZON_DAYS, f"label.lookback_days must be from 1 to {MAX_HORIZON_DAYS} days"),
        (p.snapshots.count >= 1, "snapshots.count must be at least 1"),
        (p.snapshots.step_days > 0, "snapshots.step_days must be positive"),
        (len(p.features.windows_days) > 0 and all(w > 0 for w in p.features.windows_days),
         "features.windows_days must be a non-empty list of positive day counts"),
        (p.features.max_event_types >= 0, "features.max_event_types must be 0 or more"),
        (all(r.numerator and r.denominator and r.numerator != r.denominator for r in p.features.event_ratios),
         "features.event_ratios: each needs a numerator and a different denominator event type"),
        (all(r.window_days > 0 and r.risk_direction in (-1, 0, 1) for r in p.features.event_ratios),
         "features.event_ratios: window_days must be positive and risk_direction -1, 0 or 1"),
        (p.tuning.n_trials >= 0, "tuning.n_trials must be 0 or more"),
        (0 < p.tuning.min_learning_rate <= 0.2, "tuning.min_learning_rate must be above 0 and at most 0.2 (the top of "
         "the learning rates searched)"),
        (p.tuning.size_penalty >= 0, "tuning.size_penalty must be 0 (no penalty) or more (ROC-AUC per doubling)"),
        (p.tuning.size_budget >= 1, "tuning.size_budget must be at least 1 leaf (trees x leaves per tree)"),
        (p.tuning.max_rows >= 1000, "tuning.max_rows must be at least 1000 (training rows a trial is scored on)"),
        (0 <= p.model.close_margin < 1, "model.close_margin must be from 0 to under 1 (ROC-AUC above the best baseline "
         "within which monotone_baselines: auto holds the model)"),
        (p.model.refit_cv_max_rows == 0 or p.model.refit_cv_max_rows >= 1000,
         "model.refit_cv_max_rows must be 0 (every row) or at least 1000 (rows the refit's folds run on)"),
        (p.loyalty.refit_cv_max_rows == 0 or p.loyalty.refit_cv_max_rows >= 1000,
         "loyalty.refit_cv_max_rows must be 0 (every row) or at least 1000 (rows the refit's folds run on)"),
        (p.scoring.max_data_age_days is None or p.scoring.max_data_age_days >= 0,
         "scoring.max_data_age_days must be 0 or more days (empty = no limit)"),
        (p.snapshots.max_data_age_days is None or p.snapshots.max_data_age_days >= 0,
         "snapshots.max_data_age_days must be 0 or more days (empty = no limit)"),
        (p.scoring.risk_bands_by != "probability" or all(0 <= v <= 1 for v in p.scoring.risk_bands.values()),
         "scoring.risk_bands: by probability, each band's lowest churn probability is from 0 to 1"),
        (p.scoring.risk_bands_by != "top_share" or all(0 < v <= 1 for v in p.scoring.risk_bands.values()),
         "scoring.risk_bands: by top_share, each band's cumulative share of customers is above 0 and at most 1"),
        (p.scoring.risk_bands_by not in ("base_rate_odds", "base_rate_multiple")
         or all(v >= 0 for v in p.scoring.risk_bands.values()),
         f"scoring.risk_bands: by {p.scoring.risk_bands_by}, each band's multiple of the base rate is 0 or more "
         "(high: 3)"),
        (len(p.scoring.risk_bands) > 0, "scoring.risk_bands must name at least one band"),
        (p.scoring.risk_bands_by == "top_share" or _ordered(list(p.scoring.risk_bands.values())),
         f"scoring.risk_bands must be written highest first, each band's lower bound below the one before "
         f"(got {dict(p.scoring.risk_bands)}): a band out of order would label customers above its bound"),
        (p.scoring.risk_bands_by != "top_share" or _ordered(list(p.scoring.risk_bands.values())[::-1]),
         f"scoring.risk_bands: by top_share, the cumulative shares must grow band by band (got "
         f"{dict(p.scoring.risk_bands)})"),
        (p.scoring.risk_bands_by == "top_share" or list(p.scoring.risk_bands.values())[-1:] == [0],
         "scoring.risk_bands: the last band's lower bound must be 0, so that every customer has a band"),
        (p.scoring.risk_bands_by != "top_share" or list(p.scoring.risk_bands.values())[-1:] == [1],
         "scoring.risk_bands: by top_share, the last band's cumulative share must be 1 (every customer)"),
        (p.scoring.report_top_n >= 1, "scoring.report_top_n must be at least 1 (customers shown in the report)"),
        (p.scoring.batch_rows >= 1, "scoring.batch_rows must be at least 1 (customers scored at a time)"),
        (_ordered(list(p.loyalty.tiers.values())) and list(p.loyalty.tiers.values())[-1:] == [0]
         and all(0 <= v <= 100 for v in p.loyalty.tiers.values()),
         f"loyalty.tiers must be written highest first, each lower bound from 0 to 100 below the one before and "
         f"the last 0 (got {dict(p.loyalty.tiers)})"),
        (p.engine.threads >= 0, "engine.threads must be 0 (all cores) or a number of threads"),
        _memory_check("engine.memory_limit", p.engine.memory_limit),
        _memory_check("engine.spark.task_memory_limit", p.engine.spark.task_memory_limit),
        (p.registry.min_improvement >= 0, "registry.min_improvement must be 0 or more (the margin a new version "
         "must beat the champion by)"),
        (-1 < p.registry.min_margin_over_baselines < 1, "registry.min_margin_over_baselines must be a ROC-AUC "
         "difference between -1 and 1 (0 = the model must rank better than the best baseline)"),
        *_booster_checks("model", p.model),
        *_booster_checks("loyalty", p.loyalty),
        (0 <= p.validation.max_bad_share <= 1, "validation.max_bad_share must be a share from 0 to 1 (0.01 = 1%)"),
        (p.engine.shard_rows >= 1, "engine.shard_rows must be at least 1 (transactions per customer shard)"),
        (p.engine.spark.shard_rows >= 1, "engine.spark.shard_rows must be at least 1 (input rows per customer shard)"),
        (p.value.lifetime_months >= 1, "value.lifetime_months must be at least 1"),
        (0 <= p.value.annual_discount_rate < 1, "value.annual_discount_rate must be a share from 0 to below 1 (0.10 = 10%)"),
        (p.targeting.capacity is None or p.targeting.capacity >= 0,
         "targeting.capacity must be empty (everyone eligible) or a whole number of customers, 0 or more"),
        (0 <= p.targeting.holdout_share < 1, "targeting.holdout_share must be a share from 0 to below 1 (0.10 = 10%)"),
        (all(0 <= v <= 1 for v in p.targeting.action_effects.values()) and 0 <= p.targeting.default_effect <= 1,
         "targeting.action_effects and targeting.default_effect are shares of would-be churners kept, from 0 to 1"),
        (p.targeting.action_effects_measured is None or _is_iso_date(p.targeting.action_effects_measured),
         "targeting.action_effects_measured must be empty (assumed effects) or the day they were measured, YYYY-MM-DD"),
        (p.targeting.contact_cost >= 0 and p.targeting.offer_cost >= 0,
         "targeting.contact_cost and targeting.offer_cost are amounts in the data's currency, 0 or more"),
        (p.targeting.win_back_gaps is None or p.targeting.win_back_gaps >= 1,
         "targeting.win_back_gaps must be empty (no win-back list) or a number of usual gaps, 1 or more"),
        (bool(p.targeting.win_back_action.strip()), "targeting.win_back_action must be an action's text"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"params: {message}")
    _check_columns(p.columns)
    _check_input(p.input)


def _check_columns(cfg: ColumnsConfig) -> None:
    """Each ``columns.<table>`` key is a canonical column of that table (a typo is found on load, not after reading
    the data)."""
    from pipeline.core.schema import SCHEMAS

    for table in TABLES:
        known = SCHEMAS[table].column_names
        unknown = sorted(set(getattr(cfg, table)) - set(known))
        if unknown:
            raise ConfigError(f"params: 'columns.{table}.{unknown[0]}' is not a column of {table}: the keys under "
                              f"columns.{table} are the canonical names ({', '.join(known)}), each mapped to your "
                              "column's name")


def _check_input(cfg: InputConfig) -> None:
    """The format settings: known tables, one-character separators, codecs Python knows, strftime formats."""
    import codecs

    unknown = sorted(set(cfg.tables) - set(TABLES))
    if unknown:
        raise ConfigError(f"params: unknown key 'input.tables.{unknown[0]}'. Known tables: {', '.join(TABLES)}.")
    for where, fmt in [("input", cfg), *((f"input.tables.{t}", f) for t, f in cfg.tables.items())]:
        if len(fmt.delimiter_char) > 1:
            raise ConfigError(f"params: '{where}.delimiter' must be one character (or tab), got {fmt.delimiter!r}")
        if fmt.decimal_separator not in ("", ".", ","):
            raise ConfigError(f"params: '{where}.decimal_separator' must be \".\" or \",\", got {fmt.decimal_separator!r}")
        if fmt.thousands_char not in ("", ".", ",", " ", "'"):
            raise ConfigError(f"params: '{where}.thousands_separator' must be \".\", \",\", space (or \" \") or "
                              f"apostrophe (or \"'\"), got {fmt.thousands_separator!r}")
        if fmt.decimal_separator and fmt.decimal_separator == fmt.thousands_char:
            raise ConfigError(f"params: '{where}': the decimal and thousands separators must differ")
        if not all(f == "" or "%" in f for f in fmt.date_formats):
            raise ConfigError(f"params: '{where}.date_format' must be a strftime format such as \"%d.%m.%Y\" or a list "
                              f"of them, got {fmt.date_format!r}")
        if fmt.encoding:
            try:
                codecs.lookup(fmt.encoding)
            except LookupError:
                raise ConfigError(f"params: '{where}.encoding': unknown encoding {fmt.encoding!r}; use e.g. utf-8, "
                                  "utf-16, cp1251, gbk, gb18030 or latin-1") from None
