"""Validation on Apache Spark: the single-machine rules, quarantine and accounting, each defined once
(``pipeline.data.validate``).

How it works, and why: docs/spark.md, section "pipeline/engine/spark/validate.py".
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

import duckdb
import pyarrow as pa

from pipeline.core.config import FormatConfig, Params
from pipeline.core.errors import ConfigError, DataError
from pipeline.core.schema import SCHEMAS
from pipeline.data.sources import TableSource, check_text_header, read_sheet, sniff_encoding, sniffed_note
from pipeline.data.validate import (
    KEYS,
    Problem,
    RowCounts,
    TableAccount,
    TablePlan,
    _fields_fix,
    check_rows,
    merge_counts,
    plan_table,
    table_report,
    validate_tables,
)
from pipeline.engine.spark.dataset import (
    BATCH_ROWS,
    Layout,
    SparkDataset,
    conform,
    keep_on_disk,
    spark_schema,
    spark_session,
    task_connection,
)

SOURCE = "_source"  # the relation a task's DuckDB reads its rows of the source as
PART = "_part"  # what a row of a check task's output is: CLEAN, QUARANTINE, or one of the counts' kinds
CLEAN, QUARANTINE = "clean", "quarantine"
REASON, VALUE, EVENT_TYPE = "reason", "value", "event_type"
KEY, ROWS, TEXT = "_key", "_rows", "_text"  # a count: its reason (or event type), rows, example (or value)
SEP = "__"  # a clean or quarantined column in a task's output: clean__<column>, quarantine__<column>
COUNTS_SCHEMA = pa.schema([(PART, pa.string()), (KEY, pa.string()), (ROWS, pa.int64()), (TEXT, pa.string())])
# Encodings Spark's CSV reader decodes by default; with JAVA_CHARSETS set, every one Java knows (cp1251, gbk...).
SPARK_CHARSETS = {"iso-8859-1", "us-ascii", "utf-16", "utf-16be", "utf-16le", "utf-32", "utf-8"}
JAVA_CHARSETS = "spark.sql.legacy.javaCharsets"
DELIMITERS = (",", ";", "\t", "|")  # what a header line's delimiter is looked for among, when none is given


def _column(name: str):
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _stream(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> pa.RecordBatchReader:
    """A task's rows as one stream DuckDB reads once (an empty partition: no rows, in the source's schema)."""
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        return pa.RecordBatchReader.from_batches(schema, [])
    return pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], batches))


def _dry(schema: pa.Schema) -> duckdb.DuckDBPyConnection:
    """A driver DuckDB holding the source as an empty table: what a task sees, less its rows."""
    con = task_connection("1GB")
    con.register(SOURCE, schema.empty_table())
    return con


@dataclass
class ShardScan:
    """``Scan`` of a source held by Spark: each query runs in every partition's DuckDB, and the driver adds up."""

    frame: object  # the Spark frame of the source, as read
    schema: pa.Schema  # its Arrow schema, as tasks receive its rows
    memory_limit: str
    relation: str = SOURCE

    def types(self) -> dict[str, str]:
        con = _dry(self.schema)
        try:
            return {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {SOURCE}").fetchall()}
        finally:
            con.close()

    def _per_partition(self, sql: str) -> pa.Table:
        con = _dry(self.schema)
        try:
            out = con.sql(sql).to_arrow_table().schema
        finally:
            con.close()
        source, memory = self.schema, self.memory_limit

        def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            task = task_connection(memory)
            try:
                task.register(SOURCE, _stream(batches, source))
                yield from conform(task.sql(sql).to_arrow_table(), out).to_batches(max_chunksize=BATCH_ROWS)
            finally:
                task.close()

        return self.frame.mapInArrow(run, spark_schema(out)).toArrow()

    def counts(self, select: str, where: str = "") -> tuple:
        parts = self._per_partition(f"SELECT {select} FROM {SOURCE}{_where(where)}")
        return tuple(sum(v for v in parts.column(i).to_pylist() if v is not None) for i in range(parts.num_columns))

    def example(self, expr: str, where: str = "") -> object:
        values = [v for v in self._per_partition(f"SELECT min({expr}) FROM {SOURCE}{_where(where)}").column(0).to_pylist()
                  if v is not None]
        return min(values) if values else None

    def misfit(self, source: TableSource, header: str) -> DataError | None:
        return None  # Spark reads text failing fast: a line that does not fit stops the read (``_read_error``)


def _where(condition: str) -> str:
    return f" WHERE {condition}" if condition else ""


# -- reading a source ------------------------------------------------------------------------------------------------

def _java_charset(encoding: str) -> str:
    import codecs

    name = codecs.lookup(encoding).name
    return {"utf-8": "UTF-8", "utf-16": "UTF-16", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE",
            "iso8859-1": "ISO-8859-1"}.get(name, name)


def _delimiter(source: TableSource, fmt: FormatConfig, encoding: str) -> str:
    """A text file's delimiter: given, a tab for .tsv, else the candidate its header line holds most often (the
    single-machine reader sniffs it from a sample of lines)."""
    given = fmt.delimiter_char or ("\t" if source.suffix == ".tsv" else "")
    if given:
        return given
    header = ""
    if source.path is not None and source.path.is_file():  # a Path, or a URI's HadoopPath: read from its store
        with source.path.open(encoding=encoding if encoding.lower() != "utf-8" else "utf-8-sig", errors="replace") as fh:
            header = fh.readline()
    counts = [header.count(d) for d in DELIMITERS]
    return DELIMITERS[counts.index(max(counts))] if max(counts) else ","


def _frame_of_arrow(spark, table: pa.Table):
    if table.num_rows:
        return spark.createDataFrame(table)
    return spark.createDataFrame([], spark_schema(table.schema))


def read_source(spark, source: TableSource, fmt: FormatConfig) -> tuple[object, str]:
    """A source as a Spark frame, read as the single-machine engine reads it (CSV and workbooks as text, typed
    files and frames typed as they are), and a note of what was detected (an encoding) or ""."""
    source = replace(source, fmt=fmt)
    if source.frame is not None:  # typed as the engine types a frame (NaN in a float column is a gap)
        con = duckdb.connect()
        try:
            con.register("_frame", source.frame)
            return _frame_of_arrow(spark, con.sql("SELECT * FROM _frame").to_arrow_table()), ""
        finally:
            con.close()
    # Spark resolves a relative path against the JVM's folder, not ours; a URI (HadoopPath) is itself
    path = str(source.path.absolute())
    if source.suffix == ".xlsx":  # a workbook is read on the driver (openpyxl), as text, as on one machine
        return _frame_of_arrow(spark, read_sheet(source.path, fmt.sheet)), ""
    if not source.is_text:
        reader = spark.read.option("mergeSchema", "true")
        if source.path.is_dir():
            reader = reader.option("recursiveFileLookup", "true").option("pathGlobFilter", "*.parquet")
        return reader.parquet(path), ""
    note, encoding = "", fmt.encoding
    if not encoding:
        sniffed, why = sniff_encoding(source.path)
        if sniffed:
            encoding, note = sniffed, sniffed_note(source, why)
    encoding = encoding or "utf-8"
    check_text_header(source, fmt, encoding)
    charset = _java_charset(encoding)
    if charset.lower() not in SPARK_CHARSETS and spark.conf.get(JAVA_CHARSETS, "false").lower() != "true":
        raise ConfigError(
            f"{source.label}: its encoding {encoding} is one Spark reads only when told to (it reads "
            f"{', '.join(sorted(SPARK_CHARSETS))} by default). Fix: add {JAVA_CHARSETS}: true to engine.spark.conf "
            "(Spark then reads every encoding Java knows), or save the file as UTF-8")
    delimiter = _delimiter(source, fmt, encoding)
    frame = (spark.read.option("header", "true").option("multiLine", "true").option("quote", '"')
             .option("escape", '"').option("sep", delimiter).option("encoding", charset)
             .option("mode", "FAILFAST").option("inferSchema", "false").csv(path))
    return frame, note


def _read_error(source: TableSource, fmt: FormatConfig, frame, exc: Exception) -> DataError | None:
    """The error for a source Spark could not read (None: the exception is not about reading)."""
    said = str(exc)
    coded = re.search(r"\[[A-Z_]+(\.[A-Z_]+)*\][^\n]*", said)  # Spark's own line: [ERROR_CLASS] what happened
    first = (coded.group(0) if coded else said.strip().split("\n")[0])[:300]
    if "MALFORMED_RECORD" in said:
        delimiter = _delimiter(source, fmt, fmt.encoding or "utf-8")
        shown = "tab" if delimiter == "\t" else f"'{delimiter}'"
        fields = f"{len(frame.columns)} " if frame is not None else ""
        record = re.search(r"Malformed records are detected in record parsing: (\[.*?\])", said)
        read = f" (Spark read it as {record.group(1)[:160]})" if record else ""
        return DataError(f"{source.label}: the lines do not all split into the header's {fields}columns separated "
                         f"by {shown}: the read stopped at a line that does not fit{read}. Fix: {_fields_fix(shown)}.")
    if "PARQUET_TYPE_ILLEGAL" in said and "NANOS" in said:
        return DataError(f"{source.label}: holds timestamps in nanoseconds, which Spark cannot read ({first}). Fix: "
                         "write them in microseconds (pandas: df.to_parquet(path, coerce_timestamps='us', "
                         "allow_truncated_timestamps=True)), or validate it with engine.kind: duckdb")
    if "PATH_NOT_FOUND" in said:
        return DataError(f"{source.label}: Spark finds nothing there ({first}). Fix: give a path every Spark executor "
                         "can read: a local path in local mode, shared storage (hdfs://, s3a://...) on a cluster")
    if any(code in said for code in ("FAILED_READ_FILE", "CANNOT_READ_FILE_FOOTER",
                                     "UNABLE_TO_INFER_SCHEMA", "PARQUET_TYPE_ILLEGAL")):
        fix = ("write it again as Parquet: it is cut short, damaged or not a Parquet file" if not source.is_text else
               "export it again as comma-separated UTF-8 text with a header row, or set its encoding "
               f"(input.tables.{source.name}.encoding)")
        return DataError(f"{source.label}: cannot be read by Spark ({first}). Fix: {fix}.")
    return None


# -- checking rows in shards -----------------------------------------------------------------------------------------

@dataclass
class CheckedTable:
    """One table checked on Spark: its clean and quarantined rows (frames over one persisted task output)."""

    clean: object
    quarantine: object
    columns: tuple[tuple[str, str], ...]  # the clean table's (column, DuckDB type)
    output: object  # the persisted task output both frames read


def _output_schemas(plan: TablePlan, source: pa.Schema) -> tuple[pa.Schema, pa.Schema, tuple[tuple[str, str], ...]]:
    """The Arrow schemas of the clean and quarantine relations ``check_rows`` creates, and the clean columns' types."""
    con = _dry(source)
    try:
        check_rows(con, plan, materialize=True)
        name = plan.schema.name
        clean = con.sql(f"SELECT * FROM clean_{name}").to_arrow_table().schema
        quarantine = con.sql(f"SELECT * FROM quarantine_{name}").to_arrow_table().schema
        columns = tuple((r[0], r[1]) for r in con.execute(f"DESCRIBE clean_{name}").fetchall())
        return clean, quarantine, columns
    finally:
        con.close()


def _prefixed(schema: pa.Schema, part: str) -> list[pa.Field]:
    return [pa.field(f"{part}{SEP}{f.name}", f.type) for f in schema]


def _check_task(plan: TablePlan, source: pa.Schema, out: pa.Schema, memory_limit: str
                ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A ``mapInArrow`` function: one shard's rows checked by ``check_rows`` in a task DuckDB, then its clean rows,
    its quarantined rows and its counts, each tagged in ``PART``."""
    name = plan.schema.name

    def rows(con: duckdb.DuckDBPyConnection, relation: str, part: str) -> Iterator[pa.RecordBatch]:
        for batch in con.sql(f"SELECT * FROM {relation}").fetch_record_batch(65536):
            table = pa.Table.from_batches([batch]).rename_columns([f"{part}{SEP}{c}" for c in batch.schema.names])
            table = table.append_column(PART, pa.array([part] * batch.num_rows, pa.string()))
            yield from conform(table, out).to_batches(max_chunksize=BATCH_ROWS)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        con = task_connection(memory_limit)
        try:
            con.register(SOURCE, _stream(batches, source))
            found = check_rows(con, plan, materialize=True)
            con.unregister(SOURCE)
            yield from rows(con, f"clean_{name}", CLEAN)
            yield from rows(con, f"quarantine_{name}", QUARANTINE)
            yield from conform(_counts_table(found), out).to_batches(max_chunksize=BATCH_ROWS)
        finally:
            con.close()

    return run


def _counts_table(found: RowCounts) -> pa.Table:
    rows = ([(REASON, reason, n, example) for reason, n, example in found.reasons]
            + [(VALUE, reason, None, value) for reason, value in found.values.items()]
            + [(EVENT_TYPE, event_type, n, None) for event_type, n in found.event_types])
    return pa.Table.from_pylist([dict(zip(COUNTS_SCHEMA.names, r, strict=True)) for r in rows], schema=COUNTS_SCHEMA)


def _found(counts: pa.Table) -> RowCounts:
    """What every shard found together, from the count rows of their outputs."""
    parts = []
    for part, key, n, text in zip(*(counts.column(c).to_pylist() for c in COUNTS_SCHEMA.names), strict=True):
        if part == REASON:
            parts.append(RowCounts(((key, n, text),), {}))
        elif part == VALUE:
            parts.append(RowCounts((), {key: text}))
        else:
            parts.append(RowCounts((), {}, ((key, n),)))
    return merge_counts(parts)


def _shard_key(frame, plan: TablePlan):
    """The column rows are sharded by: the table's key as read (a row without one: the hash of all its values, so
    its copies still meet)."""
    from pyspark.sql import functions as F

    name = plan.schema.name
    key = plan.resolved.get(KEYS[name]) if name == "invoices" else None
    key = _column(key or plan.resolved["customer_id"])
    return F.when(key.isNull(), F.xxhash64(*[_column(c) for c in frame.columns])).otherwise(F.xxhash64(key))


def _check_on_spark(frame, plan: TablePlan, source: pa.Schema, shards: int, memory_limit: str
                    ) -> tuple[CheckedTable, RowCounts]:
    from pyspark.sql import functions as F

    clean, quarantine, columns = _output_schemas(plan, source)
    out = pa.schema([pa.field(PART, pa.string()), *_prefixed(clean, CLEAN), *_prefixed(quarantine, QUARANTINE),
                     *[f for f in COUNTS_SCHEMA if f.name != PART]])
    sharded = frame.repartition(shards, _shard_key(frame, plan))
    output = sharded.mapInArrow(_check_task(plan, source, out, memory_limit), spark_schema(out))
    output = keep_on_disk(output)
    try:
        counts = output.filter(~F.col(PART).isin(CLEAN, QUARANTINE)).select(*COUNTS_SCHEMA.names).toArrow()
    except BaseException:
        output.unpersist()
        raise
    picked = {part: output.filter(F.col(PART) == part).select(*[_column(f"{part}{SEP}{f.name}").alias(f.name)
                                                                 for f in schema])
              for part, schema in ((CLEAN, clean), (QUARANTINE, quarantine))}
    return CheckedTable(picked[CLEAN], picked[QUARANTINE], columns, output), _found(counts)


def _shard_total(frame, shards: int, params: Params) -> int:
    if shards:
        return shards
    return max(1, math.ceil(frame.count() / params.engine.spark.shard_rows))


def validate_on_spark(sources: dict[str, TableSource], params: Params, now: datetime,
                      unknown_entries: list[str] | None = None, shards: int = 0) -> SparkDataset:
    """Validate ``sources`` on Spark as ``pipeline.data.validate.validate_sources`` does on one machine: the same
    report, the same clean rows (``frames``, typed as the ``clean_<table>`` views) and quarantined rows
    (``quarantine``), or the same DataError. ``shards``: shards each table's rows are checked in, and the dataset's
    customer shards (0: one per ``engine.spark.shard_rows`` rows)."""
    spark = spark_session(params.engine)
    memory = params.engine.spark.task_memory_limit
    checked: dict[str, CheckedTable] = {}

    def check(name: str, source: TableSource) -> tuple[TableAccount, list[Problem], list[str]]:
        fmt = params.input.for_table(name)
        frame = None
        try:
            frame, note = read_source(spark, source, fmt)
            schema = _arrow_schema(frame)
            scan = ShardScan(frame, schema, memory)
            plan = plan_table(scan, SCHEMAS[name], replace(source, fmt=fmt), getattr(params.columns, name), now)
            checked[name], found = _check_on_spark(frame, plan, schema, _shard_total(frame, shards, params), memory)
        except (DataError, ConfigError):
            raise
        except Exception as exc:  # Spark's errors about the source become ours; others are not about the input
            error = _read_error(source, fmt, frame, exc)
            if error is None:
                raise
            raise error from None
        account, problems, notices = table_report(plan, found)
        return account, problems, [note, *notices] if note else notices

    try:
        report = validate_tables(sources, unknown_entries or [], params.validation, check)
    except BaseException:
        for table in checked.values():
            table.output.unpersist()
        raise
    used = sorted(report.tables)
    return SparkDataset(con=None, report=report, spark=spark, frames={n: checked[n].clean for n in used},
                        layout=Layout(tuple((n, checked[n].columns) for n in used)), params=params, shards=shards,
                        quarantine={n: t.quarantine for n, t in checked.items()})


def _arrow_schema(frame) -> pa.Schema:
    """The Arrow schema of the rows a task of ``frame`` receives."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(frame.schema, timezone=frame.sparkSession.conf.get("spark.sql.session.timeZone"))
