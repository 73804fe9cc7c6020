"""Feature metadata and the registry of feature families.

A family is a module in ``features/`` that registers itself here: the tables it needs, the features it
produces (with metadata) and how to compute all of them per customer in SQL (aggregates merged with the
other families' over the same relation, or one query of its own; plus, for fitted families, one
vectorised function). Metadata is declared once and read by reports, docs and driver
reasons alike.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from pipeline.core.money import money as format_money

# A reason that compares a customer's recent value with an earlier one ("2 visits in the last 30 days, down from 9")
# is given only for a change worth a call: a fall or rise of at least a fifth of the earlier value, and of at least
# one whole unit of what is compared (a visit, an order, a loyalty point, one of the currency). "Spent 10.23 in the
# last 30 days, down from 10.24" or "9 visits, down from 10" is no reason to call anyone. One rule for every family
# (:func:`material_change`, :attr:`Feature.compares`).
MATERIAL_SHARE = 0.2
MATERIAL_UNITS = 1.0
# Counts of whole things (visits, orders, complaints) move by one or two by chance: "4 visits, down from 5" or "none,
# down from 1" is noise, not news. A count's change must also be at least COUNT_UNITS whole things and at least the
# count's own chance spread, the square root of the earlier count (a Poisson count's standard deviation): 9 -> 2 is
# a change, 5 -> 4, 1 -> 0 and 30 -> 25 are not.
COUNT_UNITS = 2.0
COUNT_UNIT_NAMES = frozenset({"count", "points"})
# The operators of a reason's conditions (:attr:`Feature.said_when`): "or missing" lets a missing value hold.
CONDITION_OPERATORS = (">=", "<=", ">= or missing", "<= or missing")


@dataclass(frozen=True)
class Feature:
    """One feature column and what it means.

    Attributes:
        name: column name, full words with window and unit (``spend_last_90d``).
        family: the family vocabulary used to group drivers.
        unit: unit of the value (``days``, ``currency``, ``count``, ``ratio``, ``share``, ``score``, ``flag``).
        description: template rendering a plain sentence for one customer. ``{value}`` is this feature's
            value; any other ``{feature_name}`` is that feature of the same customer. Besides Python's format
            specs: ``n`` (a whole number), ``money`` (an amount with the currency), ``count:visit`` (``1 visit``,
            ``2 visits``; ``count:category|categories`` for an irregular plural), ``word:day`` (the word
            alone, in the number's plural), ``ago`` and ``in`` (days before or after the as-of date: ``today``,
            ``12 days ago``, ``in 1 day``), ``every`` (a gap in days: ``every day``, ``every 12 days``) and an
            ``abs `` prefix (the size of a change whose sign the words say). A part in square brackets is left
            out when a field in it is missing.
        risk_direction: +1 if a higher value means more churn risk, -1 if lower, 0 if neither (then the
            feature describes the customer but never names a driver).
        fill: value for a customer with no rows for this family (e.g. 0 purchases); None keeps it missing.
        kind: ``numeric`` or ``categorical``.
        context: a model output or a static attribute (BTYD expectations, profile, tenure): shown on a
            customer's card, never a driver and never the key of an action.
        neutral: a reason is given only for a value on the risky side of this point (above it when
            ``risk_direction`` is +1, below when -1); a number or the name of another feature of the same
            customer (days since points were last earned are a reason only when more than since the last
            purchase). A change against an earlier value says ``compares`` instead.
        missing: the sentence when the value is missing and its absence means something ("No invoices in
            the last year"); None: a missing value is never a reason.
        zero: the sentence for a value of exactly 0, when it reads better than the template.
        negative: the sentence for a value below 0 ("Returned more than they bought"); without one a negative
            value is never shown unless the template writes it as ``abs``.
        ages: the value grows with time by construction (tenure, lifetime totals, days since signup) or moves
            with the calendar (the season of the as-of date): its distribution moves as the customer base ages or
            the year turns, which drift reports apart from real shifts.
        cycle_days: the value turns with the calendar on a cycle of this many days (days to the next monthly
            renewal: 31): customers who renew on one day of the month are a lump that moves a day with every day
            of the as-of date. Drift compares its distribution allowing for that turn, so a later as-of in the month
            is not a shift, while renewals bunching up or spreading out still are.
        compares: the reason compares a recent value with an earlier one (less spend, fewer visits, more
            complaints, a longer gap than usual) and is given only for a material change
            (:func:`material_change`): the features holding ``(recent, earlier)``, ``value`` for this one. A
            feature that is neither is the change itself: recent minus earlier, or with unit ``ratio`` recent
            over earlier, measured against the earlier value (worked out from the recent one when the earlier is
            None); a ratio may stand alone, ``(None, None)``: judged against 1, with no whole unit.
        fact: the fact about the customer the feature states (``last_purchase``, ``recent_activity``,
            ``spend_change``...): a customer's reasons name at most one feature per fact ("No purchase for 49 days"
            and "Last bought 49 days ago, though they usually buy every 20 days" say one thing); "" is a fact of
            its own, the feature's name (:attr:`fact_key`).
        counted: the values compared are counts of whole things though this feature is not (a ratio of two
            counts): a comparison then needs a change of counts (:data:`COUNT_UNITS`).
        trait: a lasting trait or a count of months ("Bought in 3 of the last 12 months", "Bought from 1
            category in the last year"), not a change or a state that raises risk now: the model uses it and the
            card may say it, but it never names a reason.
        said_when: conditions on the customer's other features that must all hold for the reason to be said,
            ``(feature, operator, value)`` with operator ``>=`` or ``<=`` (a missing value never holds), or
            ``>= or missing`` / ``<= or missing`` (a missing value holds: days since a kind of row the customer
            never had, or a table the build does not have): a usual cycle needs three gaps
            (``("purchase_gaps_lifetime", ">=", 3)``); "not active" needs no purchase in those days either.
        zero_when: the same, for the ``zero`` sentence alone: "Bought nothing in the last 30 days" needs no purchase
            in them (a spend of 0 can be a purchase returned in full); "Not active in the last 30 days" needs no row
            of any kind in them (no return, invoice issued or paid, subscription started or ended, signup).
        value_input: False keeps the feature out of the value-if-retained model (the churn model and the
            reasons still use it): a signal of how a customer is drifting from their own usual behaviour, of the
            kind that shows before churn (a fall in order value, an activity habit lapsing). Learned from the
            customers who stayed, such a feature lowers the value of the customers showing it, the likeliest
            churners, and value at risk then prices churn twice (``tests/model/test_value.py``).
        monotone: the direction of risk is certain whatever else the customer shows, so the churn model may be held to
            it (with ``model.monotone_baselines``: LightGBM's monotone constraints, the risk never falling as the value
            moves the risky way, every other input fixed). Set on the features the simple baselines are made of (days
            since the last purchase, orders, BTYD expectations, a subscription's age), so the model can use each the
            way its baseline does (docs/models.md, "Never behind a simple baseline").
        model_input: False makes a condition-only feature: computed in the feature table, read by other features'
            conditions (``said_when``, ``zero_when``) and by actions' ``when`` rules, but never given to the churn or
            value model (training, tuning, scoring, SHAP, drift and the model bundle's feature names leave it out:
            :attr:`FeatureSpec.conditions`) and never a driver. For a fact a condition needs and the model does
            not: a new model input moves every other feature's share of the model's gain, and the least share a fact
            needs to name a reason (``models.explain.MIN_FACT_GAIN_SHARE``) can then silence a whole cause. Needs
            ``risk_direction`` 0.
    """

    name: str
    family: str
    unit: str
    description: str
    risk_direction: Literal[-1, 0, 1]
    fill: float | None = None
    kind: Literal["numeric", "categorical"] = "numeric"
    context: bool = False
    neutral: float | str | None = None
    missing: str | None = None
    zero: str | None = None
    negative: str | None = None
    ages: bool = False
    cycle_days: int | None = None
    compares: tuple[str | None, str | None] | None = None
    fact: str = ""
    counted: bool = False
    trait: bool = False
    said_when: tuple[tuple[str, str, float], ...] = ()
    zero_when: tuple[tuple[str, str, float], ...] = ()
    value_input: bool = True
    monotone: bool = False
    model_input: bool = True

    def __post_init__(self) -> None:
        if self.monotone and (self.risk_direction == 0 or self.kind != "numeric"):
            raise ValueError(f"{self.name}: monotone needs a numeric feature with a risk_direction of +1 or -1")
        if not self.model_input and (self.risk_direction != 0 or self.monotone):
            raise ValueError(f"{self.name}: a condition-only feature (model_input=False) is never a driver nor a model "
                             "input: give it risk_direction 0 and no monotone")
        if self.compares is not None:  # a list when read back from a model bundle's JSON
            object.__setattr__(self, "compares", tuple(self.compares))
        object.__setattr__(self, "said_when", tuple(tuple(c) for c in self.said_when))
        object.__setattr__(self, "zero_when", tuple(tuple(c) for c in self.zero_when))
        bad = [c for c in (*self.said_when, *self.zero_when) if len(c) != 3 or c[1] not in CONDITION_OPERATORS]
        if bad:
            raise ValueError(f"{self.name}: said_when {bad[0]!r} must be (feature, one of "
                             f"{', '.join(map(repr, CONDITION_OPERATORS))}, number)")

    @property
    def can_drive(self) -> bool:
        """Whether this feature may ever name a driver: behaviour with a direction of risk, not a trait."""
        return not self.context and not self.trait and self.risk_direction != 0 and self.model_input

    @property
    def fact_key(self) -> str:
        """The fact this feature states (:attr:`fact`), its own name when it declares none."""
        return self.fact or self.name

    def template_for(self, value: object) -> str | None:
        """The template that says ``value``: the missing, zero or negative sentence, else the description."""
        if _missing(value):
            return self.missing
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value == 0 and self.zero is not None:
                return self.zero
            if value < 0 and self.negative is not None:
                return self.negative
        return self.description

    def describe(self, value: object, row: dict[str, object] | None = None, currency: str = "") -> str | None:
        """The sentence for one customer's value (a fact for their card, not necessarily a reason); None
        when the value is missing and its absence says nothing."""
        template = self.template_for(value)
        if template is None:
            return None
        try:
            return render(template, {**(row or {}), "value": value}, currency, strict=False)
        except Unsayable:
            return None

    def reason(self, value: object, row: dict[str, object] | None = None, currency: str = "") -> str | None:
        """The sentence for ``value`` as a reason for higher risk, or None where it cannot be one: context,
        no direction, a missing value whose absence says nothing, a value on the safe side of ``neutral``,
        a negative number the words would contradict, or a field the sentence needs missing."""
        row = {**(row or {}), "value": value}
        if not self.can_drive or not self.on_risky_side(value, row):
            return None
        template = self.template_for(value)
        if template is None:
            return None
        try:
            return render(template, row, currency, strict=True)
        except Unsayable:
            return None

    def on_risky_side(self, value: object, row: dict[str, object]) -> bool:
        """Whether ``value`` lies on the risky side of ``neutral`` (always, without a neutral point) and, for a
        comparison (``compares``), is a material change towards risk."""
        if _missing(value):
            return self.missing is not None
        if self.kind != "numeric":
            return True
        if self.neutral is not None:
            point = row.get(self.neutral) if isinstance(self.neutral, str) else self.neutral
            if _missing(point):
                return False
            if not (float(value) > float(point) if self.risk_direction > 0 else float(value) < float(point)):
                return False
        conditions = (*self.said_when, *(self.zero_when if float(value) == 0 and self.zero is not None else ()))
        if not all(said_when_holds(row.get(name), op, bound) for name, op, bound in conditions):
            return False
        if self.compares is None:
            return True
        recent, earlier, least = self.compared(value, row)
        return bool(material_change(recent, earlier, self.risk_direction, least, self.counts))

    @property
    def counts(self) -> bool:
        """Whether a comparison of this feature compares counts of whole things (:data:`COUNT_UNITS`)."""
        return self.counted or self.unit in COUNT_UNIT_NAMES

    def compared(self, value: object, row: dict[str, object]) -> tuple[object, object, float]:
        """(recent, earlier, least change) for :func:`material_change`, from this feature's ``value`` and the
        other features of the same customer in ``row`` (numbers, or arrays of one per customer); a missing
        one is NaN, which is never a material change."""
        if self.compares is None:
            raise ValueError(f"{self.name}: compares nothing")
        recent_name, earlier_name = self.compares
        if "value" in self.compares:  # this feature is one of the two values
            recent, earlier = (_number(value if name == "value" else row.get(name)) for name in self.compares)
            return recent, earlier, MATERIAL_UNITS
        if recent_name is None and earlier_name is None:  # a ratio alone
            return _number(value), 1.0, 0.0
        # this feature is the change itself (its sign chose the words): measured against the earlier value, or
        # against the earlier value worked out from the recent one
        change, ratio = _number(value), self.unit == "ratio"
        with np.errstate(divide="ignore", invalid="ignore"):
            if earlier_name is not None:
                earlier = _number(row.get(earlier_name))
                recent = earlier * change if ratio else earlier + change
            else:
                recent = _number(row.get(recent_name))
                earlier = recent / change if ratio else recent - change
        return recent, earlier, MATERIAL_UNITS


def material_change(recent, earlier, direction: int, least: float = MATERIAL_UNITS, counts: bool = False):
    """Whether going from ``earlier`` to ``recent`` is a change towards risk worth saying: down for
    ``direction`` -1, up for +1, by at least ``MATERIAL_SHARE`` of the earlier value and at least ``least``
    (a whole unit); with ``counts`` (counts of whole things) also by at least ``COUNT_UNITS`` and the square root
    of the larger of the two counts. Numbers or arrays (one per customer); a missing value is never a material
    change."""
    recent, earlier = np.asarray(recent, dtype=float), np.asarray(earlier, dtype=float)
    with np.errstate(invalid="ignore"):
        change = (recent - earlier) * direction
        slack = 1e-9 * np.maximum(np.abs(earlier), 1.0)  # 8.00 down from 10.00 is a fifth, whatever the last bit
        out = (change > 0) & (change >= least - slack) & (change >= MATERIAL_SHARE * np.abs(earlier) - slack)
        if counts:
            spread = np.sqrt(np.maximum(np.abs(earlier), np.abs(recent)))
            out &= (change >= COUNT_UNITS - slack) & (change >= spread - slack)
        return out


def said_when_holds(value, operator: str, bound: float):
    """Whether ``value`` (a number or an array, one per customer) meets ``operator bound``; missing never does,
    unless the operator ends in ``or missing`` (:attr:`Feature.said_when`)."""
    value = _number(value)
    compare, _, missing = operator.partition(" or ")
    with np.errstate(invalid="ignore"):
        out = value >= bound if compare == ">=" else value <= bound
    return out | np.isnan(value) if missing == "missing" else out & ~np.isnan(value)


def _number(value):
    """A value as a float (an array as a float array); missing or not a number: NaN."""
    if isinstance(value, np.ndarray | pd.Series):
        return pd.to_numeric(pd.Series(value), errors="coerce").to_numpy(float)
    if _missing(value) or isinstance(value, str):
        return float("nan")
    return float(value)


class Unsayable(ValueError):
    """A sentence that would say something false or unreadable (a missing field, a negative amount)."""


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


def render(template: str, values: dict[str, object], currency: str = "", strict: bool = True) -> str:
    """Fill a description template (see :class:`Feature`). ``strict`` raises :class:`Unsayable` for a
    missing field or a negative number outside ``abs``; otherwise those render as they are."""

    def optional(match: re.Match) -> str:
        try:
            return _Formatter(currency, strict=True).format(match.group(1), **values)
        except Unsayable:
            return ""

    text = _OPTIONAL.sub(optional, template)
    text = _Formatter(currency, strict=strict).format(text, **values)
    return text[:1].upper() + text[1:]


def plural(word: str, count: float) -> str:
    """``word`` for ``count`` of them: ``visit|visits`` or ``category|categories``; a plain word takes the
    regular English plural (``visit`` -> visits, ``reply`` -> replies, ``match`` -> matches)."""
    one, _, many = word.partition("|")
    if abs(count) == 1:
        return one
    if many:
        return many
    if re.search(r"[^aeiou]y$", one):
        return one[:-1] + "ies"
    return one + ("es" if re.search(r"(s|x|z|ch|sh)$", one) else "s")


def money(value: float, currency: str = "") -> str:
    """An amount with the currency, as everything people read writes it (:func:`pipeline.core.money.money`): a
    symbol before it (``€1,234.50``), a code after (``1,234.50 EUR``)."""
    return format_money(value, currency, 2)


class _Formatter(string.Formatter):
    """str.format with the people-facing specs of feature templates (``n``, ``money``, ``count:``, ``word:``,
    ``ago``, ``in``, ``every``, ``abs ``)."""

    def __init__(self, currency: str = "", strict: bool = True) -> None:
        super().__init__()
        self.currency = currency
        self.strict = strict

    def get_value(self, key, args, kwargs):  # noqa: D102
        return kwargs.get(key) if isinstance(key, str) else super().get_value(key, args, kwargs)

    def format_field(self, value, format_spec):  # noqa: D102
        if _missing(value):
            if self.strict:
                raise Unsayable("missing field")
            return "unknown"
        if isinstance(value, str) or (isinstance(value, bool) and not format_spec):
            return str(value)
        if isinstance(value, bool):
            value = int(value)
        if format_spec.startswith("abs "):
            value, format_spec = abs(value), format_spec[4:]
        elif self.strict and isinstance(value, int | float) and value < 0:
            raise Unsayable("negative number")
        if format_spec == "n":
            return f"{round(value):,}"
        if format_spec == "money":
            return money(value, self.currency)
        if format_spec.startswith("count:"):
            return f"{round(value):,} {plural(format_spec[6:], round(value))}"
        if format_spec.startswith("word:"):
            return plural(format_spec[5:], round(value))
        if format_spec in ("ago", "in"):
            days = round(value)
            said = f"{days:,} {plural('day', days)}"
            return "today" if days == 0 else f"{said} ago" if format_spec == "ago" else f"in {said}"
        if format_spec == "every":
            days = round(value)
            return "every day" if days == 1 else f"every {days:,} {plural('day', days)}"
        return super().format_field(value, format_spec)


def day_end_sql(day: date) -> str:
    """SQL: the first instant after ``day``, the exclusive end of everything known on that day."""
    return f"TIMESTAMP '{(day + timedelta(days=1)).isoformat()} 00:00:00'"


@dataclass(frozen=True)
class Context:
    """What a family needs to know to compute features as of one date."""

    as_of: date
    windows_days: tuple[int, ...] = (7, 30, 90, 180, 365)
    trend_window_days: int = 90
    horizon_days: int = 90
    btyd_model: str = "bgnbd"
    tables: frozenset[str] = frozenset({"transactions"})
    profile_columns: tuple[tuple[str, str], ...] = ()  # (column, duckdb type) of customers extras
    # Chosen once per build from the data as of the as-of date (``pipeline.build.features.data_choices``) and kept with
    # a model, so that scoring builds the same columns: see ``features/activity.py``.
    event_types: tuple[str, ...] = ()  # event types with activity features of their own
    valued_event_types: tuple[str, ...] = ()  # those of them whose events carry values (mean and sum)
    other_event_types: tuple[str, ...] = ()  # types in the data without features of their own (over the limit)
    event_labels: tuple[tuple[str, str], ...] = ()  # (event type, words for reasons) from features.event_labels
    event_ratios: tuple[tuple[str, str, int, int], ...] = ()  # (numerator, denominator, window days, risk direction)
    risky_event_types: tuple[str, ...] = ()  # types of which more events mean more risk (features.risky_event_types)
    transactions: str = "purchases"  # purchases | mixed (renewal charges left out of tx) | billing (renewals only)
    exclude: tuple[str, ...] = ()  # families and single features switched off (features.exclude)

    @property
    def as_of_sql(self) -> str:
        """The as-of date as a SQL DATE literal."""
        return f"DATE '{self.as_of.isoformat()}'"

    @property
    def end_sql(self) -> str:
        """The first instant after the as-of day (``--as-of`` means the end of that day)."""
        return day_end_sql(self.as_of)

    def days_since(self, expr: str) -> str:
        """SQL: whole days from the date of ``expr`` to the as-of date (same day = 0)."""
        return f"date_diff('day', CAST({expr} AS DATE), {self.as_of_sql})"

    def within(self, expr: str, days: int, offset_days: int = 0) -> str:
        """SQL: ``expr`` falls in the ``days``-long window ending ``offset_days`` before the as-of date."""
        return self.in_window(days, offset_days, age=self.days_since(expr))

    @staticmethod
    def in_window(days: int, offset_days: int = 0, age: str = "age") -> str:
        """SQL: a row whose ``age`` (whole days before the as-of date, as in ``tx`` and ``purchases``) falls
        in the ``days``-long window ending ``offset_days`` before the as-of date."""
        return f"({age} >= {offset_days} AND {age} < {offset_days + days})"

    @staticmethod
    def count_orders(where: str | None = None) -> str:
        """SQL aggregate over ``purchases``: the number of orders (optionally of those whose rows match
        ``where``, a condition on the order's day such as ``in_window``)."""
        return f"count(*) FILTER (WHERE new_order{f' AND {where}' if where else ''})"


@dataclass(frozen=True)
class Family:
    """A feature family: its features and one vectorised computation of all of them.

    Transaction families declare ``aggregates``: per-customer aggregate expressions (``"sum(amount) AS
    spend_lifetime"``) over the shared relations ``tx`` (one row per transaction line, returns included)
    and ``purchases`` (one row per purchase line). An order is an order id on one day (lines of one order
    id on two days are two orders, each on its own day); in ``purchases``, ``new_order`` is true on one
    line of each order, so ``Context.count_orders`` counts orders and an average per order is a sum over
    lines divided by it. ``gap`` is > 0 on exactly one line per pair of consecutive purchase days of the
    customer, where it is the days between them (0 or NULL elsewhere). The builder
    computes the aggregates of every family over one relation in a single pass (one GROUP BY
    ``customer_key``, the customer's integer key in these relations), so aggregate names are unique
    across families.
    Event families declare theirs over ``ev`` (one row per event: ``customer_id``, ``timestamp``,
    ``event_type``, ``value`` and ``age``, whole days before the as-of date), grouped by ``customer_id``:
    the events, often many times the transactions, are read once per shard for every event family.
    ``columns`` maps a feature to its SQL expression over those aggregate columns; a feature not in
    ``columns`` is the aggregate of its name.

    Families on the optional tables give ``sql`` instead: one query over the as-of views (``ev``,
    ``inv``, ``subs``, ``cust``, or ``tx``, which has ``customer_id`` too) grouped by ``customer_id``, whose
    columns are the features; a family with both reads its own aggregates in ``agg_<relation>``. Feature and
    aggregate names are unique, so ``columns`` refers to any of them by name.

    Families that fit population-level parameters (BTYD) also give ``finish``: their ``columns`` then are
    per-customer statistics, and ``finish`` gets those statistics for every customer with history (all
    customer shards together, so the fit sees everyone; ordered by ``customer_id``) and returns the
    features keyed by ``customer_id``.

    ``label`` is the family in the words people read (drivers in the report, the waterfall, the command
    line): "Time since last purchase", not ``recency``; by default the name in words (:func:`words`).
    """

    name: str
    requires: tuple[str, ...]
    features: Callable[[Context], list[Feature]]
    sql: Callable[[Context], str] | None = None
    aggregates: Callable[[Context], dict[str, list[str]]] | None = None
    columns: Callable[[Context], dict[str, str]] | None = None
    finish: Callable[[pd.DataFrame, Context], pd.DataFrame] | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", words(self.name))

    def available(self, ctx: Context) -> bool:
        return all(t in ctx.tables for t in self.requires)


FAMILIES: dict[str, Family] = {}


def words(name: object) -> str:
    """A name in words: underscores to spaces, first letter capital (``late_payment`` -> "Late payment")."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else text


def family_label(name: object) -> str:
    """The words people read for a family: its declared ``label``; a family not registered in this process
    (a module not imported, or since removed) is named by its name in words, never dropped."""
    family = FAMILIES.get(str(name))
    return family.label if family is not None else words(name)


def register(family: Family) -> Family:
    """Add a family to the registry (each family module calls this once at import)."""
    if family.name in FAMILIES:
        raise ValueError(f"feature family {family.name!r} registered twice")
    FAMILIES[family.name] = family
    return family


@dataclass(frozen=True)
class FeatureSpec:
    """The ordered features of one build, with metadata: ``features`` are what a model is trained on (its inputs, in
    order); ``conditions`` the condition-only features (:attr:`Feature.model_input` False), columns of the feature
    table that reasons' and actions' conditions read and no model does."""

    features: tuple[Feature, ...] = field(default_factory=tuple)
    conditions: tuple[Feature, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        wrong = [f.name for f in self.features if not f.model_input] + [f.name for f in self.conditions if f.model_input]
        if wrong:
            raise ValueError(f"{wrong[0]}: a model input among the conditions or a condition-only feature among the "
                             "inputs (FeatureSpec.of sorts them)")

    @classmethod
    def of(cls, features: list[Feature] | tuple[Feature, ...]) -> FeatureSpec:
        """A build's features sorted into model inputs and condition-only ones, each in the order given."""
        return cls(tuple(f for f in features if f.model_input), tuple(f for f in features if not f.model_input))

    @property
    def names(self) -> list[str]:
        """The model's inputs, in order."""
        return [f.name for f in self.features]

    @property
    def all_features(self) -> tuple[Feature, ...]:
        """Every feature of the build, the model's inputs first, then the condition-only ones."""
        return (*self.features, *self.conditions)

    @property
    def table_names(self) -> list[str]:
        """Every feature column of the feature table: the model's inputs, then the condition-only features (the
        table itself has each family's columns together)."""
        return [f.name for f in self.all_features]

    @property
    def condition_names(self) -> list[str]:
        """The condition-only features: in the feature table, never given to a model."""
        return [f.name for f in self.conditions]

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "categorical"]

    def __getitem__(self, name: str) -> Feature:
        for f in self.all_features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def context(self) -> list[str]:
        """Features shown on a customer's card but never drivers (model outputs, static attributes)."""
        return [f.name for f in self.features if f.context]

    @property
    def monotone(self) -> tuple[tuple[str, int], ...]:
        """(name, risk direction) of the features whose direction of risk is certain (:attr:`Feature.monotone`)."""
        return tuple((f.name, int(f.risk_direction)) for f in self.features if f.monotone)

    def to_records(self) -> list[dict[str, object]]:
        return [f.__dict__.copy() for f in self.all_features]

    @classmethod
    def from_records(cls, records: list[dict[str, object]]) -> FeatureSpec:
        return cls.of([Feature(**r) for r in records])
