"""What validation says: each problem found with its rows, an example and the fix, every table's account of its rows
(read = used + quarantined), the report of a run, and the wording the format notices and read errors share."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from pipeline.core.errors import DataError
from pipeline.data.sources import TableSource

FIXES = {
    "empty customer id": "fill in the customer id or remove the row",
    "unparseable timestamp": "use ISO 8601 dates such as 2024-03-31 or 2024-03-31T14:05:00, or give the "
                             "format as input.date_format (e.g. %d.%m.%Y)",
    "non-numeric value": "use plain numbers without currency symbols; numbers written with a decimal comma or "
                         "thousands separators are read by setting input.decimal_separator and "
                         "input.thousands_separator",
    "non-finite number": "replace NaN and infinite values with numbers, or leave the cell empty where the column "
                         "is optional",
    "number out of range": "numbers must be below 100 trillion in size; check the column holds amounts, not ids "
                           "or codes",
    "invalid boolean": "use true/false or 1/0",
    "missing value": "fill in the value or remove the row",
    "timestamp in the future": "check the export's clock and time zone; history cannot be later than now (read "
                               "against UTC, with 14 hours' allowance for local times without a zone)",
    "placeholder date": "1900-01-01, 1970-01-01 and 'epoch' stand in for an unknown date: leave the cell empty where "
                        "the column is optional, or export the real date",
    "date before 1900": "a date this early is no date of a customer's history (a default such as 0001-01-01): export "
                        "the real date, or leave the cell empty where the column is optional",
    "negative quantity on a purchase": "a purchase has a quantity of zero or more; record a return with is_return "
                                       "true or a negative amount, or correct the quantity",
    "mixed time zones": "export every timestamp with a UTC offset, or every one without",
    "exact duplicate row": "remove repeated rows, or add an id column (order_id, invoice_id) if they are distinct records",
    "due_date before issued_at": "an invoice falls due on or after the day it is issued; check the two columns "
                                 "are not swapped",
    "end_date before start_date": "a subscription ends on or after the day it starts; check the two columns are "
                                  "not swapped",
    "customer id on several differing rows": "keep one row per customer; the table holds one record per customer "
                                             "(its attributes are static), so which row is right cannot be told",
    "invoice id on several differing rows": "keep one row per invoice (its latest state: paid_at filled in once "
                                            "paid), so which row is right need not be guessed",
}


@dataclass(frozen=True)
class Problem:
    """One kind of problem in one table/column, with how many rows and an example."""

    table: str
    column: str
    reason: str
    rows: int
    example: str
    fix: str
    fatal: bool = False

    def message(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        rows = f"{self.rows:,} row{'s' if self.rows != 1 else ''}: " if self.rows else ""
        example = f" Example: {self.example}." if self.example else ""
        return f"{where}: {rows}{self.reason}.{example} Fix: {self.fix}."


@dataclass(frozen=True)
class TableAccount:
    table: str
    source: str
    rows_read: int
    rows_used: int
    rows_quarantined: int

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_used + self.rows_quarantined


@dataclass
class ValidationReport:
    """What validation found and what it did with every row."""

    accounts: list[TableAccount] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def tables(self) -> list[str]:
        return [a.table for a in self.accounts if a.rows_used > 0]

    @property
    def rows_quarantined(self) -> int:
        return sum(a.rows_quarantined for a in self.accounts)


# The reason (with no single column) of every copy after the first of an exact duplicate row.
DUPLICATE = "exact duplicate row|"


def _repeated(key: str) -> str:
    return f"{key.replace('_', ' ')} on several differing rows|{key}"


def _separator(char: str) -> str:
    return {" ": "a space", "'": "an apostrophe", ".": "a dot", ",": "a comma"}[char]


def _set_line(table: str, **settings: str) -> str:
    """The --set options that give a table's format settings (global ones: every table is usually alike)."""
    named = {" ": "space", "'": "apostrophe"}
    return " ".join(f"--set input.{k}={named.get(v, v)}" for k, v in settings.items())


def _fields_fix(delimiter: str) -> str:
    return (f"give every line the header's fields, and put any value holding {delimiter} or a double quote in "
            "double quotes (a quote inside as two quotes)")


def _unreadable(source: TableSource, exc: duckdb.Error) -> DataError:
    """The engine cannot read a source at all (damaged Parquet, a CSV that is not UTF-8)."""
    said = []  # the engine's own lines up to its suggestions (which name its options, not this tool's)
    for line in (ln.strip() for ln in str(exc).split("\n")):
        if line.startswith(("Possible", "file =", "LINE ")) or len(said) == 3:
            break
        if line:
            said.append(line.removeprefix("Invalid Input Error: ").removeprefix("IO Error: "))
    said = "; ".join(said)
    if not source.is_text:
        fix = "write it again as Parquet: it is cut short, damaged or not a Parquet file"
    elif "utf-8" in said.lower() or "unicode" in said.lower():
        fix = (f"set its encoding (--set input.tables.{source.name}.encoding=cp1251, gbk, utf-16, latin-1...), or "
               "save it as UTF-8 text (a spreadsheet's 'CSV UTF-8' format)")
    elif "Number of Columns" in said:
        fix = _fields_fix("the delimiter")
    else:
        fix = "export it again as comma-separated text with a header row"
    return DataError(f"{source.label}: cannot be read ({said}). Fix: {fix}.")
