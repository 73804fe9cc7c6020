"""The input data contract: tables, canonical columns, their kinds and which are required."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["id", "timestamp", "number", "text", "bool"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False
    nullable: bool = True


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    required: bool = False
    keep_extra_columns: bool = False  # customers: extra columns are profile attributes
    # (earlier, later) column pairs: a row whose later date comes before its earlier one is unusable
    ordered: tuple[tuple[str, str], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _id() -> Column:
    return Column("customer_id", "id", required=True, nullable=False)


SCHEMAS: dict[str, TableSchema] = {
    "transactions": TableSchema(
        "transactions",
        (
            _id(),
            Column("timestamp", "timestamp", required=True, nullable=False),
            Column("amount", "number", required=True, nullable=False),
            Column("order_id", "text"),
            Column("quantity", "number"),
            Column("category", "text"),
            Column("discount", "number"),
            Column("is_return", "bool"),
        ),
        required=True,
    ),
    "customers": TableSchema(
        "customers",
        (_id(), Column("signup_date", "timestamp", required=True, nullable=False)),
        keep_extra_columns=True,
    ),
    "events": TableSchema(
        "events",
        (
            _id(),
            Column("timestamp", "timestamp", required=True, nullable=False),
            Column("event_type", "text", required=True, nullable=False),
            Column("value", "number"),
        ),
    ),
    "invoices": TableSchema(
        "invoices",
        (
            _id(),
            Column("invoice_id", "text"),
            Column("issued_at", "timestamp", required=True, nullable=False),
            Column("due_date", "timestamp", required=True, nullable=False),
            Column("paid_at", "timestamp", required=True),
            Column("amount", "number", required=True, nullable=False),
        ),
        ordered=(("issued_at", "due_date"),),
    ),
    "subscriptions": TableSchema(
        "subscriptions",
        (
            _id(),
            Column("start_date", "timestamp", required=True, nullable=False),
            Column("end_date", "timestamp", required=True),
            Column("plan", "text"),
            Column("price", "number"),
        ),
        ordered=(("start_date", "end_date"),),
    ),
}

KNOWN_EVENT_TYPES = (
    "visit",
    "support_ticket",
    "complaint",
    "nps",
    "csat",
    "email_open",
    "review",
    "loyalty_points_earned",
    "loyalty_points_redeemed",
)
