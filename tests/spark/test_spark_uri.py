"""A data folder given by URI (here ``file:///...``) is read through Hadoop's file systems, as Spark's own readers
read it, and gives what the same folder given as a local path gives: the same accounting, notices, clean rows and
feature table. A folder that is not there or a scheme Spark has no file system for is a clear error."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.errors import DataError
from pipeline.data.samples.retail import generate
from pipeline.data.sources import discover_tables
from pipeline.engine.spark.fs import HadoopPath
from tests.e2e.in_process import ROOT, churn
from tests.spark.conftest import plain_lines

AS_OF = "2025-12-31"
SPARK = ["--engine", "spark", "--set", "engine.spark.master=local[2]", "--params", str(ROOT / "params.yaml")]


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return generate(60, seed=5)[0]


def write_tables(root: Path, tables: dict[str, pd.DataFrame], names: tuple[str, ...]) -> Path:
    """``names`` of the generated tables, each written in another way a table may be: a folder of Parquet parts
    (transactions), a UTF-16 CSV separated by semicolons (customers: its encoding and delimiter are detected from its
    first bytes), a tab-separated file (invoices), a CSV file (events), a workbook (subscriptions)."""
    from openpyxl import Workbook

    root.mkdir(parents=True)
    if "transactions" in names:
        (root / "transactions").mkdir()
        tx = pa.Table.from_pandas(tables["transactions"], preserve_index=False)
        pq.write_table(tx.slice(0, tx.num_rows // 2), root / "transactions" / "part-00000.parquet")
        pq.write_table(tx.slice(tx.num_rows // 2), root / "transactions" / "part-00001.parquet")
    if "customers" in names:
        (root / "customers.csv").write_bytes(b"\xff\xfe" + tables["customers"].to_csv(index=False, sep=";")
                                             .encode("utf-16-le"))
    if "invoices" in names:
        tables["invoices"].to_csv(root / "invoices.tsv", index=False, sep="\t")
    if "events" in names:
        tables["events"].to_csv(root / "events.csv", index=False)
    if "subscriptions" in names:
        book = Workbook()
        sheet = book.active
        subscriptions = tables["subscriptions"]
        sheet.append(list(subscriptions.columns))
        for row in subscriptions.itertuples(index=False):
            sheet.append([None if pd.isna(v) else v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row])
        book.save(root / "subscriptions.xlsx")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tables) -> Path:
    """Every table, each written in its own way."""
    return write_tables(tmp_path_factory.mktemp("uri") / "data", tables,
                        ("transactions", "customers", "invoices", "events", "subscriptions"))


def uri_of(path: Path) -> str:
    return "file://" + str(path)


def test_a_uri_is_found_and_sniffed_through_hadoop_as_locally(spark, folder):
    from pipeline.core.config import FormatConfig
    from pipeline.data.sources import read_sheet, sniff_encoding
    from pipeline.engine.spark.validate import _delimiter

    local, local_unknown = discover_tables(folder)
    sources, unknown = discover_tables(HadoopPath.of(spark, uri_of(folder)))
    assert sorted(sources) == sorted(local) == ["customers", "events", "invoices", "subscriptions", "transactions"]
    assert unknown == local_unknown
    for name, source in sources.items():
        assert isinstance(source.path, HadoopPath) and source.label == uri_of(local[name].path)
        assert (source.suffix, source.is_text, source.path.name) == (local[name].suffix, local[name].is_text,
                                                                    local[name].path.name)
    assert sources["transactions"].path.is_dir() and not sources["customers"].path.is_dir()
    assert sniff_encoding(sources["customers"].path) == sniff_encoding(local["customers"].path) != ("", "")
    for name, encoding in (("customers", "utf-16"), ("invoices", "utf-8"), ("events", "utf-8")):
        assert _delimiter(sources[name], FormatConfig(), encoding) == _delimiter(local[name], FormatConfig(), encoding)
    assert _delimiter(sources["customers"], FormatConfig(), "utf-16") == ";"
    assert read_sheet(sources["subscriptions"].path).equals(read_sheet(local["subscriptions"].path))


def test_validation_and_features_from_a_uri_are_the_local_ones(spark, tables, tmp_path, monkeypatch):
    """Spark reading the URI against the single-machine engine reading the local folder (Spark reading it equals the
    single-machine engine, ``test_spark_cli``): the same accounting, warnings and notes, the same feature table. Two
    tables, a folder of Parquet parts and a UTF-16 CSV separated by semicolons; the other ways of writing one are
    found and sniffed alike in the test above (each table is a few Spark jobs)."""
    folder = write_tables(tmp_path / "data", tables, ("transactions", "customers"))
    monkeypatch.chdir(tmp_path)  # quarantine files, if any, are written here: outputs stay local
    said = {}
    for name, data, engine in (("local", str(folder), ["--params", str(ROOT / "params.yaml")]),
                               ("uri", uri_of(folder), SPARK)):
        res = churn("features", "--data", data, "--as-of", AS_OF, "--out", str(tmp_path / f"{name}.parquet"), *engine)
        assert res.exit_code == 0, res.output[-3000:]
        said[name] = [line for line in plain_lines(res.output.replace(data, "DATA")) if "wrote" not in line]
    assert said["uri"] == said["local"]
    assert any("input accounting (DATA)" in line for line in said["uri"])
    assert any("customers.csv starts with a UTF-16 byte order mark" in line for line in said["uri"])
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(tmp_path / "uri.parquet"),
                                  check_exact=True)


@pytest.mark.parametrize(("data", "says"), [
    ("file:///nonexistent/churn", "data folder file:///nonexistent/churn does not exist"),
    ("xyz://bucket/churn", "Spark has no file system for xyz://"),
    ("s3a://bucket/churn", "hadoop-aws jar of Spark's Hadoop version"),
])
def test_a_missing_folder_or_an_unknown_scheme_is_a_clear_error(spark, data, says):
    res = churn("validate", "--data", data, *SPARK)
    assert res.exit_code == DataError.exit_code, res.output[-3000:]
    assert says in res.output and "Traceback" not in res.output


def test_a_file_at_a_uri_reads_only_through_its_store(spark, folder):
    path = HadoopPath.of(spark, uri_of(folder)) / "events.csv"
    assert path.is_file() and path.name == "events.csv" and path.suffix == ".csv"
    with path.open(encoding="utf-8") as fh:
        assert fh.readline() == (folder / "events.csv").open().readline()
    assert path.read_bytes() == (folder / "events.csv").read_bytes()
    with pytest.raises(TypeError):
        open(path)  # noqa: SIM115 - no __fspath__: never read as a local file by mistake
