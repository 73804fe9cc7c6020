"""Feature metadata and the registry of feature families.

A family is a module in ``features/`` that registers itself here: the tables it needs, the features it
produces (with metadata) and how to compute all of them per customer in SQL (aggregates merged with the
other families' over the same relation, or one query of its own; plus, for fitted families, one
vectorised function). Metadata is declared once and read by reports, docs and driver
reasons alike.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import pandas as pd


@dataclass(frozen=True)
class Feature:
    """One feature column and what it means.

    Attributes:
        name: column name, full words with window and unit (``spend_last_90d``).
        family: the family vocabulary used to group drivers.
        unit: unit of the value (``days``, ``currency``, ``count``, ``ratio``, ``share``, ``score``, ``flag``).
        description: template rendering a plain sentence for one customer. ``{value}`` is this feature's
            value; any other ``{feature_name}`` is that feature of the same customer.
        risk_direction: +1 if a higher value means more churn risk, -1 if lower, 0 if neither.
        fill: value for a customer with no rows for this family (e.g. 0 purchases); None keeps it missing.
        kind: ``numeric`` or ``categorical``.
    """

    name: str
    family: str
    unit: str
    description: str
    risk_direction: Literal[-1, 0, 1]
    fill: float | None = None
    kind: Literal["numeric", "categorical"] = "numeric"

    def describe(self, value: object, row: dict[str, object] | None = None) -> str:
        """Render the description for one customer; a missing value gets a plain 'no record' sentence."""
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return f"No record yet of {self.name.replace('_', ' ')}"
        values = dict(row or {})
        values["value"] = value
        return _FORMATTER.format(self.description, **values)


class _SafeFormatter(string.Formatter):
    """str.format that renders missing or NaN values as 'unknown' instead of failing."""

    def get_value(self, key, args, kwargs):  # noqa: D102
        return kwargs.get(key) if isinstance(key, str) else super().get_value(key, args, kwargs)

    def format_field(self, value, format_spec):  # noqa: D102
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            return "unknown"
        if isinstance(value, str | bool) and format_spec and format_spec[-1] in "fdeg%":
            return str(value)
        return super().format_field(value, format_spec)


_FORMATTER = _SafeFormatter()


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
    ``columns`` maps a feature to its SQL expression over those aggregate columns; a feature not in
    ``columns`` is the aggregate of its name.

    Families on the optional tables give ``sql`` instead: one query over the as-of views (``ev``,
    ``inv``, ``subs``, ``cust``, or ``tx``, which has ``customer_id`` too) grouped by ``customer_id``, whose
    columns are the features. Feature and aggregate names are unique, so ``columns`` refers to any of them by name.

    Families that fit population-level parameters (BTYD) also give ``finish``: their ``columns`` then are
    per-customer statistics, and ``finish`` gets those statistics for every customer with history (all
    customer shards together, so the fit sees everyone; ordered by ``customer_id``) and returns the
    features keyed by ``customer_id``.
    """

    name: str
    requires: tuple[str, ...]
    features: Callable[[Context], list[Feature]]
    sql: Callable[[Context], str] | None = None
    aggregates: Callable[[Context], dict[str, list[str]]] | None = None
    columns: Callable[[Context], dict[str, str]] | None = None
    finish: Callable[[pd.DataFrame, Context], pd.DataFrame] | None = None

    def available(self, ctx: Context) -> bool:
        return all(t in ctx.tables for t in self.requires)


FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add a family to the registry (each family module calls this once at import)."""
    if family.name in FAMILIES:
        raise ValueError(f"feature family {family.name!r} registered twice")
    FAMILIES[family.name] = family
    return family


@dataclass(frozen=True)
class FeatureSpec:
    """The ordered features of one build, with metadata: what a model is trained on."""

    features: tuple[Feature, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "categorical"]

    def __getitem__(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_records(self) -> list[dict[str, object]]:
        return [f.__dict__.copy() for f in self.features]

    @classmethod
    def from_records(cls, records: list[dict[str, object]]) -> FeatureSpec:
        return cls(tuple(Feature(**r) for r in records))
