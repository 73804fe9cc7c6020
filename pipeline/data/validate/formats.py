"""How a table is read: which source columns are the contract's and, decided from counts over its whole source, the
number separators, date formats, float ids and time zones of its columns; the SQL that reads each value so, and the
errors for a file the engine cannot read (lines that do not split into the header's fields, another encoding)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import duckdb

from pipeline.core.config import FormatConfig
from pipeline.core.errors import DataError
from pipeline.core.schema import Column, TableSchema
from pipeline.core.sql import sql_string
from pipeline.data.sources import TableSource, first_bad_bytes, likely_encoding
from pipeline.data.validate.messages import _fields_fix, _separator, _set_line, _unreadable

# Time zone abbreviations read as the fixed offsets they stand for (the engine's own reading takes some as a region's
# zone, with its summer time, and does not know others); ambiguous ones (IST: India, Israel or Ireland) are not read.
ZONE_ABBREVIATIONS = {
    "UTC": "+00:00", "GMT": "+00:00", "Z": "+00:00", "WET": "+00:00", "WEST": "+01:00", "BST": "+01:00",
    "CET": "+01:00", "CEST": "+02:00", "EET": "+02:00", "EEST": "+03:00", "MSK": "+03:00",
    "EST": "-05:00", "EDT": "-04:00", "CST": "-06:00", "CDT": "-05:00", "MST": "-07:00", "MDT": "-06:00",
    "PST": "-08:00", "PDT": "-07:00", "AKST": "-09:00", "AKDT": "-08:00", "HST": "-10:00",
    "SGT": "+08:00", "HKT": "+08:00", "JST": "+09:00", "KST": "+09:00", "AEST": "+10:00", "AEDT": "+11:00",
    "NZST": "+12:00", "NZDT": "+13:00",
}
_ABBREVIATION = "|".join(sorted(ZONE_ABBREVIATIONS, key=len, reverse=True))
# A time followed by a UTC offset, Z, a known abbreviation or a named zone (America/Los_Angeles, Etc/GMT+8).
TZ_AWARE = (r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?|(" + _ABBREVIATION
            + r")|[A-Za-z]+/[A-Za-z_]+(/[A-Za-z_]+)?|Etc/GMT[+-]\d{1,2})$")


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
FLOAT_TYPES = ("FLOAT", "DOUBLE", "DECIMAL", "REAL")


@dataclass(frozen=True)
class ColumnFormat:
    """How one source column is read: its number separators, date formats or id form."""

    decimal: str = "."
    thousands: str = ""
    dates: tuple[str, ...] = ()
    id_form: str = ""  # "float": typed whole numbers; "float text": "291.0" text; "": as it is
    zone_names: bool = False  # some timestamps end in a time zone's abbreviation (PST): read as its offset


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
        # one rule for every table: an id is its text without surrounding spaces (" 42" is 42)
        return f"trim(CAST({raw} AS VARCHAR))" if is_text else f"CAST({raw} AS VARCHAR)"
    if col.kind == "timestamp":
        if is_text:
            return _date_sql(_with_offsets(raw) if form.zone_names else raw, form.dates)
        if "TIME ZONE" in src_type.upper():
            return f"CAST(TRY_CAST({raw} AS TIMESTAMPTZ) AS TIMESTAMP)"
        return f"TRY_CAST({raw} AS TIMESTAMP)"
    if col.kind == "number":
        return _number_sql(raw, form.decimal, form.thousands) if is_text else f"TRY_CAST({raw} AS DOUBLE)"
    if col.kind == "bool":
        return f"TRY_CAST({raw} AS BOOLEAN)"
    return f"CAST({raw} AS VARCHAR)"


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


def _with_offsets(raw: str) -> str:
    """SQL: a text timestamp with a time zone abbreviation at its end (``2025-03-01 10:00 PST``) written with the
    offset it stands for (``2025-03-01 10:00 -08:00``); other values as they are, an unknown abbreviation too."""
    cases = " ".join(f"WHEN {sql_string(k)} THEN {sql_string(v)}" for k, v in ZONE_ABBREVIATIONS.items())
    zone = rf"upper(regexp_extract(trim({raw}), '\d\s*([A-Za-z]{{1,4}})$', 1))"
    offset = f"CASE {zone} {cases} END"
    return rf"coalesce(regexp_replace(trim({raw}), '\s*[A-Za-z]{{1,4}}$', '') || {offset}, {raw})"


def _with_times(day_format: str) -> tuple[str, ...]:
    return day_format, f"{day_format} %H:%M", f"{day_format} %H:%M:%S"


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
            # values ending in a letter: a time zone's name or abbreviation may end them (cheaper than a pattern)
            aggregates[col.name, "lettered"] = f"count(*) FILTER (WHERE lower(right({q}, 1)) BETWEEN 'a' AND 'z')"
            if not source.fmt.date_formats:  # ISO 8601 (YYYY-...) or not: other formats are looked for only if not
                aggregates[col.name, "iso"] = f"count(*) FILTER (WHERE substr({q}, 5, 1) = '-')"
        elif col.kind == "number" and text:
            aggregates[col.name, "present"] = f"count({q})"
            aggregates[col.name, "read"] = f"count(TRY_CAST({q} AS DOUBLE))"
            aggregates[col.name, "dotted"] = f"count(*) FILTER (WHERE contains({q}, '.'))"
            # values a dot could group in thousands (1.250): a LIKE is all the usual column costs here;
            # _number_format checks them in full only when every dotted value passes it
            aggregates[col.name, "dot3"] = f"count(*) FILTER (WHERE {q} LIKE '%.___')"
        elif col.kind == "id" and text:
            aggregates[col.name, "spaced"] = f"count(*) FILTER (WHERE {q} <> trim({q}))"
            if source.is_text:  # typed files hold float ids as numbers
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


def _column_formats(scan: Scan, schema: TableSchema, source: TableSource, resolved: dict[str, str],
                    types: dict[str, str]) -> tuple[dict[str, ColumnFormat], dict[str, bool], list[str]]:
    """How each column of ``source`` is read, decided from one pass over it (``_profile``): its separators, date
    formats or float ids (canonical column -> its ``ColumnFormat``), the time zone convention of each text
    timestamp column mixing values with and without a UTC offset (canonical column -> whether those with one are
    the fewer, and so set aside), and a note of each format detected."""
    profile = _profile(scan, schema, resolved, types, source)
    tz_minority: dict[str, bool] = {}
    forms: dict[str, ColumnFormat] = {}
    notes: list[str] = []
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
            forms[col.name] = ColumnFormat(dates=dates, zone_names=stats["lettered"] > 0)
        elif col.kind == "number":
            (decimal, thousands), note = _number_format(scan, source, col.name, src, stats, source.fmt)
            forms[col.name] = ColumnFormat(decimal, thousands)
        elif col.kind == "id":
            id_form, note = _id_form(scan, source, src, types[src], stats) if "present" in stats else ("", "")
            forms[col.name] = ColumnFormat(id_form=id_form)
            if stats.get("spaced"):
                q = _quote(src)
                example = scan.example(f"'\"' || {q} || '\"'", f"{q} <> trim({q})")
                notes.append(f"{source.name}.{col.name}: {stats['spaced']:,} ids in {source.label} have spaces around "
                             f"them (e.g. {example}); read without them (the rule for every table), so they match the "
                             "same ids elsewhere")
        if note:
            notes.append(note)
    return forms, tz_minority, notes


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
    nested = [(col, src) for col, src in resolved.items() if _nested_kind(types[src])]
    if nested:
        col, src = nested[0]
        listing = ", ".join(f"{s} ({_nested_kind(types[s])}: {types[s]})" for _, s in nested)
        raise DataError(
            f"{source.label}: table {schema.name}: column(s) {listing} hold {_nested_kind(types[src])}s of values, "
            f"not one {schema.column(col).kind} per row, so no row of them can be read. Fix: write one plain value "
            f"per cell (flatten or explode the column before exporting: in pandas df.explode('{src}'), in Spark "
            f"explode() or col('{src}.field')), or map columns.{schema.name}.{col} to another column")
    extras = [c for c in types if c not in resolved.values()]
    return resolved, types, extras


def _nested_kind(sql_type: str) -> str:
    """'list', 'struct', 'map' or 'union' for a nested engine type (``INTEGER[]``, ``STRUCT(a INTEGER)``); '' else."""
    t = sql_type.upper()
    if t.endswith("]"):
        return "list"
    return next((k.lower() for k in ("STRUCT", "MAP", "UNION") if t.startswith(k + "(")), "")


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
