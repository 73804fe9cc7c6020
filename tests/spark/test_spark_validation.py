"""Validation on Spark equals validation on one machine: the same accounts, problems, notices, clean rows (dtypes
included) and quarantined rows, or the same error, for generated tables and hand-made faults, at 1, 3 and many
shards."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.config import load_params
from pipeline.core.errors import ConfigError, DataError
from pipeline.data.samples.retail import generate
from pipeline.data.sources import discover_tables, frames_as_sources
from pipeline.engine.duckdb import open_dataset

NOW = datetime(2026, 1, 1, 12, 0)
SPARK = ["engine.kind=spark", "engine.spark.master=local[2]",
         "engine.spark.conf={spark.sql.shuffle.partitions: 4, spark.default.parallelism: 2}"]
LENIENT = ("validation.max_bad_share=1",)  # hand-made faults: many bad rows among few


def params(*overrides: str):
    return load_params(None, [*SPARK, *overrides])


def sources_of(data: Path | dict) -> tuple[dict, list[str]]:
    return discover_tables(data) if isinstance(data, Path) else (frames_as_sources(data), [])


def sorted_table(table: pa.Table) -> pd.DataFrame:
    order = [(c, "ascending") for c in table.column_names]
    return table.sort_by(order).to_pandas() if table.num_rows else table.to_pandas()


def assert_same_tables(duck: pa.Table, spark: pa.Table) -> None:
    assert [(f.name, f.type) for f in spark.schema] == [(f.name, f.type) for f in duck.schema]
    pd.testing.assert_frame_equal(sorted_table(spark), sorted_table(duck))


def validate_both(data: Path | dict, shards: int, *overrides: str):
    """The single-machine dataset and the Spark one of the same input (each read afresh)."""
    from pipeline.engine.spark.validate import validate_on_spark

    p = params(*overrides)
    sources, unknown = sources_of(data)
    duck = open_dataset(sources, p, NOW, unknown)
    sources, unknown = sources_of(data)
    return duck, validate_on_spark(sources, p, NOW, unknown, shards=shards)


def assert_same(data: Path | dict, shards: int, *overrides: str):
    duck, spark = validate_both(data, shards, *overrides)
    assert spark.report.accounts == duck.report.accounts
    assert all(a.balanced for a in spark.report.accounts)
    assert [p.message() for p in spark.report.problems] == [p.message() for p in duck.report.problems]
    assert spark.report.problems == duck.report.problems
    assert spark.report.notices == duck.report.notices
    assert spark.layout.tables == tuple((n, tuple(duck.clean_columns(n))) for n in sorted(duck.tables))
    assert sorted(spark.frames) == sorted(duck.tables)
    for account in duck.report.accounts:
        name = account.table
        if name in duck.tables:
            assert_same_tables(duck.con.sql(f"SELECT * FROM clean_{name}").to_arrow_table(), spark.frames[name].toArrow())
        assert_same_tables(duck.con.sql(f"SELECT * FROM quarantine_{name}").to_arrow_table(),
                           spark.quarantine[name].toArrow())
    return duck, spark


def assert_same_error(data: Path | dict, shards: int, *overrides: str) -> str:
    from pipeline.engine.spark.validate import validate_on_spark

    p = params(*overrides)
    sources, unknown = sources_of(data)
    with pytest.raises(DataError) as duck:
        open_dataset(sources, p, NOW, unknown)
    sources, unknown = sources_of(data)
    with pytest.raises(DataError) as spark:
        validate_on_spark(sources, p, NOW, unknown, shards=shards)
    assert str(spark.value) == str(duck.value)
    return str(spark.value)


@pytest.fixture(scope="module")
def generated():
    tables, _ = generate(40, seed=5)
    return tables


def write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder / name


# -- generated tables ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shards", [1, 3, 8])
def test_all_five_generated_tables_validate_alike_at_any_shard_count(spark, generated, shards):
    duck, _ = assert_same(generated, shards)
    assert duck.tables == {"transactions", "customers", "events", "invoices", "subscriptions"}


def test_transactions_only_with_empty_shards(spark, generated):
    tx = generated["transactions"]
    few = tx[tx["customer_id"].isin(tx["customer_id"].unique()[:3])]  # three customers in eight shards
    assert_same({"transactions": few}, 8)


def test_subscription_generator_tables(spark):
    from pipeline.data.samples.subscription import generate_subscription

    tables, _ = generate_subscription(30, seed=2)
    assert_same(tables, 3, *LENIENT)  # due dates run past now


def test_generated_tables_as_csv_tsv_parquet_and_workbook_files(spark, generated, tmp_path):
    """Text files: every decision made from the text (ISO dates, numbers, booleans and text of profile
    attributes); Parquet: a folder of parts, typed as they are; a workbook read as text on the driver."""
    from openpyxl import Workbook

    for name in ("events", "invoices"):
        generated[name].to_csv(tmp_path / f"{name}.csv", index=False)
    generated["subscriptions"].to_csv(tmp_path / "subscriptions.tsv", index=False, sep="\t")
    parts = tmp_path / "transactions"
    parts.mkdir()
    tx = pa.Table.from_pandas(generated["transactions"], preserve_index=False)
    pq.write_table(tx.slice(0, 200), parts / "part-00000.parquet")
    pq.write_table(tx.slice(200), parts / "part-00001.parquet")
    book = Workbook()
    sheet = book.active
    customers = generated["customers"]
    sheet.append(list(customers.columns))
    for row in customers.itertuples(index=False):
        sheet.append([v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row])
    book.save(tmp_path / "customers.xlsx")
    write(tmp_path, "notes.txt", "not a table")  # an unknown entry: a problem that does not stop the run
    duck, _ = assert_same(tmp_path, 3)
    assert duck.tables == {"transactions", "customers", "events", "invoices", "subscriptions"}


# -- faults ----------------------------------------------------------------------------------------------------------

def good_transactions(n: int = 60) -> str:
    return "".join(f"{100 + i % 25},2025-{1 + i % 12:02d}-{1 + i % 27:02d} 10:{i % 60:02d}:00,{5 + i * 1.25:.2f},"
                   f"{['books', 'toys', ''][i % 3]}\n" for i in range(n))


FAULTY = {
    "transactions.csv": "customer_id,timestamp,amount,category\n" + good_transactions() + (
        "007,yesterday,10,books\n"  # unparseable timestamp
        ",2025-01-05,10,books\n"  # empty customer id
        "  ,2025-01-06,11,books\n"  # empty customer id (blank)
        "008,2025-01-05,$12.00,toys\n"  # non-numeric value
        "008,2025-01-06,12 EUR,toys\n"
        "009,2025-01-07,\"1,5\",toys\n"  # a decimal comma among dots: non-numeric
        "008,2027-05-05,10,books\n"  # timestamp in the future
        "100,2025-01-01 10:00:00,5.00,books\n"  # an exact copy of the first row
        "100,2025-01-01 10:00:00,5.00,books\n"  # and another
        "A-2,,3,home\n"  # missing value
        "A-3,2025-04-01,NaN,home\n"  # non-finite number
        "A-3,2025-04-02,1e15,home\n"  # number out of range
        "A-4,2025-04-03,,home\n"),  # missing amount
    "customers.csv": "customer_id,signup_date,region,loyalty_member,score\n" + "".join(
        f"{100 + i},2024-0{1 + i % 9}-01,{['north', 'south'][i % 2]},{['true', 'false'][i % 2]},{i * 1.5}\n"
        for i in range(25)) + (
        "A-1,2024-07-01,south,true,1\n"
        "A-1,2024-08-01,east,false,2\n"  # one customer, two differing records
        "A-1,2024-09-01,west,false,3\n"
        "100,2024-01-01,north,true,0.0\n"  # an exact copy of customer 100
        "B-1,31/12/2024,north,true,1\n"),  # unparseable signup date
    "events.csv": "customer_id,timestamp,event_type,value\n" + "".join(
        f"{100 + i % 25},2025-03-{1 + i % 28:02d}T08:00:00,{['visit', 'complaint', 'webinar', 'nps'][i % 4]},"
        f"{i % 10 if i % 4 == 3 else ''}\n" for i in range(80)) + (
        "101,2025-03-02T08:00:00+02:00,visit,\n"  # an offset among naive timestamps: mixed time zones
        "102,2025-03-02T09:00:00Z,visit,\n"
        "103,2025-03-02,,\n"),  # missing event type
    "invoices.csv": "customer_id,invoice_id,issued_at,due_date,paid_at,amount\n" + "".join(
        f"{100 + i % 25},INV-{i},2025-02-{1 + i % 20:02d},2025-03-{1 + i % 20:02d},,{10 + i}\n" for i in range(30)) + (
        "007,INV-1,2025-01-01,2025-01-31,2025-01-20,10\n"  # INV-1 again, differing: both set aside
        "007,INV-900,2025-01-01,2025-01-31,,10\n"
        "007,INV-900,2025-01-01,2025-01-31,,10\n"  # an exact copy: only the copy set aside
        "A-1,,2025-02-01,2025-02-28,,5\n"  # no invoice id: not a key, kept
        "A-1,,2025-03-01,2025-03-31,,5\n"
        "A-1,INV-901,2025-03-01,2025-02-01,,5\n"),  # due before issued
    "subscriptions.csv": "customer_id,start_date,end_date,plan,price\n" + "".join(
        f"{100 + i},2024-0{1 + i % 9}-01,{'' if i % 3 else '2025-06-01'},basic,9.99\n" for i in range(25)) + (
        "007,2025-05-01,2025-04-01,plus,19.99\n"),  # end before start
}


@pytest.fixture
def faulty(tmp_path) -> Path:
    for name, text in FAULTY.items():
        write(tmp_path, name, text)
    return tmp_path


@pytest.mark.parametrize("shards", [1, 3, 7])
def test_faulty_tables_are_quarantined_alike(spark, faulty, shards):
    duck, _ = assert_same(faulty, shards, *LENIENT)
    reasons = {p.reason for p in duck.report.problems}
    assert {"unparseable timestamp", "empty customer id", "non-numeric value", "timestamp in the future",
            "exact duplicate row", "missing value", "non-finite number", "number out of range", "mixed time zones",
            "customer id on several differing rows", "invoice id on several differing rows",
            "due_date before issued_at", "end_date before start_date"} <= reasons


def test_faulty_tables_stop_alike_under_either_policy(spark, faulty):
    said = assert_same_error(faulty, 4, "validation.on_bad_rows=fail")
    assert "Or set validation.on_bad_rows: quarantine" in said
    for name in FAULTY:  # quarantine, but more bad rows than max_bad_share: a format problem
        if name != "transactions.csv":
            (faulty / name).unlink()
    said = assert_same_error(faulty, 3)
    assert "validation.max_bad_share" in said


def test_faulty_frames_are_quarantined_alike(spark, generated):
    tx = generated["transactions"]
    bad = tx.head(6).copy()
    bad.loc[bad.index[0], "amount"] = np.nan  # a gap in a float column: missing value
    bad.loc[bad.index[1], "timestamp"] = pd.Timestamp("2030-01-01")  # the future
    bad.loc[bad.index[2], "customer_id"] = None
    bad.loc[bad.index[3], "amount"] = np.inf
    customers = generated["customers"]
    frames = {"transactions": pd.concat([tx, bad, tx.tail(3)], ignore_index=True),
              "customers": pd.concat([customers, customers.head(2).assign(region="elsewhere")], ignore_index=True)}
    assert_same(frames, 5, *LENIENT)


def test_decimal_commas_semicolons_and_day_first_dates_are_detected_alike(spark, tmp_path):
    european = str.maketrans(",.", ".,")  # 1,234.50 -> 1.234,50
    rows = "".join(f"{100 + i % 9};{1 + i % 28:02d}.{1 + i % 12:02d}.2025;{f'{i * 123.25 + 1000:,.2f}'.translate(european)}\n"
                   for i in range(40))
    write(tmp_path, "transactions.csv", "customer_id;timestamp;amount\n" + rows)
    duck, _ = assert_same(tmp_path, 3)
    assert any("read with a comma as decimal separator" in n for n in duck.report.notices)
    assert any("dates read as %d.%m.%Y" in n for n in duck.report.notices)


def test_a_dot_grouping_thousands_is_decided_from_the_whole_column_alike(spark, tmp_path):
    rows = "".join(f"{100 + i % 7},2025-01-{1 + i % 28:02d},{1 + i % 9}.{(i * 37) % 1000:03d}\n" for i in range(30))
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n" + rows)
    duck, _ = assert_same(tmp_path, 4)
    assert any("was read as grouping thousands" in n for n in duck.report.notices)


def test_float_ids_are_read_alike(spark, tmp_path):
    rows = "".join(f"{291 + i % 5}.0,2025-01-{1 + i:02d},{i + 1}\n" for i in range(20))
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n" + rows)
    pd.DataFrame({"customer_id": [291.0, 292.0, np.nan, 293.0],
                  "signup_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"])}
                 ).to_parquet(tmp_path / "customers.parquet")
    duck, _ = assert_same(tmp_path, 3, *LENIENT)
    assert sum("holding whole numbers" in n for n in duck.report.notices) == 2


@pytest.mark.parametrize(("rows", "says"), [
    ("".join(f"{100 + i},0{1 + i % 9}/0{1 + (i * 5) % 9}/2025,{i + 1}\n" for i in range(20)), "which is the day cannot"),
    ("".join(f"{291 + i}.{i % 3},2025-01-{1 + i:02d},{i + 1}\n" for i in range(12)), "are not whole numbers"),
    ("".join(f"{100 + i},2025-01-{1 + i:02d},{1 + i}.{250 + i:03d}\n" for i in range(4)), "too few to tell"),
])
def test_undecidable_formats_stop_with_the_same_message_and_example(spark, tmp_path, rows, says):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n" + rows)
    assert says in assert_same_error(tmp_path, 3)


def test_encodings_and_an_empty_optional_table(spark, tmp_path):
    text = "customer_id,timestamp,amount,category\n" + good_transactions(30).replace("books", "Книги")
    write(tmp_path, "transactions.csv", b"\xff\xfe" + text.encode("utf-16-le"))  # UTF-16 with its byte order mark
    write(tmp_path, "customers.csv", "customer_id,signup_date,city\n100,2024-01-01,Москва\n101,2024-01-02,Київ\n"
          .encode("cp1251"))
    write(tmp_path, "events.csv", "customer_id,timestamp,event_type\n")
    duck, _ = assert_same(tmp_path, 2, "input.tables.customers.encoding=cp1251")  # the session reads every Java charset
    spark.conf.set("spark.sql.legacy.javaCharsets", "false")  # a session given to us without it: a clear error
    try:
        with pytest.raises(ConfigError, match="spark.sql.legacy.javaCharsets: true"):
            validate_both(tmp_path, 2, "input.tables.customers.encoding=cp1251")
    finally:
        spark.conf.set("spark.sql.legacy.javaCharsets", "true")
    assert any("UTF-16" in n for n in duck.report.notices)
    assert any(p.reason == "the table is empty" for p in duck.report.problems)


def test_a_line_that_does_not_fit_the_header_stops_the_spark_read(spark, tmp_path):
    from pipeline.engine.spark.validate import validate_on_spark

    path = write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n100,2025-01-01,3\n101,2025-01-02\n")
    with pytest.raises(DataError, match="do not all split into the header's 3 columns.*Fix: give every line") as err:
        validate_on_spark(discover_tables(tmp_path)[0], params(), NOW, [], shards=1)
    assert str(path) in str(err.value)


def test_nanosecond_parquet_timestamps_are_a_clear_error(spark, tmp_path):
    from pipeline.engine.spark.validate import validate_on_spark

    table = pa.table({"customer_id": ["1"], "timestamp": pa.array([1_700_000_000_000_000_000], pa.timestamp("ns")),
                      "amount": [3.0]})
    pq.write_table(table, tmp_path / "transactions.parquet")
    with pytest.raises(DataError, match="timestamps in nanoseconds.*coerce_timestamps='us'"):
        validate_on_spark(discover_tables(tmp_path)[0], params(), NOW, [], shards=1)


def test_relative_paths_are_read_from_the_drivers_folder(spark, tmp_path, monkeypatch):
    write(tmp_path / "data", "transactions.csv", "customer_id,timestamp,amount\n" + good_transactions(10).replace(",books", "")
          .replace(",toys", "").replace(",\n", "\n"))
    monkeypatch.chdir(tmp_path)  # the JVM's folder is another: Spark must be given the path the driver means
    assert_same(Path("data"), 1)
