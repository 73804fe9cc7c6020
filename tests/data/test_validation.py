"""Each bad-input case: a clear message (table, column, rows, example, fix) or a balanced quarantine."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.build.features import build_features
from pipeline.core.config import load_params
from pipeline.core.errors import ConfigError, DataError
from pipeline.data.sources import discover_tables
from pipeline.engine.duckdb import open_dataset

NOW = datetime(2026, 1, 1, 12, 0)
GOOD = (
    "customer_id,timestamp,amount\n"
    "007,2025-01-01,10.5\n"
    "007,2025-02-01T10:00:00,20\n"
    "A-1,2025-03-01,5\n"
)


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def run(folder: Path, mode: str = "quarantine", overrides: tuple[str, ...] = ()):
    # These fixtures hold a few rows with many bad among them: a share that would otherwise stop the run
    params = load_params(None, [f"validation.on_bad_rows={mode}", "validation.max_bad_share=1", *overrides])
    sources, unknown = discover_tables(folder)
    return open_dataset(sources, params, NOW, unknown)


def clean_rows(ds, table="transactions") -> pd.DataFrame:
    return ds.con.sql(f"SELECT * FROM clean_{table}").to_df()


BAD_CASES = {
    "unparseable timestamp": ("007,yesterday,10\n", "timestamp"),
    "empty customer id": (",2025-01-05,10\n", "customer_id"),
    "non-numeric value": ("007,2025-01-05,$12.00\n", "amount"),
    "timestamp in the future": ("007,2027-05-05,10\n", "timestamp"),
    "exact duplicate row": ("007,2025-01-01,10.5\n", ""),
    "missing value": ("007,,10\n", "timestamp"),
}


@pytest.mark.parametrize("reason", sorted(BAD_CASES))
def test_bad_rows_fail_with_table_column_count_example_and_fix(tmp_path, reason):
    line, column = BAD_CASES[reason]
    write(tmp_path, "transactions.csv", GOOD + line + line.replace("007", "008", 1) if reason != "exact duplicate row"
          else GOOD + line)
    with pytest.raises(DataError) as err:
        run(tmp_path, "fail")
    msg = str(err.value)
    assert f"transactions.{column}" in msg if column else "transactions:" in msg
    assert reason in msg and "Example:" in msg and "Fix:" in msg
    expected_rows = 1 if reason == "exact duplicate row" else 2
    assert f"{expected_rows:,} row" in msg


@pytest.mark.parametrize("reason", sorted(BAD_CASES))
def test_quarantine_sets_bad_rows_aside_and_balances(tmp_path, reason):
    line, _ = BAD_CASES[reason]
    write(tmp_path, "transactions.csv", GOOD + line)
    ds = run(tmp_path, "quarantine")
    (account,) = ds.report.accounts
    assert account.rows_read == 4 and account.rows_quarantined == 1 and account.rows_used == 3 and account.balanced
    q = ds.con.sql("SELECT * FROM quarantine_transactions").to_df()
    assert list(q["reason"]) == [reason]
    assert len(clean_rows(ds)) == 3


CUSTOMERS = ("customer_id,signup_date,region\n"
             "007,2024-06-01,north\n"
             "A-1,2024-07-01,south\n"
             "A-1,2024-08-01,east\n"  # one customer, two differing records
             "007,2024-06-01,north\n")  # an exact copy: set aside as such, the first copy kept


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_customer_on_several_differing_rows_is_set_aside_and_counted(tmp_path, fmt):
    write(tmp_path, "transactions.csv", GOOD)
    if fmt == "csv":
        write(tmp_path, "customers.csv", CUSTOMERS)
    else:
        frame = pd.read_csv(io.StringIO(CUSTOMERS), dtype=str).assign(signup_date=lambda f: pd.to_datetime(f["signup_date"]))
        frame.to_parquet(tmp_path / "customers.parquet")
    ds = run(tmp_path)
    account = next(a for a in ds.report.accounts if a.table == "customers")
    assert (account.rows_read, account.rows_used, account.rows_quarantined) == (4, 1, 3) and account.balanced
    q = ds.con.sql("SELECT customer_id, region, reason FROM quarantine_customers ORDER BY ALL").fetchall()
    assert q == [("007", "north", "exact duplicate row"), ("A-1", "east", "customer id on several differing rows"),
                 ("A-1", "south", "customer id on several differing rows")]
    assert clean_rows(ds, "customers")["customer_id"].tolist() == ["007"]
    problem = next(p for p in ds.report.problems if p.reason == "customer id on several differing rows")
    assert problem.rows == 2 and problem.column == "customer_id" and "keep one row per customer" in problem.message()
    features = build_features(ds, load_params(None), date(2025, 12, 31)).set_index("customer_id")
    assert features.loc["007", "profile_region"] == "north" and pd.isna(features.loc["A-1", "profile_region"])
    with pytest.raises(DataError, match=r"customers.customer_id: 2 rows: customer id on several differing rows"):
        run(tmp_path, "fail")


@pytest.mark.parametrize(("table", "text", "reason"), [
    ("subscriptions", "customer_id,start_date,end_date\n007,2025-01-01,2025-03-01\n007,2025-05-01,2025-04-01\n"
                      "A-1,2025-02-01,\n", "end_date before start_date"),
    ("invoices", "customer_id,issued_at,due_date,paid_at,amount\n007,2025-01-01,2025-01-31,2025-01-20,10\n"
                 "A-1,2025-03-01,2025-02-01,,10\nA-1,2025-03-01,2025-03-01,2025-02-15,10\n",
     "due_date before issued_at"),
])
def test_a_date_before_the_date_it_follows_is_set_aside(tmp_path, table, text, reason):
    write(tmp_path, "transactions.csv", GOOD)
    write(tmp_path, f"{table}.csv", text)
    ds = run(tmp_path)
    account = next(a for a in ds.report.accounts if a.table == table)
    assert (account.rows_read, account.rows_used, account.rows_quarantined) == (3, 2, 1) and account.balanced
    assert ds.con.sql(f"SELECT reason FROM quarantine_{table}").fetchall() == [(reason,)]
    with pytest.raises(DataError, match=rf"{table}\.{reason.split()[0]}: 1 row: {reason}\. Example: .*Fix: .*swapped"):
        run(tmp_path, "fail")


def test_an_invoice_on_several_differing_rows_is_set_aside_and_rows_without_an_id_are_kept(tmp_path):
    write(tmp_path, "transactions.csv", GOOD)
    write(tmp_path, "invoices.csv", "customer_id,invoice_id,issued_at,due_date,paid_at,amount\n"
                                    "007,INV-1,2025-01-01,2025-01-31,,10\n"
                                    "007,INV-1,2025-01-01,2025-01-31,2025-01-20,10\n"  # a later state of INV-1
                                    "007,INV-2,2025-02-01,2025-02-28,2025-02-10,10\n"
                                    "A-1,,2025-02-01,2025-02-28,,5\n"
                                    "A-1,,2025-03-01,2025-03-31,,5\n")
    ds = run(tmp_path)
    account = next(a for a in ds.report.accounts if a.table == "invoices")
    assert (account.rows_read, account.rows_used, account.rows_quarantined) == (5, 3, 2) and account.balanced
    assert ds.con.sql("SELECT DISTINCT invoice_id, reason FROM quarantine_invoices").fetchall() == [
        ("INV-1", "invoice id on several differing rows")]
    assert sorted(clean_rows(ds, "invoices")["invoice_id"].fillna("-")) == ["-", "-", "INV-2"]
    with pytest.raises(DataError, match=r"invoices.invoice_id: 2 rows: invoice id on several differing rows.*Fix: keep"):
        run(tmp_path, "fail")


def test_ids_are_kept_exactly_as_text(tmp_path):
    write(tmp_path, "transactions.csv", GOOD)
    ids = sorted(clean_rows(run(tmp_path))["customer_id"])
    assert ids == ["007", "007", "A-1"]


def test_missing_required_column_names_table_columns_and_fix(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id,when,amount\n1,2025-01-01,3\n")
    with pytest.raises(DataError, match=r"lacks required column\(s\) timestamp.*columns\.transactions"):
        run(tmp_path)


def _ragged(at: list[int], n: int = 3000) -> str:
    rows = [f"c{i},2025-01-{i % 28 + 1:02d},{i % 50}" if i not in at else f'c{i},2025-01-01,"5,5",x' for i in range(n)]
    return "customer_id,timestamp,amount\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize(("at", "n", "says"), [
    # ragged lines among those the reader samples to find the dialect: it falls back to one column, or
    # finds no dialect at all
    ([5, 900], 3000, r"do not all split into the header's 3 columns separated by ','; 2 line\(s\) do not fit, the "
                     r"first line 7 \(too many columns\): 'c5,2025-01-01,\"5,5\",x'"),
    ([2990], 3000, r"cannot be read \(CSV Error on Line: 2992; Original Line: c2990,2025-01-01,\"5,5\",x; "
                   r"Expected Number of Columns: 3 Found: 4\)"),
    # past its sample (20,480 lines): the read itself stops there
    ([24000], 25000, r"cannot be read \(CSV Error on Line: 24002; Original Line: c24000,2025-01-01,\"5,5\",x; "
                     r"Expected Number of Columns: 3 Found: 4\)"),
])
def test_lines_with_too_many_fields_are_named_with_the_fix(tmp_path, at, n, says):
    write(tmp_path, "transactions.csv", _ragged(at, n))
    with pytest.raises(DataError, match=says) as err:
        run(tmp_path)
    assert str(tmp_path / "transactions.csv") in str(err.value)
    assert "Fix: give every line the header's fields" in str(err.value)


@pytest.mark.parametrize(("name", "content", "says", "fix"), [
    ("transactions.parquet", b"PAR1 not really" * 100, "No magic bytes found", "write it again as Parquet"),
    ("transactions.csv", GOOD.replace("A-1", "Борис").encode("cp1251"), "is not UTF-8: line 4 .*Борис,2025-03-01",
     "--set input.tables.transactions.encoding=cp1251"),
])
def test_a_file_the_engine_cannot_read_is_a_clear_error(tmp_path, name, content, says, fix):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=f"{name}: .*{says}.*Fix: {fix}"):
        run(tmp_path)


def test_a_damaged_part_of_a_parquet_folder_is_named(tmp_path):
    (tmp_path / "transactions").mkdir()
    pd.DataFrame({"customer_id": ["1"], "timestamp": [pd.Timestamp("2025-01-01")], "amount": [3.0]}).to_parquet(
        tmp_path / "transactions" / "part-0.parquet")
    good = (tmp_path / "transactions" / "part-0.parquet").read_bytes()
    (tmp_path / "transactions" / "part-1.parquet").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"transactions: cannot be read \(.*part-1\.parquet.*Fix: write it again"):
        run(tmp_path)


def test_column_mapping_points_at_user_names(tmp_path):
    write(tmp_path, "transactions.csv", "cust,when,value\n01,2025-01-01,3\n")
    ds = run(tmp_path, overrides=("columns.transactions={customer_id: cust, timestamp: when, amount: value}",))
    assert clean_rows(ds)["customer_id"].tolist() == ["01"]


def test_mixed_time_zones_are_reported(tmp_path):
    text = GOOD + "A-1,2025-03-02T10:00:00+02:00\n".replace("00\n", "00,4\n")
    write(tmp_path, "transactions.csv", text)
    with pytest.raises(DataError, match=r"transactions\.timestamp: 1 row: mixed time zones"):
        run(tmp_path, "fail")
    ds = run(tmp_path)
    assert ds.report.accounts[0].rows_quarantined == 1


def test_consistent_offsets_are_converted_to_utc(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n1,2025-03-02T01:00:00+02:00,4\n")
    ts = clean_rows(run(tmp_path, "fail"))["timestamp"].iloc[0]
    assert ts == pd.Timestamp("2025-03-01 23:00:00")


def test_empty_required_table_is_fatal_in_both_modes(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n")
    for mode in ("fail", "quarantine"):
        with pytest.raises(DataError, match="transactions: the table is empty"):
            run(tmp_path, mode)


def test_empty_optional_table_fails_strict_mode_and_is_reported_otherwise(tmp_path):
    write(tmp_path, "transactions.csv", GOOD)
    write(tmp_path, "events.csv", "customer_id,timestamp,event_type,value\n")
    with pytest.raises(DataError, match="events: the table is empty"):
        run(tmp_path, "fail")
    ds = run(tmp_path)
    assert "events" not in ds.tables
    assert any("empty" in p.reason for p in ds.report.problems)


def test_unknown_table_is_reported_not_silently_ignored(tmp_path):
    write(tmp_path, "transactions.csv", GOOD)
    write(tmp_path, "orders_backup.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match="orders_backup.csv: unknown table"):
        run(tmp_path, "fail")
    ds = run(tmp_path)
    assert any(p.table == "orders_backup.csv" for p in ds.report.problems)


def test_no_transactions_table(tmp_path):
    write(tmp_path, "customers.csv", "customer_id,signup_date\n1,2024-01-01\n")
    with pytest.raises(DataError, match="no transactions table"):
        run(tmp_path)


def test_accounting_balances_on_a_mix_of_problems(tmp_path):
    bad = "".join(line for line, _ in BAD_CASES.values())
    write(tmp_path, "transactions.csv", GOOD + bad + bad)
    ds = run(tmp_path)
    (a,) = ds.report.accounts
    assert a.rows_read == 3 + 2 * len(BAD_CASES)
    assert a.rows_used + a.rows_quarantined == a.rows_read
    assert a.rows_used == 3  # the good rows, nothing else
    q = ds.con.sql("SELECT reason, count(*) n FROM quarantine_transactions GROUP BY 1").to_df()
    assert q["n"].sum() == a.rows_quarantined


def test_unknown_event_types_are_kept_and_reported(tmp_path):
    write(tmp_path, "transactions.csv", GOOD)
    write(tmp_path, "events.csv", "customer_id,timestamp,event_type,value\n007,2025-01-01,webinar,\n007,2025-01-02,visit,\n")
    ds = run(tmp_path, "fail")
    assert {a.table: a.rows_used for a in ds.report.accounts}["events"] == 2
    assert any("webinar (1)" in n for n in ds.report.notices)


def test_parquet_folder_of_parts_is_read(tmp_path):
    folder = tmp_path / "transactions"
    folder.mkdir()
    df = pd.DataFrame({"customer_id": ["01", "02"], "timestamp": pd.to_datetime(["2025-01-01", "2025-01-02"]),
                       "amount": [1.0, 2.0]})
    df.iloc[:1].to_parquet(folder / "part-0.parquet")
    df.iloc[1:].to_parquet(folder / "part-1.parquet")
    assert sorted(clean_rows(run(tmp_path, "fail"))["customer_id"]) == ["01", "02"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("duplicated", [False, True])
def test_customer_shards_read_the_same_clean_rows(tmp_path, fmt, duplicated):
    """The customer shards a build reads, straight from the source or written out once per split for
    builds that reuse them, hold exactly the clean rows, each customer in one shard, with or without
    duplicates to drop."""
    rows = [f"{c:03d},2025-0{1 + i % 9}-1{i % 10}T10:00:00,{c + i}.5\n" for c in range(40) for i in range(5)]
    text = "customer_id,timestamp,amount\n" + "".join(rows) + (rows[7] * 2 if duplicated else "")
    if fmt == "csv":
        write(tmp_path, "transactions.csv", text)
    else:
        write(tmp_path, "t.csv", text)
        frame = pd.read_csv(tmp_path / "t.csv", dtype={"customer_id": str}, parse_dates=["timestamp"])
        (tmp_path / "t.csv").unlink()
        frame.to_parquet(tmp_path / "transactions.parquet", index=False)
    ds = run(tmp_path)
    assert ds.report.rows_quarantined == (2 if duplicated else 0)
    whole = ds.con.sql(f"SELECT * FROM {ds.shard_rows_sql('transactions', (0, 1))}").to_df()  # one shard: all rows
    assert len(whole) == len(clean_rows(ds)) == 200 and set(whole["customer_id"]) == set(clean_rows(ds)["customer_id"])
    whole = whole.sort_values(["customer_id", "timestamp"], ignore_index=True)
    for n, reuse in ((3, False), (3, True), (2, True), (3, True), (2, False)):  # a new split writes again
        parts = [ds.con.sql(f"SELECT * FROM {ds.shard_rows_sql('transactions', (k, n), reuse)}").to_df()
                 for k in range(n)]
        assert (ds._written is not None and ds._written[0] == n) == reuse
        assert all(len(p) for p in parts)
        assert not set(parts[0]["customer_id"]) & set(parts[1]["customer_id"])
        together = pd.concat(parts).sort_values(["customer_id", "timestamp"], ignore_index=True)
        pd.testing.assert_frame_equal(together, whole)
    parts = [ds.con.sql(f"SELECT * FROM {ds.shard_rows_sql('transactions', (k, 3))}").to_df() for k in range(3)]
    assert ds._written[0] == 3  # once written, a single build reads the folders too
    pd.testing.assert_frame_equal(pd.concat(parts).sort_values(["customer_id", "timestamp"], ignore_index=True), whole)
    folder = Path(ds._written[1].name)
    assert sorted(p.name for p in (folder / "transactions").iterdir()) == ["_shard=0", "_shard=1", "_shard=2"]
    del ds
    assert not folder.exists()  # the shards go with the dataset


def test_customer_shards_are_ranges_of_ids_even_when_one_customer_holds_most_rows(tmp_path):
    """Shards split the ids at quantiles of the transactions; where one customer holds most rows several
    quantiles fall on that id, so some shards are empty, and the features are still those of one shard."""
    rows = [f"000,2025-0{1 + i % 9}-1{i % 10}T10:00:00,{i}.5\n" for i in range(500)]
    rows += [f"{c:03d},2025-0{1 + i % 9}-1{i % 10}T10:00:00,{c + i}.5\n" for c in range(1, 21) for i in range(5)]
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n" + "".join(rows))
    one, four = run(tmp_path), run(tmp_path, overrides=("engine.shard_rows=150",))
    assert four.shard_bounds(4) == ["000"]  # every quantile is the dominant id
    sizes = [four.con.sql(f"SELECT count(*) FROM {four.shard_rows_sql('transactions', (k, 4))}").fetchall()[0][0]
             for k in range(4)]
    assert sizes == [0, 600, 0, 0]
    p_one, p_four = load_params(None), load_params(None, ["engine.shard_rows=150"])
    whole = build_features(one, p_one, date(2025, 9, 30), with_labels=True)
    assert len(whole) == 21
    pd.testing.assert_frame_equal(build_features(four, p_four, date(2025, 9, 30), with_labels=True), whole)
    pd.testing.assert_frame_equal(
        build_features(four, p_four, date(2025, 9, 30), with_labels=True, reuse_shards=True), whole)
    pd.testing.assert_frame_equal(  # one shard: the clean views, reused or not
        build_features(one, p_one, date(2025, 9, 30), with_labels=True, reuse_shards=True), whole)


def test_customer_shards_go_to_engine_temp_dir(tmp_path):
    """``engine.temp_dir`` (created if missing) holds the customer shards, which go with the dataset."""
    rows = [f"{c:03d},2025-0{1 + i % 9}-1{i % 10}T10:00:00,{c + i}.5\n" for c in range(40) for i in range(5)]
    write(tmp_path / "data", "transactions.csv", "customer_id,timestamp,amount\n" + "".join(rows))
    target = tmp_path / "scratch" / "churn"
    ds = run(tmp_path / "data", overrides=(f"engine.temp_dir={target}",))
    ds.con.sql(f"SELECT count(*) FROM {ds.shard_rows_sql('transactions', (0, 2), reuse=True)}").fetchall()
    folder = Path(ds._written[1].name)
    assert folder.parent == target and (folder / "transactions").is_dir()
    del ds
    assert target.is_dir() and not folder.exists()


def test_an_unusable_engine_temp_dir_is_a_clear_params_error(tmp_path):
    write(tmp_path / "data", "transactions.csv", "customer_id,timestamp,amount\n007,2025-01-01,3\n")
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"engine.temp_dir: cannot create .*a-file/sub.*writable folder"):
        run(tmp_path / "data", overrides=(f"engine.temp_dir={tmp_path / 'a-file' / 'sub'}",))


@pytest.mark.parametrize("limit", ["lots", "8 parsecs"])
def test_an_unreadable_engine_memory_limit_is_a_clear_params_error(tmp_path, limit):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n007,2025-01-01,3\n")
    with pytest.raises(ConfigError, match=rf"engine.memory_limit: '{limit}' is not a memory size .*such as 8GB"):
        run(tmp_path, overrides=(f"engine.memory_limit={limit}",))


def test_engine_temp_dir_may_hold_a_quote(tmp_path):
    """Paths go into the engine's SQL as quoted literals."""
    rows = [f"{c:03d},2025-0{1 + i % 9}-1{i % 10}T10:00:00,{c + i}.5\n" for c in range(40) for i in range(5)]
    write(tmp_path / "data", "transactions.csv", "customer_id,timestamp,amount\n" + "".join(rows))
    folder = tmp_path / "o'brien"
    ds = run(tmp_path / "data", overrides=(f"engine.temp_dir={folder}",))
    assert ds.con.sql(f"SELECT count(*) FROM {ds.shard_rows_sql('transactions', (0, 2), reuse=True)}").fetchall()[0][0]
    assert Path(ds._written[1].name).parent == folder


# -- data that misleads quietly (issue 26, part 4) -------------------------------------------------------------------

QUIET_CASES = {
    "placeholder date": ("007,1970-01-01,10\n008,1900-01-01,10\n", "timestamp"),
    "date before 1900": ("007,0001-01-01,10\n008,1899-12-31,10\n", "timestamp"),
}


@pytest.mark.parametrize("reason", sorted(QUIET_CASES))
def test_placeholder_and_early_dates_are_set_aside_with_their_own_reason(tmp_path, reason):
    lines, column = QUIET_CASES[reason]
    write(tmp_path, "transactions.csv", GOOD + lines)
    ds = run(tmp_path)
    (account,) = ds.report.accounts
    assert account.rows_quarantined == 2 and account.balanced
    q = ds.con.execute("SELECT reason, reason_column FROM quarantine_transactions").fetchall()
    assert q == [(reason, column)] * 2
    assert ds.con.execute("SELECT min(timestamp) FROM clean_transactions").fetchone()[0].year == 2025
    with pytest.raises(DataError, match=rf"transactions.timestamp: 2 rows: {reason}.*Fix:"):
        run(tmp_path, "fail")


def test_the_word_epoch_is_a_placeholder_not_a_first_purchase(tmp_path):
    write(tmp_path, "transactions.csv", GOOD + "008,epoch,10\n")
    q = run(tmp_path).con.sql("SELECT customer_id, reason FROM quarantine_transactions").fetchall()
    assert q == [("008", "placeholder date")]


def test_a_negative_quantity_on_a_purchase_is_set_aside_but_not_on_a_return(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount,quantity,is_return\n"
          "007,2025-01-01,10,2,false\n007,2025-01-02,10,-3,false\n007,2025-01-03,-10,-1,true\n")
    ds = run(tmp_path)
    assert ds.con.sql("SELECT quantity, reason FROM quarantine_transactions").fetchall() == \
        [("-3", "negative quantity on a purchase")]
    assert sorted(clean_rows(ds)["quantity"]) == [-1, 2]


def test_the_future_is_read_against_utc_with_the_latest_clock_on_earth(tmp_path):
    # NOW is 12:00 UTC: a naive time 10 hours later is a local time east of UTC, not the future; two days is
    write(tmp_path, "transactions.csv", GOOD + "008,2026-01-01T22:00:00,5\n009,2026-01-03,5\n")
    q = run(tmp_path).con.sql("SELECT customer_id, reason FROM quarantine_transactions").fetchall()
    assert q == [("009", "timestamp in the future")]


def test_validation_never_reads_the_machine_clock_in_its_own_zone(tmp_path, monkeypatch):
    import time
    from datetime import UTC

    import pipeline.build.run as build_run

    seen = []
    real = build_run.open_engine_data
    monkeypatch.setattr(build_run, "open_engine_data", lambda data, params, now: seen.append(now) or real(data, params, now))
    write(tmp_path, "transactions.csv", GOOD)
    monkeypatch.setenv("TZ", "America/Los_Angeles")  # a machine 8 hours behind UTC
    time.tzset()
    try:
        build_run.open_data(tmp_path, load_params(None))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    utc_now = datetime.now(UTC).replace(tzinfo=None)
    assert seen[0].tzinfo is None and abs((utc_now - seen[0]).total_seconds()) < 600


@pytest.mark.parametrize("zone", ["PST", "America/Los_Angeles", "PDT", "EST"])
def test_named_time_zones_are_read_and_their_mix_with_naive_times_is_seen(tmp_path, zone):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n"
          f"007,2025-01-01 10:00:00 {zone},10\n008,2025-01-02 10:00:00 {zone},10\n009,2025-01-03 10:00:00,10\n")
    ds = run(tmp_path)
    q = ds.con.sql("SELECT customer_id, reason FROM quarantine_transactions").fetchall()
    assert q == [("009", "mixed time zones")]  # the naive one is the minority, set aside as ambiguous
    hours = {"PST": 18, "America/Los_Angeles": 18, "PDT": 17, "EST": 15}[zone]
    assert {t.hour for t in clean_rows(ds)["timestamp"]} == {hours}


def test_ids_are_trimmed_by_one_rule_and_ids_that_match_nothing_are_counted(tmp_path):
    from pipeline.build.ids import id_report, rule_counts, unmatched_counts

    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n 007 ,2025-01-01,10\n42,2025-01-02,5\n")
    write(tmp_path, "customers.csv", "customer_id,signup_date\n007,2024-01-01\n00042,2024-01-01\nB7,2024-01-01\n")
    ds = run(tmp_path)
    assert sorted(clean_rows(ds)["customer_id"]) == ["007", "42"]
    assert any("1 ids in" in n and "spaces around them" in n and '" 007 "' in n for n in ds.report.notices)
    # 00042 is 42 by the id rule (one id of that value on each side), written as the transactions write it
    assert sorted(clean_rows(ds, "customers")["customer_id"]) == ["007", "42", "B7"]
    assert rule_counts(ds)["customers"].matched_example == ("00042", "42")
    counts = {(t, o): (n, near, e) for t, o, n, near, e in unmatched_counts(ds)}
    assert counts[("customers", "transactions")] == (1, 0, "B7")
    assert counts[("transactions", "customers")] == (0, 0, None)
    report = id_report(ds)
    assert not report.warnings
    assert report.notes[0] == ("customers.customer_id: 1 customer id matches a transactions id only by integer value "
                               "(e.g. '00042' is '42'): matched by the id rule, and written as the transactions table "
                               "writes them")
    assert report.counts["customers"] == {"ids_not_in_transactions": 1, "ids_matched_by_value": 1,
                                          "ids_left_unmatched_by_value": 0}


def test_ids_of_one_value_that_would_collapse_are_left_unmatched_and_named(tmp_path):
    from pipeline.build.ids import id_report

    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\n42,2025-01-02,5\n7,2025-01-02,5\n"
                                        "007,2025-01-03,5\n")
    write(tmp_path, "customers.csv", "customer_id,signup_date\n0042,2024-01-01\n042,2024-01-01\n0007,2024-01-01\n")
    ds = run(tmp_path)
    assert sorted(clean_rows(ds, "customers")["customer_id"]) == ["0007", "0042", "042"]  # nothing matched
    report = id_report(ds)
    assert report.counts["customers"]["ids_left_unmatched_by_value"] == 3
    [warning] = report.warnings
    assert warning.startswith("customers.customer_id: 3 customer ids match a transactions id only by integer value but "
                              "not one to one: left unmatched (e.g. '0007' reads 7, and the transactions table has 2 "
                              "ids of that value ('007' ... '7'))")
    assert "Fix: export the ids alike" in warning


def test_case_is_not_part_of_the_rule_and_stays_a_warning(tmp_path):
    from pipeline.build.ids import id_report

    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\nab12,2025-01-02,5\n")
    write(tmp_path, "customers.csv", "customer_id,signup_date\nAB12,2024-01-01\n")
    report = id_report(run(tmp_path))
    assert report.counts["customers"] == {"ids_not_in_transactions": 1, "ids_matched_by_value": 0,
                                          "ids_left_unmatched_by_value": 0}
    assert len(report.warnings) == 2 and all("write ids differently" in w for w in report.warnings)


def test_customers_without_purchases_are_a_note_not_a_warning(tmp_path):
    from pipeline.build.ids import unmatched_ids

    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount\nA1,2025-01-01,10\n")
    write(tmp_path, "customers.csv", "customer_id,signup_date\nA1,2024-01-01\nB7,2024-06-01\nC9,2024-07-01\n")
    warnings, notes = unmatched_ids(run(tmp_path))
    assert not warnings
    assert notes == ["customers.customer_id: 2 customer ids match no id in the transactions table (e.g. 'B7'; customers "
                     "without purchases, or rows of customers not in transactions): their customers rows reach no "
                     "customer's features"]


def test_two_columns_of_one_name_are_refused(tmp_path):
    write(tmp_path, "transactions.csv", "customer_id,timestamp,amount,amount\n007,2025-01-01,10,12\n")
    with pytest.raises(DataError, match=r"transactions.csv: the header names the column 'amount' twice "
                                        r"\(columns 3 and 4\).*Fix: rename"):
        run(tmp_path)


def test_a_list_or_struct_column_is_named_as_such(tmp_path):
    frame = pd.DataFrame({"customer_id": ["007"], "timestamp": [pd.Timestamp("2025-01-01")], "amount": [[1.0, 2.0]]})
    folder = tmp_path / "data"
    folder.mkdir()
    frame.to_parquet(folder / "transactions.parquet")
    with pytest.raises(DataError, match=r"column\(s\) amount \(list: DOUBLE\[\]\) hold lists.*explode"):
        run(folder)
    frame.assign(amount=[{"value": 1.0}]).to_parquet(folder / "transactions.parquet")
    with pytest.raises(DataError, match=r"amount \(struct: STRUCT"):
        run(folder)


def test_a_zero_byte_file_is_named_empty(tmp_path):
    write(tmp_path, "transactions.csv", GOOD)
    write(tmp_path, "events.csv", "")
    with pytest.raises(DataError, match=r"events.csv: the file is empty \(0 bytes\)"):
        run(tmp_path)


def test_a_folder_or_a_link_loop_named_as_a_table_is_named_as_such(tmp_path):
    (tmp_path / "transactions.csv").mkdir()
    with pytest.raises(DataError, match=r"transactions.csv: is a folder, not a .csv file"):
        run(tmp_path)
    (tmp_path / "transactions.csv").rmdir()
    (tmp_path / "transactions.csv").symlink_to(tmp_path / "transactions.csv")
    with pytest.raises(DataError, match=r"transactions.csv: is a link that loops back to itself"):
        run(tmp_path)


def test_table_file_names_match_whatever_their_case(tmp_path):
    write(tmp_path, "transactions.CSV", GOOD)
    write(tmp_path, "Customers.csv", "customer_id,signup_date\n007,2024-01-01\n")
    sources, unknown = discover_tables(tmp_path)
    assert sorted(sources) == ["customers", "transactions"] and unknown == []
    write(tmp_path, "customers.csv", "customer_id,signup_date\n007,2024-01-01\n")
    with pytest.raises(DataError, match="table 'customers' is given twice"):
        discover_tables(tmp_path)


@settings(max_examples=12, deadline=None)
@given(copies=st.lists(st.integers(1, 3), min_size=1, max_size=6), bad=st.lists(st.sampled_from(["$1", "later"]),
                                                                                  max_size=3),
       fmt=st.sampled_from(["csv", "parquet"]))
def test_the_quarantine_holds_exactly_the_rows_set_aside_whether_or_not_duplicates_are_the_only_ones(
        tmp_path_factory, copies, bad, fmt):
    """Exact duplicates alone are quarantined from validation's table of duplicate candidates (no pass over the
    source); with rows the per-row checks set aside too, from every row: the same rows either way."""
    rows = [(f"C{i}", f"2025-01-{i + 1:02d}", str(10 + i)) for i in range(len(copies))]
    lines = [row for row, n in zip(rows, copies, strict=True) for _ in range(n + 1)]  # n extra copies of each
    lines += [(f"B{k}", "2025-02-01" if value == "$1" else value, value if value == "$1" else "5")
              for k, value in enumerate(bad)]
    frame = pd.DataFrame(lines, columns=["customer_id", "timestamp", "amount"])
    folder = tmp_path_factory.mktemp("q")
    if fmt == "csv":
        frame.to_csv(folder / "transactions.csv", index=False)
    else:
        frame.to_parquet(folder / "transactions.parquet", index=False)
    ds = run(folder)
    quarantined = ds.con.sql("SELECT customer_id, reason FROM quarantine_transactions ORDER BY ALL").fetchall()
    expected = sorted([(row[0], "exact duplicate row") for row, n in zip(rows, copies, strict=True) for _ in range(n)]
                      + [(f"B{k}", "non-numeric value" if value == "$1" else "unparseable timestamp")
                         for k, value in enumerate(bad)])
    assert quarantined == expected
    (account,) = ds.report.accounts
    assert account.rows_quarantined == len(expected) and account.rows_used == len(rows) and account.balanced
