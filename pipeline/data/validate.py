"""Validation of input tables inside the engine: typed, checked, quarantined, accounted for.

Every table gets a checked relation carrying each row's typed values and the first reason it is
unusable (or NULL): a table for text sources (CSV is parsed once), a view for typed sources (Parquet,
frames), which are then read in place by every later scan. Clean rows feed the feature stages; bad rows
either stop the run (``on_bad_rows: fail``) or go to quarantine with their reason. The accounting always balances:
rows read = rows used + rows quarantined.

A table is checked in three steps, each defined once for every engine: how it is read is decided from counts over
its whole source, asked through a ``Scan`` (``plan_table``); its rows are checked in the engine (``check_rows``);
and what was found becomes its account, problems and notices (``table_report``). The Spark engine runs the same
counts and checks on shards of the rows and adds them up (``pipeline.engine.spark.validate``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

import duckdb

from pipeline.core.config import ColumnsConfig, FormatConfig, InputConfig, ValidationConfig
from pipeline.core.errors import DataError
from pipeline.core.schema import KNOWN_EVENT_TYPES, SCHEMAS, Column, TableSchema
from pipeline.core.sql import sql_string
from pipeline.data.sources import TableSource, first_bad_bytes, likely_encoding, readable, unusable_entry

TZ_AWARE = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$"

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
    "timestamp in the future": "check the export's clock and time zone; history cannot be later than now",
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
# tables holding one record per key: a key on several rows that differ is a conflict (empty keys are not keys)
KEYS = {"customers": "customer_id", "invoices": "invoice_id"}


def _repeated(key: str) -> str:
    return f"{key.replace('_', ' ')} on several differing rows|{key}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _typed_expr(col: Column, raw: str, src_type: str, form: ColumnFormat | None = None) -> str:
    """SQL giving the column's canonical type; NULL where the raw value cannot be read."""
    form = form or ColumnFormat()
    is_text = src_type.upper().startswith("VARCHAR")
    if col.kind == "id":
        if form.id_form == "float":
            return f"CASE WHEN isfinite(CAST({raw} AS DOUBLE)) THEN CAST(CAST({raw} AS BIGINT) AS VARCHAR) END"
        if form.id_form == "float text":
            return f"regexp_replace(trim({raw}), '\\.0+$', '')"
        return f"CAST({raw} AS VARCHAR)"
    if col.kind == "timestamp":
        if is_text:
            return _date_sql(raw, form.dates)
        if "TIME ZONE" in src_type.upper():
            return f"CAST(TRY_CAST({raw} AS TIMESTAMPTZ) AS TIMESTAMP)"
        return f"TRY_CAST({raw} AS TIMESTAMP)"
    if col.kind == "number":
        return _number_sql(raw, form.decimal, form.thousands) if is_text else f"TRY_CAST({raw} AS DOUBLE)"
    if col.kind == "bool":
        return f"TRY_CAST({raw} AS BOOLEAN)"
    return f"CAST({raw} AS VARCHAR)"


_REASON_BY_KIND = {"timestamp": "unparseable timestamp", "number": "non-numeric value", "bool": "invalid boolean"}


# Numbers: (decimal separator, thousands separator) readings tried on a text column, in order of preference
# when several read every value alike. The first, a dot and no grouping, is the engine's own reading.
NUMBER_FORMATS = (("." , ""), (",", ""), (".", ","), (",", "."), (",", " "), (".", " "), (".", "'"), (",", "'"))
SPACES = " \u00a0\u202f"  # a space as thousands separator: plain, no-break and narrow no-break
# At least this many values holding a separator that reads both ways ("1.250": 1.25 or 1,250) decide it from
# the column: every one of them has exactly three digits after it and no other separator, so it groups
# thousands. Fewer cannot tell, and the run stops asking which it is.
MIN_AMBIGUOUS_EVIDENCE = 10
# Day/month orders looked for when timestamps are not ISO 8601 and no input.date_format is given.
DATE_FORMATS = ("%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%Y/%m/%d", "%Y.%m.%d")
# Amounts are summed as DECIMAL(18, 4) (pipeline.engine.duckdb.EXACT); larger magnitudes cannot be held.
NUMBER_LIMIT = 1e14
FLOAT_TYPES = ("FLOAT", "DOUBLE", "DECIMAL", "REAL")


@dataclass(frozen=True)
class ColumnFormat:
    """How one source column is read: its number separators, date formats or id form."""

    decimal: str = "."
    thousands: str = ""
    dates: tuple[str, ...] = ()
    id_form: str = ""  # "float": typed whole numbers; "float text": "291.0" text; "": as it is


def _number_pattern(decimal: str, thousands: str) -> str:
    d = re.escape(decimal)
    t = f"[{SPACES}]" if thousands == " " else re.escape(thousands)
    integer = r"\d+" if not thousands else rf"(\d{{1,3}}|[1-9]\d{{0,2}}({t}\d{{3}})+)"
    return rf"[+-]?({integer}({d}\d*)?|{d}\d+)"


def _number_sql(raw: str, decimal: str, thousands: str) -> str:
    """SQL: the number a text value holds under the separators; NULL where it does not fit them."""
    if (decimal, thousands) == (".", ""):
        return f"TRY_CAST({raw} AS DOUBLE)"
    text = f"trim({raw})"
    if thousands == " ":
        text = f"regexp_replace({text}, '[{SPACES}]', '', 'g')"
    elif thousands:
        text = f"replace({text}, {sql_string(thousands)}, '')"
    if decimal == ",":
        text = f"replace({text}, ',', '.')"
    return (f"CASE WHEN regexp_full_match(trim({raw}), {sql_string(_number_pattern(decimal, thousands))}) "
            f"THEN TRY_CAST({text} AS DOUBLE) END")


def _date_sql(raw: str, formats: tuple[str, ...]) -> str:
    """SQL: the timestamp (UTC) a text value holds, in one of ``formats`` or else ISO 8601."""
    iso = f"CAST(TRY_CAST({raw} AS TIMESTAMPTZ) AS TIMESTAMP)"
    if not formats:
        return iso
    listed = "[" + ", ".join(sql_string(f) for f in formats) + "]"
    return f"coalesce(CAST(try_strptime(trim({raw}), {listed}) AS TIMESTAMP), {iso})"


def _with_times(day_format: str) -> tuple[str, ...]:
    return day_format, f"{day_format} %H:%M", f"{day_format} %H:%M:%S"


def _separator(char: str) -> str:
    return {" ": "a space", "'": "an apostrophe", ".": "a dot", ",": "a comma"}[char]


def _set_line(table: str, **settings: str) -> str:
    """The --set options that give a table's format settings (global ones: every table is usually alike)."""
    named = {" ": "space", "'": "apostrophe"}
    return " ".join(f"--set input.{k}={named.get(v, v)}" for k, v in settings.items())


class Scan(Protocol):
    """What deciding how a table is read asks of its source rows: their columns' engine types, and aggregates over
    them that add up over any split of the rows (counts, and a least value as an example). One engine runs them
    on the source as it is (``SourceScan``); one that holds the rows in shards runs the same SQL on each shard and
    adds the counts up (``pipeline.engine.spark.validate``), so both decide alike over the whole column."""

    relation: str  # the FROM-clause expression the row checks read the source with

    def types(self) -> dict[str, str]:
        """Source column -> its engine type, in the source's order."""

    def counts(self, select: str, where: str = "") -> tuple:
        """The one row of ``SELECT select FROM source [WHERE where]``, where every column is a ``count(...)``."""

    def example(self, expr: str, where: str = "") -> object:
        """The least value of ``expr`` over the rows ``where`` holds (None when there is none): an example that
        does not depend on the order rows are read in."""

    def misfit(self, source: TableSource, header: str) -> DataError | None:
        """The error for a text file whose lines do not all split into the header's fields (None: not known)."""


@dataclass(frozen=True)
class SourceScan:
    """``Scan`` of a source read in place by a DuckDB connection."""

    con: duckdb.DuckDBPyConnection
    relation: str

    def types(self) -> dict[str, str]:
        return {row[0]: row[1] for row in self.con.execute(f"DESCRIBE SELECT * FROM {self.relation}").fetchall()}

    def counts(self, select: str, where: str = "") -> tuple:
        return self.con.execute(f"SELECT {select} FROM {self.relation}{_where(where)}").fetchall()[0]

    def example(self, expr: str, where: str = "") -> object:
        return self.con.execute(f"SELECT min({expr}) FROM {self.relation}{_where(where)}").fetchall()[0][0]

    def misfit(self, source: TableSource, header: str) -> DataError | None:
        return _misfit_lines(self.con, source, header) if source.is_csv else None


def _where(condition: str) -> str:
    return f" WHERE {condition}" if condition else ""


def _profile(scan: Scan, schema: TableSchema, resolved: dict[str, str],
             types: dict[str, str], source: TableSource) -> dict[str, dict[str, int]]:
    """One pass over the source counting what decides how each column is read: per text timestamp column
    the values with a UTC offset and (with no date format given) those that start like ISO 8601; per text
    number column the values the engine reads, those with a dot and those with three characters after it
    (a dot that may group thousands: "1.250"); per text id column those with a dot ("291.0"); per float
    id column the whole numbers. Typed (Parquet) columns other than float ids need none of it."""
    aggregates: dict[tuple[str, str], str] = {}
    for col in schema.columns:
        src = resolved.get(col.name)
        if src is None:
            continue
        q, text = _quote(src), types[src].upper().startswith("VARCHAR")
        # Only counts, LIKEs and casts besides the time zone's regular expression (which this pass was alone
        # before): the exact tests run in a pass of their own, on a column whose counts call for them.
        if col.kind == "timestamp" and text:
            aggregates[col.name, "present"] = f"count({q})"
            aggregates[col.name, "aware"] = f"count(*) FILTER (WHERE regexp_matches({q}, '{TZ_AWARE}'))"
            if not source.fmt.date_formats:  # ISO 8601 (YYYY-...) or not: other formats are looked for only if not
                aggregates[col.name, "iso"] = f"count(*) FILTER (WHERE substr({q}, 5, 1) = '-')"
        elif col.kind == "number" and text:
            aggregates[col.name, "present"] = f"count({q})"
            aggregates[col.name, "read"] = f"count(TRY_CAST({q} AS DOUBLE))"
            aggregates[col.name, "dotted"] = f"count(*) FILTER (WHERE contains({q}, '.'))"
            # values a dot could group in thousands (1.250): a LIKE is all the usual column costs here;
            # _number_format checks them in full only when every dotted value passes it
            aggregates[col.name, "dot3"] = f"count(*) FILTER (WHERE {q} LIKE '%.___')"
        elif col.kind == "id" and text and source.is_text:  # typed files hold float ids as numbers
            aggregates[col.name, "present"] = f"count({q})"
            aggregates[col.name, "dotted"] = f"count(*) FILTER (WHERE contains({q}, '.'))"
        elif col.kind == "id" and types[src].upper().startswith(FLOAT_TYPES):
            number = f"CAST({q} AS DOUBLE)"
            aggregates[col.name, "present"] = f"count(*) FILTER (WHERE isfinite({number}))"
            aggregates[col.name, "whole"] = (f"count(*) FILTER (WHERE isfinite({number}) AND {number} = trunc({number}) "
                                             f"AND abs({number}) < 9007199254740992)")
    if not aggregates:
        return {}
    values = scan.counts(", ".join(aggregates.values()))
    out: dict[str, dict[str, int]] = {}
    for (column, stat), value in zip(aggregates, values, strict=True):
        out.setdefault(column, {})[stat] = value
    return out


def _id_form(scan: Scan, source: TableSource, src: str, src_type: str, stats: dict[str, int]) -> tuple[str, str]:
    """How an id column is read, and a note: float ids holding whole numbers become those integers
    ("291.0" -> "291", as pandas writes an integer column with gaps); floats that are not whole numbers
    cannot be made exact ids, and stop the run. Text ids that are not all float-like stay as they are."""
    floats = src_type.upper().startswith(FLOAT_TYPES)
    q = _quote(src)
    if floats:
        present, whole = stats["present"], stats["whole"]
    else:  # text: only a column whose every id holds a dot is looked at further
        present = stats["present"]
        if not present or stats["dotted"] < present:
            return "", ""
        floaty, whole = scan.counts(
            rf"count(*) FILTER (WHERE regexp_full_match(trim({q}), '-?\d+\.\d+')), "
            rf"count(*) FILTER (WHERE regexp_full_match(trim({q}), '-?\d+\.0+'))")
        if floaty < present:
            return "", ""
    if whole == present:
        kind = "float (a number type)" if floats else "text written as floats"
        return ("float" if floats else "float text"), (
            f"{source.name}: customer ids in {source.label} are {kind} holding whole numbers (291.0); read as those "
            "integers (291)")
    test = (f"isfinite(CAST({q} AS DOUBLE)) AND CAST({q} AS DOUBLE) <> trunc(CAST({q} AS DOUBLE))" if floats else
            rf"NOT regexp_full_match(trim({q}), '-?\d+\.0+')")
    example = scan.example(f"CAST({q} AS VARCHAR)", test)
    shown = example if example is not None else "?"
    raise DataError(
        f"{source.label}: column {src} holds customer ids as floats, and {present - whole:,} of them are not whole "
        f"numbers (e.g. {shown}), so they cannot be matched exactly to the ids of the other tables. Fix: export "
        "the ids as text or whole numbers (in pandas: df['customer_id'].astype('Int64') or .astype(str) before "
        "writing)")


def _number_format(scan: Scan, source: TableSource, column: str, src: str, stats: dict[str, int],
                   fmt: FormatConfig) -> tuple[tuple[str, str], str]:
    """The separators a text number column is read with, and a note when they were detected.

    Given separators are used as they are. Otherwise the engine's reading (a dot, no grouping) is kept when
    it reads every value and no dot could group thousands; only then is the column read under each other
    reading (one more pass, on such columns only), and the one that reads the most values wins. Readings
    that read every value but differently ("1.250" as 1.25 or 1250) are settled from the whole column or
    stop the run: never silently.
    """
    given_d, given_t = fmt.decimal_separator, fmt.thousands_char
    if given_d and given_t:
        return (given_d, given_t), ""
    candidates = [(d, t) for d, t in NUMBER_FORMATS if (not given_d or d == given_d) and (not given_t or t == given_t)]
    q = _quote(src)
    ambiguous_dot = False
    if stats["dotted"] > 0 and stats["dot3"] == stats["dotted"]:  # every dot has three characters after it
        dot3, long = scan.counts(
            rf"count(*) FILTER (WHERE regexp_full_match(trim({q}), '[+-]?[1-9]\d{{0,2}}\.\d{{3}}')), "
            rf"count(*) FILTER (WHERE regexp_full_match(trim({q}), '[+-]?\d{{4,}}'))")
        ambiguous_dot = dot3 == stats["dotted"] and long == 0  # 1250 beside 1.250: a decimal dot
    if (".", "") in candidates and stats["read"] == stats["present"] and (given_d == "." or not ambiguous_dot):
        return (".", ""), ""
    present = f"NULLIF(trim({q}), '') IS NOT NULL"
    counts = scan.counts(
        f"{', '.join(f'count({_number_sql(q, d, t)})' for d, t in candidates)}, "
        f"count(*) FILTER (WHERE contains({q}, '.')), count(*) FILTER (WHERE contains({q}, ','))", present)
    holding = {".": counts[-2], ",": counts[-1]}
    best = max(counts[: len(candidates)])
    tied = [c for c, n in zip(candidates, counts, strict=False) if n == best]
    # tied readings that give the same number for every value are one reading: keep the first of each
    values = [_number_sql(q, d, t) for d, t in tied]
    differs = scan.counts(", ".join(f"count(*) FILTER (WHERE {values[0]} IS DISTINCT FROM {v})" for v in values[1:]),
                          present) if len(tied) > 1 else ()
    readings = [tied[0]] + [c for c, n in zip(tied[1:], differs, strict=True) if n]
    chosen = readings[0]
    where = f"{source.name}.{column}"
    grouping = next((r for r in readings if r[1] in (".", ",")), None)
    decimal_reading = next((r for r in readings if grouping and r[0] == grouping[1]), None)
    if len(readings) > 1 and grouping and decimal_reading:  # a separator read as decimal by one, thousands by another
        char = grouping[1]
        example = scan.example(f"trim({q})", f"contains({q}, {sql_string(char)})")
        as_decimal = example.replace(",", ".") if char == "," else example
        as_thousands = example.replace(char, "")
        if holding[char] < MIN_AMBIGUOUS_EVIDENCE:
            raise DataError(
                f"{source.label}: column {src} ({where}): values such as {example!r} read both as {as_decimal} "
                f"({_separator(char)} as decimal separator) and as {as_thousands} ({_separator(char)} grouping "
                f"thousands), and only {holding[char]} value(s) hold {_separator(char)}, too few to tell from the "
                f"column. Fix: {_set_line(source.name, thousands_separator=char)} if {example} means "
                f"{as_thousands}, or {_set_line(source.name, decimal_separator=decimal_reading[0])} if it means "
                f"{as_decimal} (for this table only: input.tables.{source.name}.…)")
        chosen = grouping
        return chosen, (
            f"{where}: every one of the {holding[char]:,} values holding {_separator(char)} has exactly three digits "
            f"after it and no other separator (e.g. {example!r}), so {_separator(char)} was read as grouping "
            f"thousands ({example} = {as_thousands}). If it is a decimal separator ({example} = {as_decimal}), "
            f"set {_set_line(source.name, decimal_separator=char)}")
    if chosen == (".", "") or best == 0:
        return (".", ""), ""
    if given_d or given_t:  # what was not given follows from what was: nothing to say
        return chosen, ""
    decimal, thousands = chosen
    grouping = f" and {_separator(thousands)} grouping thousands" if thousands and holding.get(thousands, 1) else ""
    return chosen, (f"{where}: read with {_separator(decimal)} as decimal separator{grouping}, as that reads "
                    f"{best:,} of its values (the default reads {stats['read']:,}); "
                    f"{_set_line(source.name, decimal_separator=decimal)} says so")


def _date_formats(scan: Scan, source: TableSource, column: str, src: str, stats: dict[str, int],
                  fmt: FormatConfig) -> tuple[tuple[str, ...], str]:
    """The date formats a text timestamp column is read with, and a note when they were detected: given
    formats as they are; else ISO 8601 where it reads every value; else the day/month order that reads the
    most values, unless two orders read them all differently (03/04/2025), which stops the run."""
    if fmt.date_formats:
        return fmt.date_formats, ""
    if stats["iso"] == stats["present"]:
        return (), ""
    q = _quote(src)
    groups = [_with_times(f) for f in DATE_FORMATS]
    listed = ["[" + ", ".join(sql_string(f) for f in g) + "]" for g in groups]
    *counts, iso = scan.counts(f"{', '.join(f'count(try_strptime(trim({q}), {g}))' for g in listed)}, "
                               f"count(TRY_CAST({q} AS TIMESTAMPTZ))")
    best = max(counts)
    if best <= iso:
        return (), ""
    tied = [i for i, n in enumerate(counts) if n == best]
    if len(tied) > 1:
        a, b = listed[tied[0]], listed[tied[1]]
        row = scan.example(f"trim({q})", f"try_strptime(trim({q}), {a}) IS DISTINCT FROM try_strptime(trim({q}), {b})")
        if row is not None:
            first, second = DATE_FORMATS[tied[0]], DATE_FORMATS[tied[1]]
            raise DataError(
                f"{source.label}: column {src} ({source.name}.{column}): dates such as {row!r} read both as "
                f"{first} and as {second} (every value fits either), so which is the day cannot be told. Fix: "
                f"--set input.date_format={first} or --set input.date_format={second} (for this table only: "
                f"input.tables.{source.name}.date_format)")
    chosen = DATE_FORMATS[tied[0]]
    return _with_times(chosen), (
        f"{source.name}.{column}: dates read as {chosen} (with an optional time), which reads {best:,} of "
        f"{stats['present']:,} values (ISO 8601 reads {iso:,}); --set input.date_format={chosen} says so")


def _likely_fix(table: str, kind: str, value: str) -> str:
    """The setting that most likely reads a value the checks could not: from its shape."""
    v = value.strip()
    if kind == "number":
        shapes = [
            (r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", dict(decimal_separator=".", thousands_separator=",")),
            (rf"[+-]?\d{{1,3}}([{SPACES}]\d{{3}})+(,\d+)?", dict(decimal_separator=",", thousands_separator=" ")),
            (rf"[+-]?\d{{1,3}}([{SPACES}]\d{{3}})+(\.\d+)?", dict(decimal_separator=".", thousands_separator=" ")),
            (r"[+-]?\d{1,3}(\.\d{3})+(,\d+)?", dict(decimal_separator=",", thousands_separator=".")),
            (r"[+-]?\d*,\d+", dict(decimal_separator=",")),
        ]
        for pattern, settings in shapes:
            if re.fullmatch(pattern, v):
                return (f"{v!r} looks like a number written with {_separator(settings['decimal_separator'])} as decimal "
                        f"separator: {_set_line(table, **settings)}")
        if re.search(r"\d", v) and re.search(r"[^\d\s.,+-]", v):
            return f"{v!r} holds more than a number: export plain numbers, without currency symbols or units"
    if kind == "timestamp":
        for pattern, day_format in ((r"\d{1,2}\.\d{1,2}\.\d{4}", "%d.%m.%Y"), (r"\d{1,2}/\d{1,2}/\d{4}", "%d/%m/%Y"),
                                    (r"\d{1,2}-\d{1,2}-\d{4}", "%d-%m-%Y")):
            if re.match(pattern, v):
                return (f"{v!r} looks like a day-first date: --set input.date_format={day_format}"
                        + (" (or %m/%d/%Y if the month comes first)" if "/" in day_format else ""))
    return ""


def _resolve_columns(
    scan: Scan, schema: TableSchema, source: TableSource, mapping: dict[str, str]
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Return canonical->source column, source column types, and extra source columns."""
    types = scan.types()
    unknown_mapping = set(mapping) - set(schema.column_names)
    if unknown_mapping:
        raise DataError(
            f"params columns.{schema.name}: {sorted(unknown_mapping)} are not canonical columns of "
            f"{schema.name}; canonical ones are {', '.join(schema.column_names)}"
        )
    resolved: dict[str, str] = {}
    missing: list[str] = []
    for col in schema.columns:
        name = mapping.get(col.name, col.name)
        if name in types:
            resolved[col.name] = name
        elif col.required:
            missing.append(col.name if name == col.name else f"{col.name} (mapped to '{name}')")
    if missing:
        misfit = scan.misfit(source, next(iter(types))) if len(types) == 1 else None
        if misfit is not None:  # the reader fell back to whole lines as one column
            raise misfit
        raise DataError(
            f"{source.label}: table {schema.name} lacks required column(s) {', '.join(missing)}; "
            f"it has {', '.join(types) or 'no columns'}. Fix: rename the columns, or map them in params.yaml "
            f"under columns.{schema.name} (e.g. {missing[0].split(' ')[0]}: your_column_name)."
        )
    extras = [c for c in types if c not in resolved.values()]
    return resolved, types, extras


def _misfit_lines(con: duckdb.DuckDBPyConnection, source: TableSource, header: str) -> DataError | None:
    """A CSV whose lines do not all split into the header's fields: the reader then either cannot settle
    on a dialect or falls back to whole lines as one column. Read it again with the header's delimiter,
    the engine listing the lines it rejects, and name them; None when the header holds no delimiter."""
    given = source.fmt.delimiter_char or ("\t" if source.suffix == ".tsv" else "")
    delim = given or next((d for d in (",", ";", "\t", "|") if d in header), None)
    if delim is None:
        return None
    fields = len(header.split(delim))
    shown = "tab" if delim == "\t" else f"'{delim}'"
    path = source.staged if isinstance(source.staged, Path) else source.path
    options = source.csv_options() + ("" if given else f", delim={sql_string(delim)}")
    try:
        con.execute(f"""SELECT count(*) FROM read_csv({sql_string(str(path))}, {options}, store_rejects=true,
            rejects_table='_csv_rejects', rejects_scan='_csv_scans')""").fetchall()
        lines, first, text, kind = con.execute(
            "SELECT count(DISTINCT line), min(line), arg_min(csv_line, line), arg_min(error_type, line) "
            "FROM _csv_rejects").fetchone()
    except duckdb.Error:  # not even that reading works: say what is known
        lines = 0
    finally:
        con.execute("DROP TABLE IF EXISTS _csv_rejects; DROP TABLE IF EXISTS _csv_scans")
    where = (f"{lines:,} line(s) do not fit, the first line {first} ({str(kind).lower()}): {text[:120]!r}" if lines
             else "a line has more or fewer fields than the header, or an unclosed double quote")
    return DataError(f"{source.label}: the lines do not all split into the header's {fields} columns separated "
                     f"by {shown}; {where}. Fix: {_fields_fix(shown)}.")


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


def _mark_duplicates(con: duckdb.DuckDBPyConnection, checked: str, name: str, example: str) -> tuple[str, int, str]:
    """A relation over ``checked`` where every copy after the first of an exact duplicate row has a reason,
    with how many rows that marks and an example of one.

    Called when some usable rows share a 64-bit hash of all their source columns: the repeated hashes
    are found, and only rows with one of them are compared column by column, so a hash collision can
    never mark a distinct row.
    """
    hashes = f"_dup_hashes_{name}"
    con.execute(f"""CREATE OR REPLACE TABLE {hashes} AS
        SELECT _row_hash FROM {checked} WHERE _reason IS NULL GROUP BY _row_hash HAVING count(*) > 1""")
    columns = [r[0] for r in con.execute(f"DESCRIBE {checked}").fetchall() if r[0] not in ("_reason", "_row_hash")]
    partition = ", ".join(_quote(c) for c in columns)
    candidates = f"_dup_rows_{name}"
    # Rows in one partition are identical in every column, so which copy counts as the first is immaterial.
    con.execute(f"""CREATE OR REPLACE TABLE {candidates} AS
        SELECT * EXCLUDE (_copy), CASE WHEN _copy > 1 THEN '{DUPLICATE}' END AS _reason
        FROM (SELECT * EXCLUDE (_reason), row_number() OVER (PARTITION BY {partition}) AS _copy
              FROM {checked} WHERE _reason IS NULL AND _row_hash IN (SELECT _row_hash FROM {hashes}))""")
    marked = f"_marked_{name}"
    con.execute(f"""CREATE OR REPLACE VIEW {marked} AS
        SELECT * FROM {checked} WHERE _reason IS NOT NULL OR _row_hash NOT IN (SELECT _row_hash FROM {hashes})
        UNION ALL BY NAME SELECT * FROM {candidates}""")
    marks, shown = con.execute(f"SELECT count(*), min(concat_ws(', ', {example})) FROM {candidates} "
                               "WHERE _reason IS NOT NULL").fetchall()[0]
    return marked, marks, shown


def _mark_repeated_keys(con: duckdb.DuckDBPyConnection, relation: str, name: str, key: str,
                        example: str) -> tuple[str, int, str]:
    """In a one-record-per-key table, a relation over ``relation`` where every usable row of a key that has
    several has a reason (exact copies are already set aside, so these differ: none of them can be
    preferred, and taking any would make the result depend on row order), with how many rows that marks
    and an example of one. A table whose keys are distinct is returned as it is."""
    keyed_rows, keys = con.execute(f"SELECT count({key}), count(DISTINCT {key}) FROM {relation} "
                                   "WHERE _reason IS NULL").fetchone()
    if keys == keyed_rows:
        return relation, 0, ""
    keyed, reason = f"_keyed_{name}", _repeated(key)
    con.execute(f"""CREATE OR REPLACE VIEW {keyed} AS
        SELECT * REPLACE (CASE WHEN _reason IS NULL AND {key} IS NOT NULL AND sum(CAST(_reason IS NULL AS INTEGER))
                                    OVER (PARTITION BY {key}) > 1 THEN '{reason}' ELSE _reason END AS _reason)
        FROM {relation}""")
    marks, shown = con.execute(f"SELECT count(*), min(concat_ws(', ', {example})) FROM {keyed} "
                               f"WHERE _reason = '{reason}'").fetchone()
    return keyed, marks, shown


def _set_aside(counts: list[tuple], reason: str, marks: int, shown: str) -> list[tuple]:
    """``counts`` (see ``_count_reasons``) after ``marks`` usable rows moved to a reason of their own."""
    if not marks:
        return counts
    usable = sum(n for r, n, _ in counts if r is None)
    moved = [c for c in counts if c[0] is not None] + [(None, usable - marks, None), (reason, marks, shown)]
    return sorted((c for c in moved if c[1]), key=_most_rows_first)


def _count_reasons(con: duckdb.DuckDBPyConnection, relation: str, example: str) -> tuple[list[tuple], int]:
    """Rows per reason (NULL = usable; most rows first) with an example of each kind of bad row (the least as
    text: the same whatever order the rows are read in, or how they are split), and how many distinct row
    hashes the usable rows have (fewer than the rows: some may be duplicates).

    One pass without grouping counts the rows and the hashes (grouping by reason makes the distinct count
    a grouped one, 20% slower); the reasons are grouped in a second pass only when some rows are bad."""
    usable, bad, usable_hashes = con.execute(
        f"SELECT count(*) FILTER (WHERE _reason IS NULL), count(*) FILTER (WHERE _reason IS NOT NULL), "
        f"count(DISTINCT _row_hash) FILTER (WHERE _reason IS NULL) FROM {relation}"
    ).fetchone()
    rows = [(None, usable, None)] if usable else []
    if bad:
        rows += con.execute(f"SELECT _reason, count(*), min(concat_ws(', ', {example})) FROM {relation} "
                            "WHERE _reason IS NOT NULL GROUP BY _reason").fetchall()
    return sorted(rows, key=_most_rows_first), usable_hashes


def _most_rows_first(count: tuple) -> tuple:
    """Sort key of (reason, rows, ...): most rows first, then bad before usable, then by reason."""
    return -count[1], count[0] is None, count[0] or ""


def _extra_exprs(scan: Scan, columns: list[str], types: dict[str, str], fmt: FormatConfig | None = None) -> list[str]:
    """Profile attributes read as text (CSV) become numbers or booleans when every value reads as one (with
    the table's given separators: ``1 234,5`` is a number where they say so); one pass counts them all."""
    separators = (fmt.decimal_separator or ".", fmt.thousands_char) if fmt else (".", "")
    text = [c for c in columns if types[c].upper().startswith("VARCHAR")]
    counts = scan.counts(", ".join(f"count({_quote(c)}), count({_number_sql(_quote(c), *separators)}), "
                                   f"count(TRY_CAST({_quote(c)} AS BOOLEAN))" for c in text)) if text else ()
    read = {c: counts[3 * i: 3 * i + 3] for i, c in enumerate(text)}
    exprs = []
    for column in columns:
        q = _quote(column)
        present, numeric, boolean = read.get(column, (0, 0, 0))
        if present and numeric == present:
            exprs.append(f"{_number_sql(q, *separators)} AS {q}")
        elif present and boolean == present:
            exprs.append(f"TRY_CAST({q} AS BOOLEAN) AS {q}")
        else:
            exprs.append(q)
    return exprs


def _create_clean_view(
    con: duckdb.DuckDBPyConnection, name: str, checked_rows: str, canonical: str, example: str, materialize: bool
) -> tuple[str, list[tuple]]:
    """Create ``clean_<name>`` (usable rows, canonical columns); return the relation of every row with its
    reason, and the rows per reason (see ``_count_reasons``).

    Text (CSV) is parsed once into the engine (``materialize``: a table of checked rows, as is a source read
    once from a stream); typed sources (Parquet, frames) are checked in place, so
    100M rows are never copied into memory: every later scan reads the file and, when validation set
    rows aside, applies the same checks. Duplicates are looked for only when the counting pass finds
    usable rows sharing a row hash (the usual input has none, and then costs no pass of its own).
    """
    checked = f"_checked_{name}"
    kind = "TABLE" if materialize else "VIEW"
    con.execute(f"CREATE OR REPLACE {kind} {checked} AS {checked_rows}")
    counts, usable_hashes = _count_reasons(con, checked, example)
    marked = checked
    usable = sum(n for reason, n, _ in counts if reason is None)
    if usable_hashes < usable:
        marked, marks, shown = _mark_duplicates(con, checked, name, example)
        counts = _set_aside(counts, DUPLICATE, marks, shown)
    if name in KEYS:
        marked, marks, shown = _mark_repeated_keys(con, marked, name, KEYS[name], example)
        counts = _set_aside(counts, _repeated(KEYS[name]), marks, shown)
    # With no row set aside, the usable rows are all the rows: later scans skip the per-row checks.
    where = "" if all(reason is None for reason, _, _ in counts) else " WHERE _reason IS NULL"
    con.execute(f"CREATE OR REPLACE VIEW clean_{name} AS SELECT {canonical} FROM {marked}{where}")
    return marked, counts


# Reasons whose fix is read from the shape of a value the checks could not read (see _likely_fix).
LIKELY_FIXED = ("non-numeric value", "unparseable timestamp")


@dataclass(frozen=True)
class TablePlan:
    """How one table's rows are checked, decided over its whole source (``plan_table``): the SQL that types
    every row and gives its first reason to be set aside, what the quarantine shows, and what was noticed."""

    schema: TableSchema
    label: str  # the source as messages name it
    text: bool  # every value is text (CSV, workbooks): the checked rows are stored once, typed
    resolved: dict[str, str]  # canonical column -> source column
    columns: tuple[str, ...]  # the source's columns, in its order
    notices: tuple[str, ...]  # columns ignored, formats detected
    checked_rows: str  # SQL: every source row typed, its first reason (NULL: usable) and a hash of it
    canonical: str  # SQL list: the clean table's columns
    example: str  # SQL list: a row as the quarantine shows it
    shown: dict[str, str]  # source column -> SQL of what the quarantine shows of it

    def quarantine_sql(self, checked: str) -> str:
        """SQL: the rows of ``checked`` set aside, as the quarantine shows them, with their reason and its column."""
        raw_cols = ", ".join(f"{self.shown[c]} AS {_quote(c)}" for c in self.columns)
        return (f"SELECT {raw_cols}, split_part(_reason, '|', 1) AS reason, split_part(_reason, '|', 2) AS "
                f"reason_column FROM {checked} WHERE _reason IS NOT NULL")


@dataclass(frozen=True)
class RowCounts:
    """What the row checks found in a table, or in any part of its rows: parts add up (``merge_counts``), as
    rows are counted and every example is the least one."""

    reasons: tuple[tuple, ...]  # (reason|column or None for usable, rows, example), most rows first
    values: dict[str, str]  # per reason in LIKELY_FIXED: the least value of its column among its rows
    event_types: tuple[tuple[str, int], ...] = ()  # events: rows per event type no family knows


def plan_table(scan: Scan, schema: TableSchema, source: TableSource, mapping: dict[str, str], now: datetime) -> TablePlan:
    """Decide how ``source`` is read (its columns, and one pass over it deciding separators, date formats, float
    ids and time zones: see ``_profile``) and write the SQL that checks each of its rows."""
    resolved, types, extras = _resolve_columns(scan, schema, source, mapping)
    notices: list[str] = []
    if extras and not schema.keep_extra_columns:
        notices.append(f"{schema.name}: ignored columns not in the contract: {', '.join(extras)}")
    kept_extras = extras if schema.keep_extra_columns else []

    # One pass decides how each column is read (see _profile): separators, date formats, float ids, and
    # the time zone convention of each text timestamp column (mixed aware/naive values are ambiguous).
    profile = _profile(scan, schema, resolved, types, source)
    tz_minority: dict[str, bool] = {}
    forms: dict[str, ColumnFormat] = {}
    for col in schema.columns:
        src, stats = resolved.get(col.name), profile.get(col.name)
        if src is None or stats is None:
            continue
        note = ""
        if col.kind == "timestamp":
            aware, naive = stats["aware"], stats["present"] - stats["aware"]
            if aware and naive:
                tz_minority[col.name] = aware <= naive  # True: the aware values are the minority
            dates, note = _date_formats(scan, source, col.name, src, stats, source.fmt)
            forms[col.name] = ColumnFormat(dates=dates)
        elif col.kind == "number":
            (decimal, thousands), note = _number_format(scan, source, col.name, src, stats, source.fmt)
            forms[col.name] = ColumnFormat(decimal, thousands)
        elif col.kind == "id":
            id_form, note = _id_form(scan, source, src, types[src], stats)
            forms[col.name] = ColumnFormat(id_form=id_form)
        if note:
            notices.append(note)

    selects: list[str] = []
    reasons: list[str] = []
    # What the quarantine shows for each source column: the raw text where typing could lose it,
    # otherwise the stored value. Raw copies are kept only where needed (CSV text of typed columns).
    shown: dict[str, str] = {}
    raw_copies: list[str] = []
    typed_of: dict[str, str] = {}  # canonical column -> its typed expression
    for col in schema.columns:
        src = resolved.get(col.name)
        sql_type = {"id": "VARCHAR", "timestamp": "TIMESTAMP", "number": "DOUBLE", "bool": "BOOLEAN"}.get(
            col.kind, "VARCHAR"
        )
        if src is None:
            selects.append(f"CAST(NULL AS {sql_type}) AS {_quote(col.name)}")
            continue
        raw = _quote(src)
        text = types[src].upper().startswith("VARCHAR")
        form = forms.get(col.name)
        typed = typed_of[col.name] = _typed_expr(col, raw, types[src], form)
        selects.append(f"{typed} AS {_quote(col.name)}")
        if col.kind in _REASON_BY_KIND and text:
            raw_copies.append(src)
        else:
            shown[src] = f"CAST({_quote(col.name)} AS VARCHAR)"
        present = f"({raw} IS NOT NULL AND trim({raw}) <> '')" if text else f"({raw} IS NOT NULL)"
        if col.kind == "id":
            if form is not None and form.id_form == "float":  # NaN is a float column's gap, as NULL is
                present = f"({raw} IS NOT NULL AND isfinite(CAST({raw} AS DOUBLE)))"
            reasons.append(f"WHEN NOT {present} THEN 'empty customer id|{col.name}'")
            continue
        if col.kind in _REASON_BY_KIND:
            reasons.append(f"WHEN {present} AND {typed} IS NULL THEN '{_REASON_BY_KIND[col.kind]}|{col.name}'")
        if col.kind == "number":
            # one comparison on the usual path (NaN compares above every number in the engine)
            reasons.append(f"WHEN NOT abs({typed}) < {NUMBER_LIMIT:.0e} THEN CASE WHEN isfinite({typed}) THEN "
                           f"'number out of range|{col.name}' ELSE 'non-finite number|{col.name}' END")
        if not col.nullable:
            reasons.append(f"WHEN NOT {present} THEN 'missing value|{col.name}'")
        if col.kind == "timestamp":
            reasons.append(f"WHEN {typed} > TIMESTAMP '{now:%Y-%m-%d %H:%M:%S}' THEN 'timestamp in the future|{col.name}'")
            if col.name in tz_minority:
                negate = "" if tz_minority[col.name] else "NOT "
                reasons.append(
                    f"WHEN {negate}regexp_matches({raw}, '{TZ_AWARE}') THEN 'mixed time zones|{col.name}'"
                )
    for earlier, later in schema.ordered:
        if earlier in typed_of and later in typed_of:
            reasons.append(f"WHEN {typed_of[later]} < {typed_of[earlier]} THEN '{later} before {earlier}|{later}'")
    extra_selects = _extra_exprs(scan, kept_extras, types, source.fmt)
    shown.update({c: f"CAST({_quote(c)} AS VARCHAR)" for c in kept_extras})
    raw_copies += [c for c in extras if c not in kept_extras]
    raw_selects = [f"CAST({_quote(c)} AS VARCHAR) AS {_quote('_raw_' + c)}" for c in raw_copies]
    shown.update({c: _quote("_raw_" + c) for c in raw_copies})
    all_source = ", ".join(_quote(c) for c in types)

    # Each row of the source typed, with its first reason to be set aside (NULL: usable).
    checked_rows = (f"SELECT {', '.join(selects + extra_selects + raw_selects)}, "
                    f"CASE {' '.join(reasons)} END AS _reason, hash({all_source}) AS _row_hash FROM {scan.relation}")
    canonical = ", ".join(_quote(c) for c in list(schema.column_names) + kept_extras)
    example = ", ".join(f"coalesce({shown[c]}, '<empty>')" for c in types)
    return TablePlan(schema, source.label, source.is_text, resolved, tuple(types), tuple(notices), checked_rows,
                     canonical, example, shown)


def check_rows(con: duckdb.DuckDBPyConnection, plan: TablePlan, materialize: bool = False) -> RowCounts:
    """Check every row of ``plan``'s source in ``con`` (the source as ``plan`` reads it): creates ``clean_<table>``
    (usable rows, canonical columns) and ``quarantine_<table>`` (rows set aside, with their reason), and returns
    what was found. ``materialize`` stores the checked rows once (a source that can be read only once)."""
    name = plan.schema.name
    checked, counts = _create_clean_view(con, name, plan.checked_rows, plan.canonical, plan.example,
                                         plan.text or materialize)
    con.execute(f"CREATE OR REPLACE VIEW quarantine_{name} AS {plan.quarantine_sql(checked)}")
    values: dict[str, str] = {}
    for reason_col, _, _ in counts:
        reason, _, column = (reason_col or "").partition("|")
        if reason in LIKELY_FIXED and column in plan.resolved:
            values[reason_col] = con.execute(f"SELECT min({plan.shown[plan.resolved[column]]}) FROM {checked} "
                                             f"WHERE _reason = {sql_string(reason_col)}").fetchall()[0][0]
    event_types: list[tuple[str, int]] = []
    if name == "events":
        known = ", ".join(f"'{t}'" for t in KNOWN_EVENT_TYPES)
        event_types = con.execute(
            f"SELECT event_type, count(*) FROM clean_events WHERE event_type NOT IN ({known}) GROUP BY 1").fetchall()
    return RowCounts(tuple(counts), values, tuple(event_types))


def merge_counts(parts: list[RowCounts]) -> RowCounts:
    """What the row checks found in every part together: rows added up, the least example of each."""
    rows: dict[str | None, int] = {}
    examples: dict[str | None, str | None] = {}
    values: dict[str, str] = {}
    event_types: dict[str, int] = {}
    for part in parts:
        for reason, n, example in part.reasons:
            rows[reason] = rows.get(reason, 0) + n
            examples[reason] = _least(examples.get(reason), example)
        for reason, value in part.values.items():
            values[reason] = _least(values.get(reason), value)
        for event_type, n in part.event_types:
            event_types[event_type] = event_types.get(event_type, 0) + n
    reasons = sorted(((r, n, examples[r]) for r, n in rows.items() if n), key=_most_rows_first)
    return RowCounts(tuple(reasons), values, tuple(event_types.items()))


def _least(a, b):
    return b if a is None else a if b is None else min(a, b)


def table_report(plan: TablePlan, found: RowCounts) -> tuple[TableAccount, list[Problem], list[str]]:
    """The account, problems and notices of a table from its plan and what its row checks found."""
    schema, counts = plan.schema, found.reasons
    read = sum(n for _, n, _ in counts)
    bad = sum(n for reason, n, _ in counts if reason is not None)
    account = TableAccount(schema.name, plan.label, read, read - bad, bad)

    problems: list[Problem] = []
    if read == 0:
        problems.append(
            Problem(schema.name, "", "the table is empty", 0, "", f"add rows to {plan.label} or remove the file",
                    fatal=schema.required)
        )
    for reason_col, n, example in counts:
        if reason_col is None:
            continue
        reason, column = reason_col.split("|", 1)
        fix = FIXES[reason]
        if reason_col in found.values:
            fix = _likely_fix(schema.name, schema.column(column).kind, found.values[reason_col] or "") or fix
        problems.append(Problem(schema.name, column, reason, n, f"({example})", fix))

    notices = list(plan.notices)
    other = sorted(found.event_types, key=lambda t: (-t[1], t[0]))
    if other:
        listing = ", ".join(f"{t} ({n:,})" for t, n in other)
        notices.append(
            f"events: event types no family knows get activity features of their own (the "
            f"features.max_event_types most frequent; the rest count in other_events_last_90d): {listing}"
        )
    return account, problems, notices


def _check_table(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    source: TableSource,
    mapping: dict[str, str],
    now: datetime,
) -> tuple[TableAccount, list[Problem], list[str]]:
    plan = plan_table(SourceScan(con, source.scan_sql(con)), schema, source, mapping, now)
    return table_report(plan, check_rows(con, plan))


def validate_sources(
    con: duckdb.DuckDBPyConnection,
    sources: dict[str, TableSource],
    unknown_entries: list[str],
    columns: ColumnsConfig,
    validation: ValidationConfig,
    now: datetime,
    input_format: InputConfig | None = None,
    temp_dir: str | None = None,
) -> ValidationReport:
    """Check every table into the engine; raise DataError for what cannot go on under the policy.

    After this, the connection holds ``clean_<table>`` views (typed, canonical columns) for each table
    present and ``quarantine_<table>`` views of the rows set aside. Files are read under the format
    settings ``input_format``; copies a file needs to be read (another encoding) go under ``temp_dir`` and
    are removed once it is in the engine.
    """
    input_format = input_format or InputConfig()

    def check(name: str, source: TableSource) -> tuple[TableAccount, list[Problem], list[str]]:
        try:
            with readable(source, input_format.for_table(name), temp_dir) as (readable_source, note):
                account, problems, notices = _check_table(con, SCHEMAS[name], readable_source, getattr(columns, name),
                                                          now)
                if readable_source.staged is not None and not isinstance(readable_source.staged, Path):
                    con.unregister(f"_frame_{name}")  # a workbook's sheet: now a table in the engine
        except (duckdb.InvalidInputException, duckdb.IOException, duckdb.ConversionException) as exc:
            raise _read_error(con, source, input_format.for_table(name), exc) from None
        return account, problems, [note, *notices] if note else notices

    return validate_tables(sources, unknown_entries, validation, check)


def validate_tables(
    sources: dict[str, TableSource],
    unknown_entries: list[str],
    validation: ValidationConfig,
    check: Callable[[str, TableSource], tuple[TableAccount, list[Problem], list[str]]],
) -> ValidationReport:
    """The report of checking every table with ``check`` (whichever engine runs it), under the policy
    ``validation``: raises DataError for what cannot go on."""
    unusable = [(entry, *unusable_entry(entry)) for entry in unknown_entries]
    if "transactions" not in sources:
        named = "".join(f"; {entry}: {why}" for entry, why, _, meant in unusable if meant)
        others = [entry for entry, *_ in unusable]
        listing = f" (the folder holds {', '.join(others)}{named})" if others else " (the folder holds no table)"
        raise DataError(
            f"no transactions table found{listing}. Fix: put transactions.csv, .tsv, .xlsx or .parquet (or a folder "
            "transactions/ of Parquet parts) in the data folder."
        )
    report = ValidationReport()
    for entry, why, fix, meant in unusable:
        report.problems.append(Problem(entry, "", why, 0, "", fix, fatal=meant))
    for name, source in sources.items():
        account, problems, notices = check(name, source)
        report.accounts.append(account)
        report.problems.extend(problems)
        report.notices.extend(notices)
        if validation.on_bad_rows == "quarantine":
            report.problems.extend(_too_many_bad(account, problems, validation.max_bad_share))
    fatal = [p for p in report.problems if p.fatal]
    if validation.on_bad_rows == "fail":
        fatal = report.problems
    if fatal:
        listing = "\n".join(f"  - {p.message()}" for p in fatal)
        hint = "" if validation.on_bad_rows == "quarantine" else (
            "\nOr set validation.on_bad_rows: quarantine to set bad rows aside and go on."
        )
        raise DataError(f"input data has {len(fatal)} problem(s):\n{listing}{hint}")
    return report


def _too_many_bad(account: TableAccount, problems: list[Problem], max_share: float) -> list[Problem]:
    """A fatal problem when more than ``max_share`` of a table's rows hold values that cannot be used: that
    many is a format problem (a third of the amounts unreadable), not a few bad rows to set aside. Rows set
    aside whole, as copies or as one of several records of a key, do not count: their values read."""
    whole_rows = {DUPLICATE.split("|")[0], *(_repeated(k).split("|")[0] for k in KEYS.values())}
    counted = [p for p in problems if p.rows and p.reason not in whole_rows]
    bad = sum(p.rows for p in counted)
    if not account.rows_read or bad <= max_share * account.rows_read:
        return []
    commonest = max(counted, key=lambda p: p.rows)
    share = bad / account.rows_read
    where = f"{commonest.table}.{commonest.column}" if commonest.column else commonest.table
    return [Problem(
        account.table, "", f"{share:.1%} of the rows ({bad:,} of {account.rows_read:,}) are "
        f"unusable, more than validation.max_bad_share ({max_share:.1%}): a share this large points to a format "
        f"problem, not a few bad rows. The commonest reason is {commonest.reason} in {where} ({commonest.rows:,} rows)", 0,
        commonest.example, f"{commonest.fix}. If these rows are bad indeed, set validation.max_bad_share higher "
        f"(--set validation.max_bad_share={min(1.0, round(share + 0.05, 2))}) to go on without them", fatal=True)]


def _read_error(con: duckdb.DuckDBPyConnection, source: TableSource, fmt: FormatConfig, exc: duckdb.Error) -> DataError:
    """The error for a file the engine could not read: the lines that do not fit, or its encoding."""
    text = str(exc)
    if source.is_csv and ("utf-8" in text.lower() or "unicode" in text.lower()) and not fmt.encoding:
        found = first_bad_bytes(source.path)
        if found is not None:
            line, raw, text = found
            encoding, _ = likely_encoding(source.path)
            shown = text.decode(encoding, errors="replace").rstrip("\r")[:80]
            return DataError(
                f"{source.label}: is not UTF-8: line {line} holds the bytes {raw!r}. It is likely {encoding}, in "
                f"which the line reads {shown!r}. Fix: --set input.tables.{source.name}.encoding={encoding} (every table: --set "
                f"input.encoding={encoding}), or save it as UTF-8 text")
    if source.is_csv and "sniffing" in text:  # no dialect fits every sampled line
        with open(source.path, encoding="utf-8", errors="replace") as fh:
            misfit = _misfit_lines(con, replace(source, fmt=fmt), fh.readline().rstrip("\r\n"))
        if misfit is not None:
            return misfit
    return _unreadable(source, exc)
