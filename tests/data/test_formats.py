"""Files as people export them: every format reads to the values of its clean canonical equivalent, or stops
with a message that names the file, the column, an example and the setting that reads it.

Each case writes the same generated table in one format (semicolons and decimal commas, thousands separators,
day-first dates, legacy encodings, Excel, tab-separated text, float ids) and compares the validated clean
relation with the one the canonical file (UTF-8 CSV, dot decimals, ISO 8601 dates) gives.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from pipeline.build.features import build_features
from pipeline.cli import app
from pipeline.core.config import load_params
from pipeline.core.errors import ConfigError, DataError
from pipeline.data.sources import discover_tables
from pipeline.engine.duckdb import open_dataset

NOW = datetime(2026, 1, 1, 12, 0)
PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
WORDS = {
    "latin": ["books", "toys", "home, garden", "clothes"],  # a comma inside: quoted in comma-separated files
    "cyrillic": ["Книги", "Игрушки", "Дом и сад", "Одежда"],
    "chinese": ["书籍", "玩具", "家居", "服装"],
    "western": ["café", "Müller", "Größe", "crème brûlée"],
}


def table(n: int = 80, seed: int = 3, script: str = "latin", whole: bool = False) -> pd.DataFrame:
    """A generated transactions table (typed): ids, timestamps, amounts (most of them over 1,000), categories."""
    rng = np.random.default_rng(seed)
    stamps = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 360 * 24 * 3600, n), unit="s")
    amounts = rng.integers(5, 9000, n).astype(float) if whole else np.round(rng.uniform(5, 5000, n), 2)
    amounts[::17] *= -1  # a few returns
    return pd.DataFrame({"customer_id": [str(100 + i % 20) for i in range(n)], "timestamp": stamps,
                         "amount": amounts, "category": [WORDS[script][i % 4] for i in range(n)]})


def text(frame: pd.DataFrame, delimiter: str = ",", number=lambda a: f"{a:.2f}",
         day=lambda t: t.strftime("%Y-%m-%d %H:%M:%S")) -> str:
    """The table as delimited text, values written by ``number`` and ``day``, quoted where they must be."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(frame.columns)
    for row in frame.itertuples(index=False):
        writer.writerow([row.customer_id, day(row.timestamp), number(row.amount), row.category])
    return out.getvalue()


def grouped(amount: float, thousands: str, decimal: str, decimals: int = 2) -> str:
    """``amount`` with ``thousands`` grouping its digits and ``decimal`` before the fraction."""
    shown = f"{amount:,.{decimals}f}"
    return shown.replace(",", "\0").replace(".", decimal).replace("\0", thousands)


def write(folder: Path, name: str, content: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def open_folder(folder: Path, *overrides: str, mode: str = "quarantine"):
    params = load_params(None, [f"validation.on_bad_rows={mode}", *overrides])
    sources, unknown = discover_tables(folder)
    return open_dataset(sources, params, NOW, unknown)


def stop_message(folder: Path, *overrides: str) -> str:
    """The message of the DataError that opening ``folder`` stops with."""
    with pytest.raises(DataError) as err:
        open_folder(folder, *overrides)
    return str(err.value)


def clean(ds, name: str = "transactions") -> list[tuple]:
    return ds.con.execute(f"SELECT * FROM clean_{name} ORDER BY ALL").fetchall()


def canonical(tmp_path: Path, frame: pd.DataFrame, decimals: int = 2) -> list[tuple]:
    folder = tmp_path / "canonical"
    write(folder, "transactions.csv", text(frame, number=lambda a: f"{a:.{decimals}f}"))
    ds = open_folder(folder, mode="fail")
    return clean(ds)


def same_as_canonical(tmp_path: Path, frame: pd.DataFrame, folder: Path, *overrides: str, decimals: int = 2):
    """Open ``folder`` strictly (any bad row fails) and check its clean rows are the canonical ones."""
    ds = open_folder(folder, *overrides, mode="fail")
    assert clean(ds) == canonical(tmp_path, frame, decimals)
    assert ds.report.rows_quarantined == 0
    return ds


def notes(ds) -> str:
    return "\n".join(ds.report.notices)


# --- separators ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("given", [True, False])
def test_a_semicolon_and_decimal_comma_export_reads_to_the_canonical_values(tmp_path, given):
    frame = table()
    folder = tmp_path / "export"
    write(folder, "transactions.csv", text(frame, ";", number=lambda a: f"{a:.2f}".replace(".", ",")))
    settings = ("input={delimiter: ';', decimal_separator: ','}",) if given else ()
    ds = same_as_canonical(tmp_path, frame, folder, *settings)
    if not given:
        assert "transactions.amount: read with a comma as decimal separator" in notes(ds)


@pytest.mark.parametrize(("thousands", "decimal", "delimiter"), [
    (".", ",", ";"),  # 1.234,56 (Russian, German accounting exports)
    (",", ".", ","),  # 1,293.15 (quoted in a comma-separated file)
    (" ", ",", ";"),  # 1 234,56
    ("\u00a0", ",", ";"),  # 1 234,56 with a no-break space, as Excel writes it
    ("'", ".", ";"),  # 1'234.56 (Swiss)
])
@pytest.mark.parametrize("given", [True, False])
def test_grouped_thousands_read_to_the_canonical_values(tmp_path, thousands, decimal, delimiter, given):
    frame = table()
    folder = tmp_path / "export"
    write(folder, "transactions.csv", text(frame, delimiter, number=lambda a: grouped(a, thousands, decimal)))
    setting = {"\u00a0": "space", " ": "' '", "'": "apostrophe"}.get(thousands, thousands)
    settings = (f"input.decimal_separator={decimal}", f"input.thousands_separator={setting}") if given else ()
    ds = same_as_canonical(tmp_path, frame, folder, *settings)
    if not given:
        assert "transactions.amount: read with" in notes(ds) and "grouping thousands" in notes(ds)


def test_a_dot_grouping_thousands_is_decided_from_the_whole_column_and_said(tmp_path):
    """1.250 is one and a quarter or twelve hundred and fifty: every value holding a dot has exactly three
    digits after it and none has four digits without one, so it groups thousands; the report says so."""
    frame = table(whole=True)
    folder = tmp_path / "export"
    write(folder, "transactions.csv", text(frame, number=lambda a: grouped(a, ".", ",", 0)))
    ds = same_as_canonical(tmp_path, frame, folder, decimals=0)
    said = notes(ds)
    assert "has exactly three digits after it" in said and "read as grouping thousands" in said
    assert "--set input.decimal_separator=." in said  # how to say otherwise
    ds = same_as_canonical(tmp_path, frame, folder, "input.thousands_separator=.", decimals=0)
    assert "three digits" not in notes(ds)


def test_a_dot_that_may_group_thousands_in_too_few_values_stops_with_both_readings(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n1,2025-01-01,1.250\n2,2025-01-02,20\n")
    message = stop_message(tmp_path)
    assert "transactions.csv" in message and "amount" in message and "'1.250'" in message
    assert "--set input.thousands_separator=." in message and "--set input.decimal_separator=." in message
    ds = open_folder(tmp_path, "input.decimal_separator=.")
    assert [r[2] for r in clean(ds)] == [1.25, 20.0]
    ds = open_folder(tmp_path, "input.thousands_separator=.")
    assert [r[2] for r in clean(ds)] == [1250.0, 20.0]


def test_mixed_number_formats_stop_on_the_share_of_bad_rows_with_the_likely_fix(tmp_path):
    """A third of the amounts unreadable is a format problem, not a few bad rows: the run stops."""
    frame = table()
    rows = [grouped(a, ",", ".") if i % 3 else grouped(a, ".", ",") for i, a in enumerate(frame["amount"])]
    write(tmp_path, "transactions.csv", text(frame.assign(amount=range(len(frame))),
                                             number=lambda i: rows[int(i)]))
    message = stop_message(tmp_path)
    assert "transactions:" in message and "% of the rows" in message and "validation.max_bad_share (1.0%)" in message
    assert "non-numeric value in transactions.amount" in message and "Example:" in message
    assert "--set input.decimal_separator=," in message  # what the European-style example most likely needs
    ds = open_folder(tmp_path, "validation.max_bad_share=0.5")  # going on without them, when they are bad indeed
    (account,) = ds.report.accounts
    assert account.rows_quarantined == 27 and account.balanced


# --- dates --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("given", [True, False])
def test_day_first_dates_read_to_the_canonical_values(tmp_path, given):
    frame = table()
    folder = tmp_path / "export"
    write(folder, "transactions.csv", text(frame, ";", number=lambda a: f"{a:.2f}".replace(".", ","),
                                           day=lambda t: t.strftime("%d.%m.%Y %H:%M:%S")))
    settings = ("input.delimiter=;", "input.decimal_separator=,", "input.date_format=%d.%m.%Y %H:%M:%S") if given else ()
    ds = same_as_canonical(tmp_path, frame, folder, *settings)
    if not given:
        assert "transactions.timestamp: dates read as %d.%m.%Y" in notes(ds)


def test_several_date_formats_may_be_given(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id;timestamp;amount\n1;31.12.2024;5\n2;03/01/2025 10:30;6\n"
                                        "3;2025-01-04;7\n")
    ds = open_folder(tmp_path, "input.date_format=[\"%d.%m.%Y\", \"%d/%m/%Y %H:%M\"]", mode="fail")
    assert [r[1] for r in clean(ds)] == [datetime(2024, 12, 31), datetime(2025, 1, 3, 10, 30), datetime(2025, 1, 4)]


def test_dates_that_read_day_first_and_month_first_alike_stop(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n1,03/04/2025,5\n2,05/06/2025,6\n")
    message = stop_message(tmp_path)
    assert "transactions.csv" in message and "timestamp" in message and "'03/04/2025'" in message
    assert "--set input.date_format=%d/%m/%Y" in message and "--set input.date_format=%m/%d/%Y" in message
    ds = open_folder(tmp_path, "input.date_format=%m/%d/%Y")
    assert [r[1] for r in clean(ds)] == [datetime(2025, 3, 4), datetime(2025, 5, 6)]


# --- encodings ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("encoding", "script"), [
    ("cp1251", "cyrillic"), ("gbk", "chinese"), ("gb18030", "chinese"), ("utf-16", "cyrillic"),
    ("utf-16-be", "chinese"), ("latin-1", "western"), ("utf-8-sig", "cyrillic"),
])
def test_a_legacy_encoding_reads_to_the_canonical_values_when_given(tmp_path, encoding, script):
    frame = table(script=script)
    folder = tmp_path / "export"
    write(folder, "transactions.csv", text(frame).encode(encoding))
    given = encoding.removesuffix("-sig").removesuffix("-be")
    ds = same_as_canonical(tmp_path, frame, folder, f"input.tables.transactions.encoding={given}")
    assert {r[0] for r in ds.con.execute("SELECT category FROM clean_transactions").fetchall()} == set(WORDS[script])


@pytest.mark.parametrize(("encoding", "script", "named"), [
    ("cp1251", "cyrillic", "cp1251"), ("gbk", "chinese", "gb18030"), ("latin-1", "western", "latin-1"),
])
def test_a_legacy_encoding_not_given_stops_naming_the_line_and_the_likely_encoding(tmp_path, encoding, script, named):
    frame = table(script=script)
    write(tmp_path, "transactions.csv", text(frame).encode(encoding))
    message = stop_message(tmp_path)
    assert "transactions.csv: is not UTF-8: line 2 " in message  # the first data line, not the header
    assert f"It is likely {named}" in message and f"--set input.tables.transactions.encoding={named}" in message
    assert WORDS[script][0] in message  # the line as it reads in that encoding
    assert "UTF-16" not in message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_utf16_is_recognised_without_settings(tmp_path, encoding):
    frame = table(script="cyrillic")
    folder = tmp_path / "export"
    body = text(frame).encode(encoding)
    write(folder, "transactions.csv", body)
    ds = same_as_canonical(tmp_path, frame, folder)
    assert "read as UTF-16" in notes(ds)


def test_a_copy_in_another_encoding_goes_under_the_engine_temp_dir_and_is_removed(tmp_path):
    frame = table(script="cyrillic")
    folder = tmp_path / "export"
    write(folder, "transactions.csv", text(frame).encode("cp1251"))
    scratch = tmp_path / "scratch"
    same_as_canonical(tmp_path, frame, folder, "input.encoding=cp1251", f"engine.temp_dir={scratch}")
    assert scratch.is_dir() and not list(scratch.iterdir())


# --- Excel workbooks and tab-separated text ----------------------------------------------------------------

def workbook(frame: pd.DataFrame, path: Path, sheet_first: str | None = None) -> Path:
    book = Workbook()
    if sheet_first:
        book.active.title = sheet_first
        book.active.append(["notes"])
        sheet = book.create_sheet("data")
    else:
        sheet = book.active
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append([row.customer_id, row.timestamp.to_pydatetime(), float(row.amount), row.category])
    book.save(path)
    return path


def test_an_excel_workbook_reads_to_the_canonical_values(tmp_path):
    frame = table(script="cyrillic")
    folder = tmp_path / "export"
    folder.mkdir()
    workbook(frame, folder / "transactions.xlsx")
    same_as_canonical(tmp_path, frame, folder)


def test_the_sheet_of_a_workbook_may_be_named(tmp_path):
    frame = table()
    folder = tmp_path / "export"
    folder.mkdir()
    workbook(frame, folder / "transactions.xlsx", sheet_first="about")
    same_as_canonical(tmp_path, frame, folder, "input.sheet=data")
    with pytest.raises(DataError, match=r"transactions.xlsx: has no sheet 'dat'; its sheets are about, data"):
        open_folder(folder, "input.sheet=dat")


def test_customers_in_a_workbook_are_a_table_with_ids_kept_as_text(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n007,2025-01-01,5\n")
    book = Workbook()
    book.active.append(["customer_id", "signup_date", "region"])
    book.active.append(["007", datetime(2024, 5, 1), "north"])
    book.save(tmp_path / "customers.xlsx")
    ds = open_folder(tmp_path, mode="fail")
    assert clean(ds, "customers") == [("007", datetime(2024, 5, 1), "north")]


def test_a_tab_separated_file_reads_to_the_canonical_values(tmp_path):
    frame = table()
    folder = tmp_path / "export"
    write(folder, "transactions.tsv", text(frame, "\t"))
    same_as_canonical(tmp_path, frame, folder)


def test_a_damaged_workbook_is_named(tmp_path):
    write(tmp_path, "transactions.xlsx", b"PK\x03\x04 not really a workbook")
    with pytest.raises(DataError, match=r"transactions.xlsx: cannot be read as an Excel workbook .*Fix: save it again"):
        open_folder(tmp_path)


# --- ids ----------------------------------------------------------------------------------------------------

def test_float_ids_holding_whole_numbers_match_integer_ids(tmp_path):
    """pandas writes an integer column with gaps as floats (291.0): read as 291, matching customers' 291."""
    tx = pd.DataFrame({"customer_id": [291.0, 291.0, None, 12.0],
                       "timestamp": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-02-03", "2025-03-01"]),
                       "amount": [10.0, 20.0, 5.0, 7.5]})
    tx.to_parquet(tmp_path / "transactions.parquet")
    write(tmp_path, "customers.csv", "customer_id,signup_date,region\n291,2024-01-01,north\n12,2024-02-01,south\n")
    ds = open_folder(tmp_path, "validation.max_bad_share=1")
    assert sorted({r[0] for r in clean(ds)}) == ["12", "291"]
    assert ds.report.problems[0].reason == "empty customer id" and ds.report.problems[0].rows == 1
    assert "whole numbers (291.0); read as those integers (291)" in notes(ds)
    features = build_features(ds, load_params(None), date(2025, 12, 31)).set_index("customer_id")
    assert features.loc["291", "profile_region"] == "north" and features.loc["12", "profile_region"] == "south"


def test_float_ids_written_as_text_match_too(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n291.0,2025-01-01,10\n12.0,2025-01-02,5\n")
    assert sorted(r[0] for r in clean(open_folder(tmp_path, mode="fail"))) == ["12", "291"]
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n0291,2025-01-01,10\nA.1,2025-01-02,5\n")
    assert sorted(r[0] for r in clean(open_folder(tmp_path, mode="fail"))) == ["0291", "A.1"]  # text stays text


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_float_ids_that_are_not_whole_numbers_stop(tmp_path, fmt):
    tx = pd.DataFrame({"customer_id": [291.0, 291.5], "timestamp": pd.to_datetime(["2025-01-01", "2025-02-01"]),
                       "amount": [10.0, 20.0]})
    if fmt == "parquet":
        tx.to_parquet(tmp_path / "transactions.parquet")
    else:
        tx.to_csv(tmp_path / "transactions.csv", index=False)
    message = stop_message(tmp_path)
    assert f"transactions.{fmt}" in message and "column customer_id" in message and "291.5" in message
    assert "not whole numbers" in message and "Fix:" in message


# --- numbers that are not finite or too large ----------------------------------------------------------------

def test_non_finite_and_out_of_range_numbers_are_row_problems(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount,quantity\n1,2025-01-01,NaN,1\n"
                                        "1,2025-01-02,inf,1\n1,2025-01-03,-Infinity,1\n1,2025-01-04,1e20,1\n"
                                        "1,2025-01-05,12.5,nan\n2,2025-01-06,20,1\n")
    ds = open_folder(tmp_path, "validation.max_bad_share=1")
    reasons = ds.con.execute("SELECT reason, reason_column, count(*) FROM quarantine_transactions GROUP BY ALL "
                             "ORDER BY ALL").fetchall()
    assert reasons == [("non-finite number", "amount", 3), ("non-finite number", "quantity", 1),
                       ("number out of range", "amount", 1)]
    assert ds.report.accounts[0].balanced and clean(ds) == [("2", datetime(2025, 1, 6), 20.0, None, 1.0, None, None, None)]
    assert len(build_features(ds, load_params(None), date(2025, 12, 31))) == 1
    with pytest.raises(DataError, match=r"transactions.amount: 3 rows: non-finite number.*Fix: replace NaN"):
        open_folder(tmp_path, mode="fail")


def test_non_finite_numbers_in_parquet_are_row_problems(tmp_path):
    pd.DataFrame({"customer_id": ["1", "2", "3"], "timestamp": pd.to_datetime(["2025-01-01"] * 3),
                  "amount": [float("nan"), float("inf"), 3.0]}).to_parquet(tmp_path / "transactions.parquet")
    ds = open_folder(tmp_path, "validation.max_bad_share=1")
    assert [r[0] for r in clean(ds)] == ["3"]
    assert len(build_features(ds, load_params(None), date(2025, 12, 31))) == 1


# --- quoting past the reader's sample ----------------------------------------------------------------------

@pytest.mark.parametrize("value", ["home, garden", "line\rbreak", "line\r\nbreak", 'the "best"'])
def test_a_quoted_value_first_seen_after_line_20000_is_read(tmp_path, value):
    rows = [f"c{i},2025-01-{i % 28 + 1:02d},{i % 50},books" for i in range(25000)]
    quoted = '"' + value.replace('"', '""') + '"'
    rows[24000] = f"c24000,2025-01-01,5,{quoted}"
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount,category\n" + "\n".join(rows) + "\n")
    ds = open_folder(tmp_path, mode="fail")
    assert ds.report.accounts[0].rows_used == 25000
    assert ds.con.execute("SELECT category FROM clean_transactions WHERE customer_id = 'c24000'").fetchall() == [(value,)]


def test_an_unclosed_quote_names_its_line(tmp_path):
    rows = [f"c{i},2025-01-{i % 28 + 1:02d},{i % 50},books" for i in range(25000)]
    rows[24000] = 'c24000,2025-01-01,5,"books'
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount,category\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"transactions.csv: cannot be read \(.*Line: 24002.*Fix:"):
        open_folder(tmp_path)


# --- files that are not read --------------------------------------------------------------------------------

def test_a_table_in_a_format_that_is_not_read_is_named(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n1,2025-01-01,5\n")
    write(tmp_path, "customers.xls", b"\xd0\xcf\x11\xe0 old excel")
    with pytest.raises(DataError, match=r"customers.xls: the customers table is an old-style Excel workbook \(.xls\), "
                                        r"a format that is not read.*save it as .*customers.xlsx"):
        open_folder(tmp_path)


def test_no_transactions_table_names_what_the_folder_holds(tmp_path):
    write(tmp_path, "transactions.xls", b"\xd0\xcf\x11\xe0 old excel")
    write(tmp_path, "notes.txt", "hello")
    with pytest.raises(DataError, match=r"no transactions table found \(the folder holds notes.txt, transactions.xls; "
                                        r"transactions.xls: the transactions table is an old-style Excel workbook"):
        open_folder(tmp_path)


# --- the command line: exit codes, messages, no traceback ----------------------------------------------------

def cli(tmp_path: Path, monkeypatch, folder: Path, *options: str):
    monkeypatch.chdir(tmp_path)  # quarantine files go to the working folder
    result = CliRunner().invoke(app, ["validate", "--data", str(folder), "--params", str(PARAMS), *options])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_cli_reads_a_semicolon_export_given_its_settings(tmp_path, monkeypatch):
    frame = table(script="cyrillic")
    folder = tmp_path / "export"
    write(folder, "transactions.csv", text(frame, ";", number=lambda a: grouped(a, " ", ","),
                                           day=lambda t: t.strftime("%d.%m.%Y %H:%M:%S")).encode("cp1251"))
    result = cli(tmp_path, monkeypatch, folder, "--set", "input={delimiter: ';', decimal_separator: ',', "
                 "thousands_separator: space, date_format: '%d.%m.%Y %H:%M:%S', encoding: cp1251}")
    assert result.exit_code == 0, result.output
    assert "valid: transactions" in result.output


def test_cli_stops_with_exit_3_naming_the_file_and_the_fix(tmp_path, monkeypatch):
    frame = table(script="cyrillic")
    folder = tmp_path / "export"
    write(folder, "transactions.csv", text(frame).encode("cp1251"))
    result = cli(tmp_path, monkeypatch, folder)
    assert result.exit_code == 3
    assert "transactions.csv" in result.output and "--set input.tables.transactions.encoding=cp1251" in result.output


def test_cli_stops_on_a_large_share_of_bad_rows(tmp_path, monkeypatch):
    frame = table()
    folder = tmp_path / "export"
    write(folder, "transactions.csv", text(frame, number=lambda a: f"{a:.2f}" if a < 1000 else f"${a:.2f}"))
    result = cli(tmp_path, monkeypatch, folder)
    assert result.exit_code == 3
    assert "validation.max_bad_share" in result.output and "non-numeric value in transactions.amount" in result.output
    assert "without currency symbols" in result.output


def test_cli_reads_a_workbook_and_a_tsv(tmp_path, monkeypatch):
    frame = table()
    folder = tmp_path / "export"
    folder.mkdir()
    workbook(frame, folder / "transactions.xlsx")
    write(folder, "customers.tsv", "customer_id\tsignup_date\n100\t2024-01-01\n")
    result = cli(tmp_path, monkeypatch, folder)
    assert result.exit_code == 0, result.output
    assert "valid: customers, transactions" in result.output


@pytest.mark.parametrize(("setting", "says"), [
    ("input.tables.orders.encoding=cp1251", "unknown key 'input.tables.orders'"),
    ("input.encoding=klingon", "'input.encoding': unknown encoding 'klingon'"),
    ("input.decimal_separator=;", "'input.decimal_separator' must be"),
    ("input={decimal_separator: ',', thousands_separator: ','}", "separators must differ"),
    ("input.delimiter=;;", "'input.delimiter' must be one character"),
    ("input.date_format=31.12.2025", "'input.date_format' must be a strftime format"),
    ("validation.max_bad_share=2", "validation.max_bad_share must be a share"),
])
def test_format_settings_are_checked_before_any_file_is_read(setting, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_params(None, [setting])


def test_a_whole_export_in_local_formats_builds_the_canonical_feature_table(tmp_path):
    """Semicolons, grouped thousands with decimal commas, day-first dates and Windows-1251, transactions and
    customers (this one as a workbook): the same feature table as the canonical files."""
    frame = table(n=400, script="cyrillic")
    customers = pd.DataFrame({"customer_id": [str(100 + i) for i in range(20)],
                              "signup_date": pd.Timestamp("2024-06-01") + pd.to_timedelta(np.arange(20), unit="D"),
                              "region": [WORDS["cyrillic"][i % 4] for i in range(20)]})
    write(tmp_path / "canonical", "transactions.csv", text(frame))
    customers.to_csv(tmp_path / "canonical" / "customers.csv", index=False)
    local = tmp_path / "local"
    write(local, "transactions.csv", text(frame, ";", number=lambda a: grouped(a, "\u00a0", ","),
                                          day=lambda t: t.strftime("%d.%m.%Y %H:%M:%S")).encode("cp1251"))
    book = Workbook()
    book.active.append(list(customers.columns))
    for row in customers.itertuples(index=False):
        book.active.append([row.customer_id, row.signup_date.to_pydatetime(), row.region])
    book.save(local / "customers.xlsx")
    params = load_params(None)
    want = build_features(open_folder(tmp_path / "canonical", mode="fail"), params, date(2025, 12, 31))
    got = build_features(open_folder(local, "input.tables.transactions={delimiter: ';', decimal_separator: ',', "
                                            "thousands_separator: space, date_format: '%d.%m.%Y %H:%M:%S', "
                                            "encoding: cp1251}", mode="fail"), params, date(2025, 12, 31))
    assert len(want) == 20 and want["profile_region"].notna().all()
    pd.testing.assert_frame_equal(got, want)


def test_profile_attributes_are_numbers_under_the_given_separators(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id;timestamp;amount\n1;2025-01-01;5\n2;2025-01-02;6\n")
    write(tmp_path, "customers.csv", "customer_id;signup_date;credit_limit\n1;2024-01-01;1 234,5\n2;2024-01-01;20\n")
    ds = open_folder(tmp_path, "input={delimiter: ';', decimal_separator: ',', thousands_separator: space}", mode="fail")
    assert clean(ds, "customers") == [("1", datetime(2024, 1, 1), 1234.5), ("2", datetime(2024, 1, 1), 20.0)]


def test_duplicate_rows_beyond_the_bad_share_do_not_stop_the_run(tmp_path):
    """Copies are set aside whole (their values read): no format problem, whatever their share."""
    rows = [f"{i},2025-01-{i % 28 + 1:02d},{i}.5\n" for i in range(50)]
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n" + "".join(rows + rows[:10]))
    ds = open_folder(tmp_path)
    (account,) = ds.report.accounts
    assert account.rows_quarantined > 0.1 * account.rows_read and account.rows_used == 50


def test_an_empty_workbook_is_named(tmp_path):
    Workbook().save(tmp_path / "transactions.xlsx")
    with pytest.raises(DataError, match=r"transactions.xlsx: the sheet 'Sheet' is empty .*Fix:"):
        open_folder(tmp_path)
