"""Validation of input tables inside the engine: typed, checked, quarantined, accounted for.

Every table gets a checked relation carrying each row's typed values and the first reason it is
unusable (or NULL): a table for text sources (CSV is parsed once), a view for typed sources (Parquet,
frames), which are then read in place by every later scan. Clean rows feed the feature stages; bad rows
either stop the run (``on_bad_rows: fail``) or go to quarantine with their reason. The accounting always balances:
rows read = rows used + rows quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from pipeline.config import ColumnsConfig, ValidationConfig
from pipeline.errors import DataError
from pipeline.io import TableSource, sql_string
from pipeline.schema import KNOWN_EVENT_TYPES, SCHEMAS, Column, TableSchema

TZ_AWARE = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$"

FIXES = {
    "empty customer id": "fill in the customer id or remove the row",
    "unparseable timestamp": "use ISO 8601 dates such as 2024-03-31 or 2024-03-31T14:05:00",
    "non-numeric value": "use plain numbers with a dot as decimal separator and no currency symbols",
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


def _typed_expr(col: Column, raw: str, src_type: str) -> str:
    """SQL giving the column's canonical type; NULL where the raw value cannot be read."""
    is_text = src_type.upper().startswith("VARCHAR")
    if col.kind == "id":
        return f"CAST({raw} AS VARCHAR)"
    if col.kind == "timestamp":
        if is_text or "TIME ZONE" in src_type.upper():
            return f"CAST(TRY_CAST({raw} AS TIMESTAMPTZ) AS TIMESTAMP)"
        return f"TRY_CAST({raw} AS TIMESTAMP)"
    if col.kind == "number":
        return f"TRY_CAST({raw} AS DOUBLE)"
    if col.kind == "bool":
        return f"TRY_CAST({raw} AS BOOLEAN)"
    return f"CAST({raw} AS VARCHAR)"


_REASON_BY_KIND = {"timestamp": "unparseable timestamp", "number": "non-numeric value", "bool": "invalid boolean"}


def _resolve_columns(
    con: duckdb.DuckDBPyConnection, schema: TableSchema, source: TableSource, mapping: dict[str, str], scan: str
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Return canonical->source column, source column types, and extra source columns."""
    described = con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    types = {row[0]: row[1] for row in described}
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
        misfit = _misfit_lines(con, source, next(iter(types))) if source.is_text and len(types) == 1 else None
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
    delim = next((d for d in (",", ";", "\t", "|") if d in header), None)
    if delim is None:
        return None
    fields = len(header.split(delim))
    shown = "tab" if delim == "\t" else f"'{delim}'"
    try:
        con.execute(f"""SELECT count(*) FROM read_csv({sql_string(str(source.path))}, all_varchar=true, header=true,
            delim={sql_string(delim)}, quote='"', escape='"', store_rejects=true, rejects_table='_csv_rejects',
            rejects_scan='_csv_scans')""").fetchall()
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
        fix = ("save it as UTF-8 text (a spreadsheet's 'CSV UTF-8' format, or iconv -f UTF-16 -t UTF-8 "
               "old.csv > new.csv)")
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
    marks, shown = con.execute(f"SELECT count(*), any_value(concat_ws(', ', {example})) FROM {candidates} "
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
    marks, shown = con.execute(f"SELECT count(*), arg_min(concat_ws(', ', {example}), {key}) FROM {keyed} "
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
    """Rows per reason (NULL = usable; most rows first) with an example of each kind of bad row, and how
    many distinct row hashes the usable rows have (fewer than the rows: some may be duplicates).

    One pass without grouping counts the rows and the hashes (grouping by reason makes the distinct count
    a grouped one, 20% slower); the reasons are grouped in a second pass only when some rows are bad."""
    usable, bad, usable_hashes = con.execute(
        f"SELECT count(*) FILTER (WHERE _reason IS NULL), count(*) FILTER (WHERE _reason IS NOT NULL), "
        f"count(DISTINCT _row_hash) FILTER (WHERE _reason IS NULL) FROM {relation}"
    ).fetchone()
    rows = [(None, usable, None)] if usable else []
    if bad:
        rows += con.execute(f"SELECT _reason, count(*), any_value(concat_ws(', ', {example})) FROM {relation} "
                            "WHERE _reason IS NOT NULL GROUP BY _reason").fetchall()
    return sorted(rows, key=_most_rows_first), usable_hashes


def _most_rows_first(count: tuple) -> tuple:
    """Sort key of (reason, rows, ...): most rows first, then bad before usable, then by reason."""
    return -count[1], count[0] is None, count[0] or ""


def _extra_expr(con: duckdb.DuckDBPyConnection, scan: str, column: str, src_type: str) -> str:
    """Profile attributes read as text (CSV) become numbers or booleans when every value reads as one."""
    q = _quote(column)
    if not src_type.upper().startswith("VARCHAR"):
        return q
    present, numeric, boolean = con.execute(
        f"SELECT count({q}), count(TRY_CAST({q} AS DOUBLE)), count(TRY_CAST({q} AS BOOLEAN)) FROM {scan}"
    ).fetchone()
    if present and numeric == present:
        return f"TRY_CAST({q} AS DOUBLE) AS {q}"
    if present and boolean == present:
        return f"TRY_CAST({q} AS BOOLEAN) AS {q}"
    return q


def _create_clean_view(
    con: duckdb.DuckDBPyConnection, name: str, source: TableSource, checked_rows: str, canonical: str, example: str
) -> tuple[str, list[tuple]]:
    """Create ``clean_<name>`` (usable rows, canonical columns); return the relation of every row with its
    reason, and the rows per reason (see ``_count_reasons``).

    Text (CSV) is parsed once into the engine; typed sources (Parquet, frames) are checked in place, so
    100M rows are never copied into memory: every later scan reads the file and, when validation set
    rows aside, applies the same checks. Duplicates are looked for only when the counting pass finds
    usable rows sharing a row hash (the usual input has none, and then costs no pass of its own).
    """
    checked = f"_checked_{name}"
    kind = "TABLE" if source.is_text else "VIEW"
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


def _check_table(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    source: TableSource,
    mapping: dict[str, str],
    now: datetime,
) -> tuple[TableAccount, list[Problem], list[str]]:
    scan = source.scan_sql(con)
    resolved, types, extras = _resolve_columns(con, schema, source, mapping, scan)
    notices: list[str] = []
    if extras and not schema.keep_extra_columns:
        notices.append(f"{schema.name}: ignored columns not in the contract: {', '.join(extras)}")
    kept_extras = extras if schema.keep_extra_columns else []

    # Time zone convention of each text timestamp column: mixed aware/naive values are ambiguous.
    tz_minority: dict[str, bool] = {}
    for col in schema.columns:
        src = resolved.get(col.name)
        if col.kind == "timestamp" and src and types[src].upper().startswith("VARCHAR"):
            aware, naive = con.execute(
                f"SELECT count(*) FILTER (WHERE regexp_matches({_quote(src)}, '{TZ_AWARE}')),"
                f" count(*) FILTER (WHERE NOT regexp_matches({_quote(src)}, '{TZ_AWARE}')) FROM {scan}"
            ).fetchone()
            if aware and naive:
                tz_minority[col.name] = aware <= naive  # True: the aware values are the minority

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
        typed = typed_of[col.name] = _typed_expr(col, raw, types[src])
        selects.append(f"{typed} AS {_quote(col.name)}")
        if col.kind in _REASON_BY_KIND and text:
            raw_copies.append(src)
        else:
            shown[src] = f"CAST({_quote(col.name)} AS VARCHAR)"
        present = f"({raw} IS NOT NULL AND trim({raw}) <> '')" if text else f"({raw} IS NOT NULL)"
        if col.kind == "id":
            reasons.append(f"WHEN NOT {present} THEN 'empty customer id|{col.name}'")
            continue
        if col.kind in _REASON_BY_KIND:
            reasons.append(f"WHEN {present} AND {typed} IS NULL THEN '{_REASON_BY_KIND[col.kind]}|{col.name}'")
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
    extra_selects = [_extra_expr(con, scan, c, types[c]) for c in kept_extras]
    shown.update({c: f"CAST({_quote(c)} AS VARCHAR)" for c in kept_extras})
    raw_copies += [c for c in extras if c not in kept_extras]
    raw_selects = [f"CAST({_quote(c)} AS VARCHAR) AS {_quote('_raw_' + c)}" for c in raw_copies]
    shown.update({c: _quote("_raw_" + c) for c in raw_copies})
    all_source = ", ".join(_quote(c) for c in types)

    # Each row of the source typed, with its first reason to be set aside (NULL: usable).
    checked_rows = (f"SELECT {', '.join(selects + extra_selects + raw_selects)}, "
                    f"CASE {' '.join(reasons)} END AS _reason, hash({all_source}) AS _row_hash FROM {scan}")
    canonical = ", ".join(_quote(c) for c in list(schema.column_names) + kept_extras)
    example = ", ".join(f"coalesce({shown[c]}, '<empty>')" for c in types)
    checked, counts = _create_clean_view(con, schema.name, source, checked_rows, canonical, example)
    raw_cols = ", ".join(f"{shown[c]} AS {_quote(c)}" for c in types)
    con.execute(
        f"CREATE OR REPLACE VIEW quarantine_{schema.name} AS SELECT {raw_cols}, "
        f"split_part(_reason, '|', 1) AS reason, split_part(_reason, '|', 2) AS reason_column "
        f"FROM {checked} WHERE _reason IS NOT NULL"
    )
    read = sum(n for _, n, _ in counts)
    bad = sum(n for reason, n, _ in counts if reason is not None)
    account = TableAccount(schema.name, source.label, read, read - bad, bad)

    problems: list[Problem] = []
    if read == 0:
        problems.append(
            Problem(schema.name, "", "the table is empty", 0, "", f"add rows to {source.label} or remove the file",
                    fatal=schema.required)
        )
    for reason_col, n, example in counts:
        if reason_col is None:
            continue
        reason, column = reason_col.split("|", 1)
        problems.append(Problem(schema.name, column, reason, n, f"({example})", FIXES[reason]))

    if schema.name == "events" and read:
        known = ", ".join(f"'{t}'" for t in KNOWN_EVENT_TYPES)
        other = con.execute(
            f"SELECT event_type, count(*) FROM clean_events WHERE event_type NOT IN ({known}) "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        if other:
            listing = ", ".join(f"{t} ({n:,})" for t, n in other)
            notices.append(
                f"events: unknown event types are kept and counted in other_events_last_90d: {listing}"
            )
    return account, problems, notices


def validate_sources(
    con: duckdb.DuckDBPyConnection,
    sources: dict[str, TableSource],
    unknown_entries: list[str],
    columns: ColumnsConfig,
    validation: ValidationConfig,
    now: datetime,
) -> ValidationReport:
    """Check every table into the engine; raise DataError for what cannot go on under the policy.

    After this, the connection holds ``clean_<table>`` views (typed, canonical columns) for each table
    present and ``quarantine_<table>`` views of the rows set aside.
    """
    if "transactions" not in sources:
        raise DataError(
            "no transactions table found. Fix: put transactions.csv or transactions.parquet (or a folder "
            "transactions/ of Parquet parts) in the data folder."
        )
    report = ValidationReport()
    for entry in unknown_entries:
        report.problems.append(
            Problem(entry, "", "unknown table, not read", 0, "",
                    "rename it to one of transactions, customers, events, invoices, subscriptions, or move it out")
        )
    for name, source in sources.items():
        try:
            account, problems, notices = _check_table(con, SCHEMAS[name], source, getattr(columns, name), now)
        except (duckdb.InvalidInputException, duckdb.IOException) as exc:
            misfit = None
            if source.is_text and "sniffing" in str(exc):  # no dialect fits every sampled line
                with open(source.path, encoding="utf-8", errors="replace") as fh:
                    misfit = _misfit_lines(con, source, fh.readline().rstrip("\r\n"))
            raise (misfit or _unreadable(source, exc)) from None
        report.accounts.append(account)
        report.problems.extend(problems)
        report.notices.extend(notices)
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
