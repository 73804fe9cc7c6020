"""Validation of input tables inside the engine: typed, checked, quarantined, accounted for.

How a table is read is decided in ``formats``, its rows are checked in ``rows`` and what was found is worded in
``messages``; here every table is checked under the validation policy (``validate_sources`` on DuckDB,
``validate_tables`` for any engine). How the steps fit together: docs/validation.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb

from pipeline.core.config import ColumnsConfig, InputConfig, ValidationConfig
from pipeline.core.errors import DataError
from pipeline.core.schema import SCHEMAS, TableSchema
from pipeline.data.sources import TableSource, readable, unusable_entry
from pipeline.data.validate.formats import Scan, SourceScan, _read_error
from pipeline.data.validate.messages import DUPLICATE, Problem, TableAccount, ValidationReport, _repeated
from pipeline.data.validate.messages import _fields_fix as _fields_fix  # re-exported: the Spark engine's misfit lines
from pipeline.data.validate.rows import KEYS, RowCounts, TablePlan, check_rows, merge_counts, plan_table, table_report

__all__ = [
    "KEYS",
    "Problem",
    "RowCounts",
    "Scan",
    "SourceScan",
    "TableAccount",
    "TablePlan",
    "ValidationReport",
    "check_rows",
    "merge_counts",
    "plan_table",
    "table_report",
    "validate_sources",
    "validate_tables",
]


def _check_table(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    source: TableSource,
    mapping: dict[str, str],
    now: datetime,
    store: Path | None = None,
) -> tuple[TableAccount, list[Problem], list[str]]:
    plan = plan_table(SourceScan(con, source.scan_sql(con)), schema, source, mapping, now)
    return table_report(plan, check_rows(con, plan, store=store))


def validate_sources(
    con: duckdb.DuckDBPyConnection,
    sources: dict[str, TableSource],
    unknown_entries: list[str],
    columns: ColumnsConfig,
    validation: ValidationConfig,
    now: datetime,
    input_format: InputConfig | None = None,
    temp_dir: str | None = None,
    store: Path | None = None,
) -> ValidationReport:
    """Check every table into the engine; raise DataError for what cannot go on under the policy.

    After this, the connection holds ``clean_<table>`` views (typed, canonical columns) for each table
    present and ``quarantine_<table>`` views of the rows set aside. Files are read under the format
    settings ``input_format``; copies a file needs to be read (another encoding) go under ``temp_dir`` and
    are removed once it is in the engine. ``store``: a folder that holds the checked rows of typed tables with
    exact copies for as long as the connection reads them (``check_rows``).
    """
    input_format = input_format or InputConfig()

    def check(name: str, source: TableSource) -> tuple[TableAccount, list[Problem], list[str]]:
        try:
            with readable(source, input_format.for_table(name), temp_dir) as (readable_source, note):
                account, problems, notices = _check_table(con, SCHEMAS[name], readable_source, getattr(columns, name),
                                                          now, store)
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
