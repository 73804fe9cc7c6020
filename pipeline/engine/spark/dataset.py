"""Apache Spark as the engine: the session, customer shards, and the project's own DuckDB build inside each task.

How it works, and why: docs/spark.md, section "pipeline/engine/spark/dataset.py".
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.lgbm import prediction_thread_cap
from pipeline.core import scratch
from pipeline.core.config import EngineConfig, Params
from pipeline.core.errors import ConfigError
from pipeline.core.sql import sql_string
from pipeline.data.validate import ValidationReport
from pipeline.data.validate.ids import SHARD_KEY, align_ids, unaligned
from pipeline.engine.base import FrameRows, Scorer, ShardBuild
from pipeline.engine.duckdb import DuckDBDataset, connect, new_connection

MIN_JAVA = 17
TAG = "_table"  # the long table's column naming each row's table
PART, BUILD = "_part", "_build"  # a shard task's output: which build (cutoff) and which part (features or a fit's statistics)
SEP = "__"  # a table's columns in the long table: <table>__<column>
# Rows per Arrow batch a task hands back (Spark's own spark.sql.execution.arrow.maxRecordsPerBatch): a shard's whole
# result in one batch would need as much of the JVM's memory at once, however large the shard.
BATCH_ROWS = 10_000
TASK_THREADS = 1  # threads a task predicts and explains on (spark.task.cpus: a task per core)


def java_major() -> int | None:
    """The major version of the ``java`` Spark will start (JAVA_HOME's, else the one on PATH); None if there is none."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    try:
        said = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', said)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2)) if major == 1 and found.group(2) else major  # "1.8" is Java 8


def check_java() -> None:
    major = java_major()
    if major is None:
        raise ConfigError("engine.kind spark needs Java 17 or newer, and no java was found (JAVA_HOME or PATH). Fix: "
                          "install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME")
    if major < MIN_JAVA:
        raise ConfigError(f"engine.kind spark needs Java {MIN_JAVA} or newer; the java found is version {major}. Fix: "
                          "install Java 17+ and point JAVA_HOME at it")


def spark_session(cfg: EngineConfig):
    """The Spark session of ``engine.spark`` (one per process: an existing session is reused, as spark-submit and
    notebooks give one). Its Python workers run this interpreter, its time zone is UTC and its timestamps carry no
    zone, as the single-machine engine's do."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("engine.kind spark needs pyspark, which is not installed. Fix: make spark (or "
                          "pip install -e \".[spark]\" in the project's environment)") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    check_java()
    # Workers must import this interpreter's packages (pyarrow, duckdb, this project), not the system Python's.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = cfg.spark
    builder = SparkSession.builder.appName(spark.app_name)
    if spark.master:
        builder = builder.master(spark.master)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.useLargeVarTypes": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.legacy.javaCharsets": "true",  # cp1251, gbk... read as the single-machine engine reads them
        # a heap too small for a job stops the run with an error, not a session that hangs (local mode)
        "spark.driver.extraJavaOptions": "-XX:+ExitOnOutOfMemoryError",
        **spark.conf,
    }
    for key, value in settings.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def task_connection(memory_limit: str, temp_dir: str | None = None) -> duckdb.DuckDBPyConnection:
    """The DuckDB of one task: one thread (Spark runs a task per core), a memory limit beyond which it spills."""
    return new_connection(memory_limit, 1, temp_dir, "engine.spark.task_memory_limit")


def spark_schema(schema: pa.Schema):
    """The Spark schema of an Arrow schema (timestamps without a zone stay without one)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


@dataclass(frozen=True)
class Layout:
    """Every clean table's columns, as (name, DuckDB type): what each task recreates from the long table."""

    tables: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

    def create(self, con: duckdb.DuckDBPyConnection) -> None:
        for name, columns in self.tables:
            listed = ", ".join(f'"{c}" {t}' for c, t in columns)
            con.execute(f"CREATE TABLE clean_{name} ({listed})")

    def load(self, con: duckdb.DuckDBPyConnection, batches: Iterator[pa.RecordBatch]) -> None:
        """Append each batch's rows to its tables' ``clean_<table>`` as it arrives (the task holds one batch in
        Python; DuckDB holds the rest and spills beyond its memory limit), then match the shard's ids by the one rule
        (``align_ids``: every id of one value is in this shard)."""
        for batch in batches:
            tags = batch.column(TAG)
            for name, columns in self.tables:
                rows = batch.filter(pc.equal(tags, name))
                if rows.num_rows == 0:
                    continue
                source = {c: rows.column(c if c == "customer_id" else f"{name}{SEP}{c}") for c, _ in columns}
                con.register("_rows", pa.table(source))
                con.execute(f"INSERT INTO clean_{name} SELECT * FROM _rows")
                con.unregister("_rows")
        align_ids(con, {name for name, _ in self.tables})


def _run_shard(work: Callable[[duckdb.DuckDBPyConnection], pa.Table], layout: Layout, memory_limit: str,
               schema: pa.Schema) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A ``mapInArrow`` function: one shard's rows into a task DuckDB, then ``work`` over its clean tables."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        con = task_connection(memory_limit)
        try:
            layout.create(con)
            layout.load(con, batches)
            result = work(con)
            yield from conform(result, schema).to_batches(max_chunksize=BATCH_ROWS)
        finally:
            con.close()

    return run


def keep_on_disk(frame):
    """``frame`` kept for the jobs that reuse it, on the executors' local disk, not in their heap. PySpark's
    MEMORY_AND_DISK keeps blocks serialized, as 1 MiB byte arrays; with G1's 1 MiB regions (any heap under 2 GB) each
    is a humongous object taking two regions, so a 1 GB heap filled twice as fast as Spark's memory manager counted and
    ran out. On disk, the heap a job needs does not grow with the data."""
    from pyspark import StorageLevel

    return frame.persist(StorageLevel.DISK_ONLY)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` in ``schema``'s columns and types: columns it lacks are nulls."""
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


@dataclass
class SparkDataset(DuckDBDataset):
    """Validated tables held by Spark (``frames``: clean rows, typed as the single-machine engine types them), split
    into customer shards. What a stage asks of a dataset (aggregates, the build) runs per shard in Spark tasks."""

    spark: object = None
    frames: dict = field(default_factory=dict)
    layout: Layout | None = None
    params: Params | None = None
    shards: int = 0  # customer shards (0: one per engine.spark.shard_rows input rows)
    quarantine: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._long = None

    @property
    def shard_total(self) -> int:
        if self.shards:
            return self.shards
        rows = sum(a.rows_used for a in self.report.accounts)
        return max(1, -(-rows // self.params.engine.spark.shard_rows))

    def long(self):
        """Every clean row in one frame tagged by table, split into the customer shards and kept (on disk,
        ``keep_on_disk``) for the jobs of this dataset."""
        if self._long is None:
            from pyspark.sql import functions as F

            parts = []
            for name, columns in self.layout.tables:
                frame = self.frames[name]
                parts.append(frame.select(F.lit(name).alias(TAG), F.col("customer_id"),
                                          *[F.col(c).alias(f"{name}{SEP}{c}") for c, _ in columns if c != "customer_id"]))
            long = parts[0]
            for part in parts[1:]:
                long = long.unionByName(part, allowMissingColumns=True)
            # split by the id rule's key, not the id: ids of one value (00042, 42) meet in one shard, where the
            # rule matches them and near misses are counted, as on one machine over the whole data
            self._long = keep_on_disk(long.repartition(self.shard_total, F.expr(SHARD_KEY)))
        return self._long

    def map_shards(self, work: Callable[[duckdb.DuckDBPyConnection], pa.Table], schema: pa.Schema):
        """A Spark frame of ``work``'s rows over every customer shard (``work`` reads the ``clean_<table>`` tables
        of its shard and returns rows in ``schema``)."""
        memory = self.params.engine.spark.task_memory_limit
        return self.long().mapInArrow(_run_shard(work, self.layout, memory, schema), spark_schema(schema))

    def dry_run(self, work: Callable[[duckdb.DuckDBPyConnection], pa.Table]) -> pa.Table:
        """``work`` over empty tables on the driver: the schema of what it returns."""
        con = task_connection("1GB")
        try:
            self.layout.create(con)
            align_ids(con, {name for name, _ in self.layout.tables})
            return work(con)
        finally:
            con.close()

    def _per_shard(self, sql: str) -> pa.Table:
        def work(con):
            return con.sql(sql).to_arrow_table()

        return self.map_shards(work, self.dry_run(work).schema).toArrow()

    def _run_totals(self, sql: str) -> tuple:
        parts = self._per_shard(sql)
        return tuple(sum(v for v in parts.column(i).to_pylist() if v is not None) for i in range(parts.num_columns))

    def driver_connection(self) -> contextlib.closing:
        """A DuckDB on the driver with the engine's settings (``engine.memory_limit``, threads, spill folder, UTC),
        closed when the ``with`` block ends: the fitted families' fits and the sums over the shards' parts."""
        return contextlib.closing(connect(self.params.engine, self.params.engine.temp_dir or None))

    def _run_grouped(self, queries: list[tuple[str, str]]) -> dict[tuple[str, str], list[tuple]]:
        """Every query in one Spark job (``map_parts``: a part per query), each combined on the driver: validation's
        follow-up (the fingerprint, the id counts) read every row eleven times over with five tables, a job each."""
        named = {f"q{i}": query for i, query in enumerate(queries)}
        parts = self.map_parts(lambda con: {name: con.sql(sql).to_arrow_table() for name, (sql, _) in named.items()})
        answers = {}
        with self.driver_connection() as con:
            for name, query in named.items():
                con.register("parts", parts[name])
                answers[query] = con.execute(query[1]).fetchall()
                con.unregister("parts")
        return answers

    def clean_columns(self, table: str) -> list[tuple[str, str]]:
        return list(dict(self.layout.tables)[table])

    def from_driver(self, table: pa.Table):
        """A Spark frame of rows the driver holds. A local session reads them from a Parquet copy in a temporary
        folder kept with the dataset (a frame made from local rows lives in the JVM's heap, twice over when it is
        broadcast to a join); a cluster's session gets them from the driver."""
        if not (self.spark.sparkContext.master or "").startswith("local"):
            return self.spark.createDataFrame(table) if table.num_rows else \
                self.spark.createDataFrame([], spark_schema(table.schema))
        import weakref

        import pyarrow.parquet as pq

        folder = str(scratch.make("driver-rows", self.params.engine.temp_dir or None))
        weakref.finalize(self, shutil.rmtree, folder, True)
        pq.write_table(table, f"{folder}/rows.parquet")
        return self.spark.read.schema(spark_schema(table.schema)).parquet(folder)

    def build_tables(self, builds: list[ShardBuild], progress: Callable[[int, int], None] | None = None,
                     reuse_shards: bool = False) -> Iterator[pd.DataFrame]:
        """Every build in one pass over the customer shards (``build_on_spark``), each table collected on the driver.
        The cutoffs of a training set (``reuse_shards``) are written by Spark as Parquet under
        ``engine.spark.training_set_dir`` when it is set (on a cluster: storage every node reaches, such as hdfs://
        or s3a://), a folder per cutoff, and read back from there."""
        kept = self.params.engine.spark.training_set_dir.rstrip("/") if reuse_shards else ""
        for build, frame in zip(builds, build_on_spark(self, builds), strict=True):
            if kept:
                folder = f"{kept}/cutoff={build.as_of.isoformat()}"
                frame.write.mode("overwrite").parquet(folder)
                frame = self.spark.read.schema(frame.schema).parquet(folder)
            yield to_pandas(frame, self.params.engine.temp_dir or None)

    def score(self, build: ShardBuild, scorer: Scorer, keep: Callable[[pd.DataFrame], pd.DataFrame],
              progress: Callable[[int, int], None] | None = None,
              contributions_to: Callable[[pd.DataFrame], None] | None = None) -> tuple[FrameRows, object]:
        """Features built in the cluster and each partition's customers scored there with the scorer broadcast once
        (``Scorer.rows``: probabilities, values, SHAP, drivers, reasons, actions); what needs every customer
        (``Scorer.assemble``: bands by rank, contact groups, the call list's order, summary, drift) on the driver from
        the risk rows and the partitions' sums. The feature table comes back to the driver too: the risk list's
        comparisons with an earlier run and its charts read it.

        The scored rows land on the driver as files (``landed``; on a cluster, collected) that the driver's DuckDB
        reads: the risk columns whole, in the feature table's order, and the SHAP contributions (most of each row: a
        value per feature) a batch at a time into ``contributions_to``, in that order too (DuckDB sorts within
        ``engine.memory_limit``, spilling beyond it), so the driver never holds every customer's contributions; without
        ``contributions_to`` they are gathered into the result, as on one machine."""
        [frame] = build_on_spark(self, [build])
        frame = keep_on_disk(frame)
        features = keep(to_pandas(frame))
        frame = frame.select(*features.columns)
        probe = scorer.rows(features.head(1))
        risk_columns = list(probe.risk.columns)
        contribution_columns = list(probe.contributions.columns[1:])
        fields = [pa.field(c, _arrow_type(probe.risk[c].dtype)) for c in risk_columns]
        fields += [pa.field(c, pa.float64()) for c in contribution_columns] + [pa.field(TOTALS, pa.string())]
        schema = pa.schema(fields)
        broadcast = self.spark.sparkContext.broadcast(scorer)
        scored = frame.mapInArrow(_score_work(broadcast, risk_columns, schema), spark_schema(schema))
        temp_dir = self.params.engine.temp_dir or None
        with landed(scored, temp_dir) as landed_rows, self.driver_connection() as con:
            if isinstance(landed_rows, pa.Table):
                con.register("_scored", landed_rows)
                rows = "_scored"
            else:
                rows = f"read_parquet([{', '.join(sql_string(str(part)) for part in landed_rows)}])"
            # each batch's sums (on its first row) in one order whatever order the rows are read in: their floats are
            # added up in it, and the same inputs give the same summary
            totals = [json.loads(t) for (t,) in con.execute(
                f"SELECT {TOTALS} FROM {rows} WHERE {TOTALS} IS NOT NULL ORDER BY customer_id").fetchall()]
            # the rows in the feature table's order, as one machine scores them (assemble orders the call list)
            ordered = f"FROM {rows} ORDER BY customer_id"
            risk = _typed(con.sql(f"SELECT {_names(risk_columns)} {ordered}").to_arrow_table()
                          .cast(pa.schema([schema.field(c) for c in risk_columns])).to_pandas(), probe.risk)
            contributions = con.sql(f"SELECT customer_id, {_names(contribution_columns)} {ordered}")
            if contributions_to is not None:  # where one machine's scoring hands them, a batch at a time
                for batch in contributions.to_arrow_reader(self.params.scoring.batch_rows):
                    contributions_to(_with_object_ids(batch.to_pandas()))
                contributions = None
            else:
                contributions = _with_object_ids(contributions.to_arrow_table().to_pandas())
        frame.unpersist()
        return FrameRows(features), scorer.assemble(risk, contributions, totals)

    def map_parts(self, work: Callable[[duckdb.DuckDBPyConnection], dict[str, pa.Table]]) -> dict[str, pa.Table]:
        """``work`` in every customer shard, each named part's rows of all shards together (one Spark job: the parts
        travel as one table, tagged by part)."""

        def tagged(con: duckdb.DuckDBPyConnection) -> pa.Table:
            return _tagged_parts(work(con))

        empty = self.dry_run(tagged)
        names = sorted({c.split(SEP)[0] for c in empty.column_names if c != PART})
        return _untagged_parts(collect(self.map_shards(tagged, empty.schema), self.params.engine.temp_dir or None), names)

    def quarantine_frame(self, table: str) -> pd.DataFrame:
        return self.quarantine[table].toArrow().to_pandas()


def dataset_from_local(ds: DuckDBDataset, params: Params, shards: int = 0) -> SparkDataset:
    """A single-machine dataset's clean tables in Spark (tests, and data already validated on one machine)."""
    spark = spark_session(params.engine)
    frames, layout = {}, []
    for name in sorted(ds.tables):
        columns = ds.clean_columns(name)
        # the rows as validation read them (ids as written): the tasks match ids by the rule, as Spark's validation
        kept = {r[0] for r in ds.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        source = unaligned(name) if unaligned(name) in kept else f"clean_{name}"
        table = ds.con.sql(f"SELECT * FROM {source}").to_arrow_table()
        frames[name] = spark.createDataFrame(table) if table.num_rows else spark.createDataFrame([], spark_schema(table.schema))
        layout.append((name, tuple(columns)))
    return SparkDataset(con=None, report=ds.report, spark=spark, frames=frames, layout=Layout(tuple(layout)),
                        params=params, shards=shards)


def _stats_name(fam: str, column: str) -> str:
    return f"_s_{fam}{SEP}{column}"


def _build_work(plans: list[ShardBuild], report: ValidationReport) -> Callable[[duckdb.DuckDBPyConnection], pa.Table]:
    """A shard task's builds: each plan's rows (``_part`` features) and fitted families' statistics (``_part``
    stats:<family>, their columns prefixed), tagged with the plan's index (``_build``)."""

    def work(con: duckdb.DuckDBPyConnection) -> pa.Table:
        ds = DuckDBDataset(con, report)  # the whole dataset's tables, this shard's rows
        out = []
        for i, plan in enumerate(plans):
            table, stats = plan.shard(ds, (0, 1), False)
            out.append(_tagged(table, i, "features"))
            for name, rows in stats.items():
                renamed = rows.rename_columns([c if c == "customer_id" else _stats_name(name, c) for c in rows.column_names])
                out.append(_tagged(renamed, i, f"stats:{name}"))
        return pa.concat_tables(out, promote_options="default")

    return work


def _tagged(table: pa.Table, build: int, part: str) -> pa.Table:
    n = table.num_rows
    return table.append_column(BUILD, pa.array([build] * n, pa.int32())).append_column(PART, pa.array([part] * n, pa.string()))


def _finished_name(fam: str, column: str) -> str:
    return f"_f_{fam}{SEP}{column}"


def _combine_work(plan: ShardBuild, columns: list[str], finished: dict[str, list[str]], memory_limit: str):
    """A ``mapInArrow`` function finishing a build's rows (``columns``) with the fitted families' results, joined
    to them by Spark (``finished``: each family's result columns, prefixed), with the build's ``combine`` SQL. A row needs only
    its own customer's results, so each batch is finished as it arrives: the task holds one batch, however many rows
    its partition has. Its DuckDB is a task's (``task_connection``: one thread, as Spark runs a task per core, in UTC
    as the single-machine engine's, within ``memory_limit``), not one with a thread per core in every task."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        con = task_connection(memory_limit)
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                rows = pa.Table.from_batches([batch])
                results = {}
                for name, names in finished.items():
                    part = rows.select(["customer_id"] + [_finished_name(name, c) for c in names])
                    results[name] = part.rename_columns(["customer_id", *names])
                yield from plan.combine(con, rows.select(columns), results).to_batches(max_chunksize=BATCH_ROWS)
        finally:
            con.close()

    return run


def build_on_spark(ds: SparkDataset, plans: list[ShardBuild]) -> list:
    """Spark frames of the feature tables of ``plans`` (each as ``build_features`` gives it on one machine), built
    in one pass over the customer shards. The fitted families' per-customer results go from the driver back to the
    shards as a Spark frame joined by customer, not in every task's closure. The join is a sort-merge join, which
    spills: a broadcast join would hold every customer's results in the heap, which grows with the customers."""
    from pyspark.sql import functions as F

    work = _build_work(plans, ds.report)
    schema = ds.dry_run(work).schema
    parts = keep_on_disk(ds.map_shards(work, schema))
    with ds.driver_connection() as driver:
        frames = []
        for i, plan in enumerate(plans):
            stats = {}
            for name in plan.fitted:
                prefix = _stats_name(name, "")
                wanted = ["customer_id"] + [f.name for f in schema if f.name.startswith(prefix)]
                rows = parts.filter((F.col(BUILD) == i) & (F.col(PART) == f"stats:{name}")).select(*wanted).toArrow()
                stats[name] = rows.rename_columns([c.removeprefix(prefix) for c in rows.column_names])
            finished = plan.finish(driver, stats)
            empty = ds.dry_run(_build_work([plan], ds.report))
            columns = [c for c in empty.column_names if c not in (BUILD, PART) and not c.startswith("_s_")]
            final_schema = plan.combine(driver, empty.select(columns), {n: f.iloc[:0] for n, f in finished.items()}).schema
            rows = parts.filter((F.col(BUILD) == i) & (F.col(PART) == "features")).select(*columns)
            names = {}
            for name, result in finished.items():
                names[name] = [c for c in result.columns if c != "customer_id"]
                table = pa.Table.from_pandas(result, preserve_index=False)
                table = table.rename_columns(["customer_id" if c == "customer_id" else _finished_name(name, c)
                                              for c in table.column_names])
                rows = rows.join(ds.from_driver(table).hint("merge"), on="customer_id", how="left")
            frames.append(rows.mapInArrow(_combine_work(plan, columns, names, ds.params.engine.spark.task_memory_limit),
                                          spark_schema(final_schema)))
    return frames


@contextlib.contextmanager
def landed(frame, temp_dir: str | None = None) -> Iterator[pa.Table | list[Path]]:
    """A Spark frame's rows on the driver for as long as the ``with`` block lasts. A local session writes them as
    Parquet to a temporary folder and yields its parts, in order, for the driver to read (Spark's own collection
    holds every row in the JVM's heap at once, which ``spark.driver.memory`` bounds); a cluster's session yields them
    collected through Spark as Arrow (``spark.driver.memory`` and ``spark.driver.maxResultSize`` must hold them), as
    does a local one with no rows (an empty table of the frame's columns)."""
    schema = to_arrow_schema_of(frame)
    if not (frame.sparkSession.sparkContext.master or "").startswith("local"):
        yield frame.toArrow().cast(schema)
        return
    with scratch.temporary("collect", temp_dir) as folder:
        frame.write.parquet(f"{folder}/rows")
        parts = sorted(Path(folder, "rows").glob("*.parquet"))
        yield parts or schema.empty_table()


def to_arrow_schema_of(frame) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(frame.schema)


def _names(columns: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _typed(rows: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with each column typed as in ``like`` (a frame of ``Scorer.rows``): text inferred from the values,
    as there."""
    out = pd.DataFrame(index=rows.index)
    for c in like.columns:
        if _arrow_type(like[c].dtype) == pa.string():
            text = rows[c].to_numpy(dtype=object)
            out[c] = np.where(pd.isna(text), None, text)
        else:
            out[c] = rows[c].astype(like[c].dtype)
    return out


def _with_object_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Contributions with the ids as Python text, as ``Scorer.rows`` gives them."""
    frame["customer_id"] = frame["customer_id"].to_numpy(dtype=object)
    return frame


def collect(frame, temp_dir: str | None = None) -> pa.Table:
    """A Spark frame's rows on the driver as one Arrow table, in its Arrow types (``landed``)."""
    import pyarrow.parquet as pq

    schema = to_arrow_schema_of(frame)
    with landed(frame, temp_dir) as rows:
        if isinstance(rows, pa.Table):
            return rows
        return pa.concat_tables([pq.read_table(part) for part in rows]).select(schema.names).cast(schema)


def to_pandas(frame, temp_dir: str | None = None) -> pd.DataFrame:
    """A Spark feature frame on the driver, ordered by customer id (byte order, as the single-machine build orders
    it)."""
    return collect(frame, temp_dir).sort_by("customer_id").to_pandas()


TOTALS = "_totals"  # a scoring task's sums (ScoredRows.totals, JSON), on its first row


def _arrow_type(dtype) -> pa.DataType:
    if pd.api.types.is_bool_dtype(dtype):
        return pa.bool_()
    if pd.api.types.is_integer_dtype(dtype):
        return pa.int64()
    if pd.api.types.is_float_dtype(dtype):
        return pa.float64()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return pa.timestamp("us")
    return pa.string()


def _score_work(scorer_ref, risk_columns: list[str], schema: pa.Schema):
    """A ``mapInArrow`` function scoring one partition's customers (``Scorer.rows``) with the broadcast scorer. A
    customer's scores need only their own row, and ``Scorer.assemble`` adds up the totals of any split of the
    customers, so each Arrow batch is scored as it arrives (with its own totals): the task holds one batch, however
    many customers its partition has."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            with prediction_thread_cap(TASK_THREADS):  # Spark runs a task per core: one thread each, not every core
                rows = scorer_ref.value.rows(batch.to_pandas())
            out = pd.concat([rows.risk[risk_columns], rows.contributions.drop(columns="customer_id")], axis=1)
            out[TOTALS] = None
            out.loc[0, TOTALS] = json.dumps(rows.totals, default=float)
            yield from pa.Table.from_pandas(out, schema=schema, preserve_index=False).to_batches(
                max_chunksize=BATCH_ROWS)

    return run


def _tagged_parts(parts: dict[str, pa.Table]) -> pa.Table:
    """Named parts as one table (Spark's rows have one schema): each part's columns prefixed by its name, its rows
    tagged with it, nulls in the other parts' columns."""
    tables = []
    for name, table in parts.items():
        renamed = table.rename_columns([f"{name}{SEP}{c}" for c in table.column_names])
        tables.append(renamed.append_column(PART, pa.array([name] * table.num_rows, pa.string())))
    return pa.concat_tables(tables, promote_options="default")


def _untagged_parts(rows: pa.Table, names: list[str]) -> dict[str, pa.Table]:
    out = {}
    for name in names:
        prefix = f"{name}{SEP}"
        columns = [c for c in rows.column_names if c.startswith(prefix)]
        part = rows.filter(pc.equal(rows.column(PART), name)).select(columns)
        out[name] = part.rename_columns([c.removeprefix(prefix) for c in columns])
    return out
