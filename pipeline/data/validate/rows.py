"""Checking every row of a table in the engine: the SQL that types each row and gives the first reason it is unusable
(``plan_table``), the clean and quarantine relations with exact duplicates and repeated keys set aside
(``check_rows``), and a table's account, problems and notices from what was found (``table_report``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from pipeline.core.errors import ConfigError
from pipeline.core.schema import KNOWN_EVENT_TYPES, TableSchema
from pipeline.core.sql import sql_string
from pipeline.data.sources import TableSource
from pipeline.data.validate.formats import (
    TZ_AWARE,
    Scan,
    _column_formats,
    _extra_exprs,
    _likely_fix,
    _quote,
    _resolve_columns,
    _typed_expr,
)
from pipeline.data.validate.messages import DUPLICATE, FIXES, Problem, TableAccount, _repeated

# tables holding one record per key: a key on several rows that differ is a conflict (empty keys are not keys)
KEYS = {"customers": "customer_id", "invoices": "invoice_id"}
# Amounts are summed as DECIMAL(18, 4) (pipeline.engine.duckdb.EXACT); larger magnitudes cannot be held.
NUMBER_LIMIT = 1e14


# Dates a system writes where it has none (the start of its calendar or of Unix time, or the word 'epoch' the engine
# reads as 1970-01-01): never a real first purchase or sign-up. Any other date before 1900 is no date of a customer's
# history either (0001-01-01 would overflow the engine's date arithmetic later).
PLACEHOLDER_DATES = ("1900-01-01 00:00:00", "1970-01-01 00:00:00")
EARLIEST_DATE = "1900-01-01 00:00:00"
# A timestamp without a time zone is the local time where it was written, up to 14 hours ahead of UTC (UTC+14):
# 'in the future' means later than the latest clock on earth, read against UTC, never the machine's own zone.
LATEST_CLOCK = timedelta(hours=14)


_REASON_BY_KIND = {"timestamp": "unparseable timestamp", "number": "non-numeric value", "bool": "invalid boolean"}


def _mark_duplicates(con: duckdb.DuckDBPyConnection, checked: str, name: str, example: str
                     ) -> tuple[str, str, int, str]:
    """A relation over ``checked`` where every copy after the first of an exact duplicate row has a reason, the
    table of the candidate rows (those whose hash repeats, the copies set aside among them), how many rows that
    marks and an example of one.

    Called when some usable rows share a 64-bit hash of all their source columns (the table of those hashes,
    ``_dup_hashes_<name>``, made by ``_count_reasons``): only rows with one of them are compared column by column, so
    a hash collision can never mark a distinct row.
    """
    hashes = f"_dup_hashes_{name}"
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
    return marked, candidates, marks, shown


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


def _written(con: duckdb.DuckDBPyConnection, rows: str, target: Path) -> str:
    """Write the rows of the query ``rows`` to the Parquet file ``target``; its path as an SQL string. A write that
    fails for want of room (or rights) in the scratch folder says so, not that the source could not be read."""
    path = sql_string(str(target))
    try:
        con.execute(f"COPY ({rows}) TO {path} (FORMAT parquet)")
    except duckdb.IOException as exc:
        if str(target) not in str(exc):  # the source's error, not the written file's
            raise
        raise ConfigError(
            f"engine.temp_dir: cannot write the checked rows of {target.stem} to {target.parent} ({exc}). Fix: point "
            "engine.temp_dir at a folder with room for them (about 22 bytes a row) and for the engine's spills"
        ) from None
    return path


def _count_reasons(con: duckdb.DuckDBPyConnection, relation: str, name: str, example: str) -> tuple[list[tuple], bool]:
    """Rows per reason (NULL = usable; most rows first) with an example of each kind of bad row (the least as
    text: the same whatever order the rows are read in, or how they are split), and whether some usable rows share
    a row hash (they may be exact copies): those hashes are then the table ``_dup_hashes_<name>``.

    One pass groups the rows by hash, counting usable and bad rows per hash, and keeps only the repeated hashes
    and the totals; the reasons are grouped in a second pass only when some rows are bad. (Before, a first pass
    counted the distinct hashes and, where there were fewer than rows, a second one grouped the hashes again to
    find the repeated ones: 18.9 + 11.8 s for the 109M events of a million generated customers, now 19 s.)"""
    counted, hashes = f"_hash_counts_{name}", f"_dup_hashes_{name}"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {counted} AS
        SELECT CASE WHEN usable > 1 THEN _row_hash END AS _row_hash, sum(usable) AS usable, sum(bad) AS bad
        FROM (SELECT _row_hash, count(*) FILTER (WHERE _reason IS NULL) AS usable,
                     count(*) FILTER (WHERE _reason IS NOT NULL) AS bad FROM {relation} GROUP BY _row_hash)
        GROUP BY 1""")
    usable, bad, repeated = con.execute(f"SELECT coalesce(sum(usable), 0), coalesce(sum(bad), 0), "
                                        f"count(_row_hash) FROM {counted}").fetchone()
    if repeated:
        con.execute(f"CREATE OR REPLACE TABLE {hashes} AS SELECT _row_hash FROM {counted} "
                    "WHERE _row_hash IS NOT NULL")
    con.execute(f"DROP TABLE {counted}")
    rows = [(None, int(usable), None)] if usable else []
    if bad:
        rows += con.execute(f"SELECT _reason, count(*), min(concat_ws(', ', {example})) FROM {relation} "
                            "WHERE _reason IS NOT NULL GROUP BY _reason").fetchall()
    return sorted(rows, key=_most_rows_first), bool(repeated)


def _most_rows_first(count: tuple) -> tuple:
    """Sort key of (reason, rows, ...): most rows first, then bad before usable, then by reason."""
    return -count[1], count[0] is None, count[0] or ""


def _create_clean_view(
    con: duckdb.DuckDBPyConnection, name: str, checked_rows: str, canonical: str, example: str, materialize: bool,
    store: Path | None = None,
) -> tuple[str, list[tuple], str]:
    """Create ``clean_<name>`` (usable rows, canonical columns); return the relation of every row with its
    reason, the rows per reason (see ``_count_reasons``), and a relation holding every row set aside (with the
    same columns; rows with a reason are those of the quarantine).

    Text (CSV) is parsed once into the engine (``materialize``: a table of checked rows, as is a source read
    once from a stream); typed sources (Parquet, frames) are checked in place, so 100M rows are never copied into
    memory: every later scan reads the file and, when validation set rows aside, applies the same checks.
    Duplicates are looked for only when the counting pass finds usable rows sharing a row hash (the usual input has
    none, and then costs no pass of its own). Where it finds some, a typed source's checked rows are written once
    to a Parquet file in ``store`` (the connection's scratch folder, on disk), which every later scan reads: setting
    the copies aside means hashing every row and matching the hashes, which each scan in place did again (the
    10.9M events of 100,000 generated customers with 9 copies: 2.0 s a scan in place, 0.36 s from the written
    rows; validation and a feature build of 1,000,000 such customers 143.3 s in place, 109.7 s written). Without
    copies writing did not pay: 11.3M transactions validated in 2.6 s in place and 5.1-5.6 s written, for the same
    features' time (docs/benchmarks.md).

    Where exact duplicates are the only rows set aside, the rows set aside are those of the table of duplicate
    candidates validation made (a few rows), so writing the quarantine is not another pass over the source (the
    events of 100,000 generated customers: 10.9M rows read again for 9 duplicates).
    """
    checked = f"_checked_{name}"
    kind = "TABLE" if materialize else "VIEW"
    con.execute(f"CREATE OR REPLACE {kind} {checked} AS {checked_rows}")
    counts, repeated = _count_reasons(con, checked, name, example)
    failed = any(reason is not None for reason, _, _ in counts)  # rows the per-row checks set aside
    marked = set_aside = checked
    if repeated:
        if not materialize and store is not None:  # every later scan would hash every row again to drop the copies
            written = _written(con, checked_rows, store / f"{name}.parquet")
            con.execute(f"CREATE OR REPLACE VIEW {checked} AS SELECT * FROM read_parquet({written})")
        marked, candidates, marks, shown = _mark_duplicates(con, checked, name, example)
        counts = _set_aside(counts, DUPLICATE, marks, shown)
        set_aside = marked if failed else candidates
    if name in KEYS:
        keyed, marks, shown = _mark_repeated_keys(con, marked, name, KEYS[name], example)
        counts = _set_aside(counts, _repeated(KEYS[name]), marks, shown)
        if keyed != marked:  # repeated keys are set aside anywhere in the table: read them all
            marked = set_aside = keyed
    # With no row set aside, the usable rows are all the rows: later scans skip the per-row checks.
    where = "" if all(reason is None for reason, _, _ in counts) else " WHERE _reason IS NULL"
    con.execute(f"CREATE OR REPLACE VIEW clean_{name} AS SELECT {canonical} FROM {marked}{where}")
    return marked, counts, set_aside


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
    ids and time zones: see ``_column_formats``) and write the SQL that checks each of its rows."""
    resolved, types, extras = _resolve_columns(scan, schema, source, mapping)
    notices: list[str] = []
    if extras and not schema.keep_extra_columns:
        notices.append(f"{schema.name}: ignored columns not in the contract: {', '.join(extras)}")
    kept_extras = extras if schema.keep_extra_columns else []

    # One pass decides how each column is read (see _column_formats): separators, date formats, float ids, and
    # the time zone convention of each text timestamp column (mixed aware/naive values are ambiguous).
    forms, tz_minority, notes = _column_formats(scan, schema, source, resolved, types)
    notices += notes

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
            placeholders = ", ".join(f"TIMESTAMP '{d}'" for d in PLACEHOLDER_DATES)
            reasons.append(f"WHEN {typed} IN ({placeholders}) THEN 'placeholder date|{col.name}'")
            reasons.append(f"WHEN {typed} < TIMESTAMP '{EARLIEST_DATE}' THEN 'date before 1900|{col.name}'")
            latest = now + LATEST_CLOCK
            reasons.append(f"WHEN {typed} > TIMESTAMP '{latest:%Y-%m-%d %H:%M:%S}' THEN 'timestamp in the future|{col.name}'")
            if col.name in tz_minority:
                negate = "" if tz_minority[col.name] else "NOT "
                reasons.append(
                    f"WHEN {negate}regexp_matches({raw}, '{TZ_AWARE}') THEN 'mixed time zones|{col.name}'"
                )
    if schema.name == "transactions" and "quantity" in typed_of:  # a purchase of fewer than no items
        is_return = f"coalesce({typed_of['is_return']}, false)" if "is_return" in typed_of else "false"
        reasons.append(f"WHEN {typed_of['quantity']} < 0 AND NOT ({is_return} OR {typed_of['amount']} < 0) "
                       "THEN 'negative quantity on a purchase|quantity'")
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


def check_rows(con: duckdb.DuckDBPyConnection, plan: TablePlan, materialize: bool = False,
               store: Path | None = None) -> RowCounts:
    """Check every row of ``plan``'s source in ``con`` (the source as ``plan`` reads it): creates ``clean_<table>``
    (usable rows, canonical columns) and ``quarantine_<table>`` (rows set aside, with their reason), and returns
    what was found. ``materialize`` stores the checked rows once in the engine (a source that can be read only
    once); ``store``, a folder, holds a typed source's checked rows as a file where it has exact
    copies (``_create_clean_view``)."""
    name = plan.schema.name
    checked, counts, set_aside = _create_clean_view(con, name, plan.checked_rows, plan.canonical, plan.example,
                                                    plan.text or materialize, store)
    con.execute(f"CREATE OR REPLACE VIEW quarantine_{name} AS {plan.quarantine_sql(set_aside)}")
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
