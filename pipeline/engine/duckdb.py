"""The single-machine engine: validated tables in a DuckDB connection, built in customer shards."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.core import scratch
from pipeline.core.config import EngineConfig, Params
from pipeline.core.errors import ConfigError
from pipeline.core.sql import sql_string
from pipeline.data.sources import TableSource, discover_tables, frames_as_sources
from pipeline.data.validate import ValidationReport, validate_sources
from pipeline.data.validate.ids import align_ids
from pipeline.engine.base import Dataset, Scorer, ShardBuild


def spill_folder(root: str | Path | None = None) -> str:
    """A folder of its own under ``root`` (None: the system's temporary folder, ``TMPDIR``) for one connection's
    spills: DuckDB creates it on the first spill and removes it when the connection closes; a run killed before
    that leaves it to the next run's sweep (``pipeline.core.scratch``). Left to itself, an in-memory DuckDB spills
    to ``.tmp`` in the working directory, which a nightly job may not be allowed to write and where nobody looks."""
    parent = Path(root) if root is not None else Path(tempfile.gettempdir())
    try:
        parent.mkdir(parents=True, exist_ok=True)  # DuckDB makes the spill folder itself, not the folders above it
    except OSError:
        pass  # DuckDB says so if it ever needs to spill
    scratch.sweep(parent)
    return str(parent / f"{scratch.prefix('spill')}{uuid.uuid4().hex[:12]}")


def connect(engine: EngineConfig, temp_dir: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to disk beyond ``engine.memory_limit`` (out of core), in a folder of its own
    under ``temp_dir`` (None: the system's temporary folder; ``spill_folder``)."""
    return new_connection(engine.memory_limit, engine.threads, spill_folder(temp_dir))


def new_connection(memory_limit: str, threads: int = 0, temp_dir: str | None = None,
                   setting: str = "engine.memory_limit") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB in UTC with ``memory_limit`` (the value of ``setting``; ``threads``: 0 = every core),
    spilling under ``temp_dir``.

    The engine's allocator hands memory it no longer uses back to the system from a thread of its own
    (``allocator_background_threads``): without it the memory a query peaked at stays with the process after the
    query, so scoring, which starts when the features are built, held up to twice what the engine's memory limit
    allows on top of its own frames (building 205,339 customers' features left 1.7 GB resident for a 0.18 GB table;
    with it 0.9 GB at once, 0.6 GB a few seconds later: docs/benchmarks.md)."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    try:
        con.execute(f"SET memory_limit = {sql_string(memory_limit)}")
    except duckdb.Error as exc:
        raise ConfigError(f"{setting}: '{memory_limit}' is not a memory size ({exc}). Fix: use a size such as 8GB or "
                          "500MB, or a share of the machine's memory such as 50%") from None
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET allocator_background_threads = true")
    if threads > 0:
        con.execute(f"SET threads = {int(threads)}")
    if temp_dir:
        con.execute(f"SET temp_directory = {sql_string(temp_dir)}")
    return con


@dataclass
class DuckDBDataset(Dataset):
    """Validated input tables in a DuckDB connection (``clean_<table>`` views), with what validation did."""

    con: duckdb.DuckDBPyConnection
    report: ValidationReport
    temp_dir: str | None = None  # where customer shards are written (None: the system's temporary folder)
    _written: tuple[int, tempfile.TemporaryDirectory] | None = field(default=None, repr=False)
    _bounds: dict[int, list[str]] = field(default_factory=dict, repr=False)
    _fingerprint: dict | None = field(default=None, repr=False)

    def shard_bounds(self, n: int) -> list[str]:
        """The customer ids that split customers into ``n`` shards of about equal transactions: shard k
        holds the ids from bound k - 1 (inclusive) to bound k (exclusive), the first and last open-ended.

        Shards are ranges of ids, not hash buckets, so a shard's filter is a plain comparison the Parquet
        reader applies inside the scan and, where the files are clustered by customer (each part holding a
        range of customers, as exports written customer by customer are), uses to skip the parts and row
        groups outside the range. The bounds are quantiles of a seeded sample of the transactions' ids;
        they only balance the shards, since the table does not depend on how customers are split.
        """
        if n not in self._bounds:
            ids = sorted(r[0] for r in self.con.execute(
                "SELECT customer_id FROM clean_transactions USING SAMPLE reservoir(100000 ROWS) REPEATABLE (42)"
            ).fetchall())
            self._bounds[n] = sorted({ids[len(ids) * k // n] for k in range(1, n)}) if ids else []
        return self._bounds[n]

    def _shard_where(self, k: int, n: int) -> str:
        """SQL condition on ``customer_id``: the row's customer is in shard k of n (``shard_bounds``)."""
        bounds = [sql_string(b) for b in self.shard_bounds(n)]
        if k > len(bounds):  # fewer distinct bounds than shards (a few ids hold most rows): an empty shard
            return "false"
        lower = [f"customer_id >= {bounds[k - 1]}"] if k > 0 else []
        upper = [f"customer_id < {bounds[k]}"] if k < len(bounds) else []
        return " AND ".join(lower + upper) or "true"

    def _shard_number(self, n: int) -> str:
        """SQL: the shard (0 .. n-1) of a row's ``customer_id``, the same split as ``_shard_where``."""
        bounds = self.shard_bounds(n)
        if not bounds:
            return "0"
        cases = " ".join(f"WHEN customer_id < {sql_string(b)} THEN {k}" for k, b in enumerate(bounds))
        return f"CASE {cases} ELSE {len(bounds)} END"

    def shard_rows_sql(self, table: str, shard: tuple[int, int], reuse: bool = False,
                       columns: Callable[[str], str] = lambda table: "*") -> str:
        """A relation of the clean rows of ``table`` whose customers fall in ``shard`` (k, n), in the
        columns ``columns(table)`` selects (a build passes its own projection).

        A single build reads the shard's rows straight from the source, filtered by customer: one scan of
        the source per shard. A build that is one of several over this dataset (``reuse``: the cutoffs of
        a training set) first writes every table's clean rows out once, one Parquet folder per shard
        (removed with the dataset), and each shard of every later build reads only its own folder. Once
        written, the folders serve every build with that number of shards. One shard is read from the clean
        views by every build: they read validation's written rows where a table has exact copies, and writing
        the one shard out as well gained nothing once they did (docs/benchmarks.md).
        """
        k, n = shard
        if n == 1:
            return f"(SELECT {columns(table)} FROM clean_{table})"
        written = self._written is not None and self._written[0] == n
        if not (written or reuse):
            return f"(SELECT {columns(table)} FROM clean_{table} WHERE {self._shard_where(k, n)})"
        if not written:
            folder = scratch.temporary("shards", self.temp_dir)
            for name in sorted(self.tables):
                target = str(Path(folder.name) / name)
                self.con.execute(f"COPY (SELECT {columns(name)}, {self._shard_number(n)} AS _shard "
                                 f"FROM clean_{name}) TO "
                                 f"{sql_string(target)} (FORMAT parquet, PARTITION_BY (_shard), COMPRESSION uncompressed)"
                                 ).fetchall()
                self.con.execute(f"CREATE OR REPLACE VIEW _shards_{name} AS "
                                 f"SELECT * FROM read_parquet({sql_string(target + '/*/*.parquet')}, hive_partitioning = true)")
            self._written = (n, folder)
        return f"(SELECT * EXCLUDE (_shard) FROM _shards_{table} WHERE _shard = {k})"

    def _run_totals(self, sql: str) -> tuple:
        return self.con.execute(sql).fetchone()

    def _run_grouped(self, queries: list[tuple[str, str]]) -> dict[tuple[str, str], list[tuple]]:
        """One engine runs each query once over every customer (the combining SQL is for shards)."""
        return {query: self.con.execute(query[0]).fetchall() for query in queries}

    def shard_count(self, shard_rows: int) -> int:
        """Customer shards for a build: one per ``shard_rows`` transactions (``engine.shard_rows``), at least one."""
        rows = next((a.rows_used for a in self.report.accounts if a.table == "transactions"), 0)
        return max(1, -(-rows // shard_rows))

    def build_tables(self, builds: list[ShardBuild], progress: Callable[[int, int], None] | None = None,
                     reuse_shards: bool = False) -> Iterator[pd.DataFrame]:
        """Each build over the customer shards in turn (one per ``engine.shard_rows`` transactions: a shard's rows
        are read once and its aggregates held in memory), then its fitted families over every shard's statistics.
        The tables are made one at a time, as they are asked for."""
        for build in builds:
            built: list[pa.Table] = []
            # each shard's rows kept in order (the list bound now: it is deleted below, before the frame is made)
            finished = self._build_shards(build, reuse_shards, progress, lambda _k, rows, into=built: into.append(rows))
            table = build.combine(self.con, pa.concat_tables(built), finished)
            del built, finished  # the shards' tables are let go before the frame is made: two copies, not three
            frame = table.to_pandas()
            del table
            yield frame

    def _build_shards(self, build: ShardBuild, reuse: bool, progress: Callable[[int, int], None] | None,
                      rows_to: Callable[[int, pa.Table], None]) -> dict[str, pd.DataFrame]:
        """Each customer shard of ``build`` in turn (one per ``engine.shard_rows`` transactions), its feature rows
        handed to ``rows_to(k, rows)`` as it is built; then the fitted families' results over every shard's
        statistics."""
        shards = self.shard_count(build.shard_rows)
        stats_parts = []
        for k in range(shards):
            rows, stats = build.shard(self, (k, shards), reuse)
            rows_to(k, rows)
            del rows
            stats_parts.append(stats)
            if progress:
                progress(k + 1, shards)
        stats = {name: pa.concat_tables(s[name] for s in stats_parts) for name in build.fitted}
        del stats_parts
        return build.finish(self.con, stats)

    def score(self, build: ShardBuild, scorer: Scorer, keep: Callable[[pd.DataFrame], pd.DataFrame],
              progress: Callable[[int, int], None] | None = None,
              contributions_to: Callable[[pd.DataFrame], None] | None = None) -> tuple[EngineRows, object]:
        """The build's customer shards written into a table of the engine's (within ``engine.memory_limit``,
        spilling beyond it) as each is built, and the feature table streamed from it to ``scorer`` a scoring batch
        at a time (``scoring.batch_rows`` customers, in id order): Python holds one batch of features, never the
        table. ``keep`` is applied to the first batch (the columns it keeps are those of every batch; an empty
        population reaches it as an empty table). The same batches, rows and result as scoring the whole table
        (``Scorer.score``); the table stays in the engine for what follows (``EngineRows``) until closed."""
        table = f"_scoring_{uuid.uuid4().hex}"  # the connection's own, whatever else it builds meanwhile
        con = self.con

        def rows_to(k: int, rows: pa.Table) -> None:  # into the engine's table, and let go
            con.register("_shard_rows", rows)
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM _shard_rows" if k == 0
                        else f"INSERT INTO {table} SELECT * FROM _shard_rows")
            con.unregister("_shard_rows")

        try:
            finished = self._build_shards(build, False, progress, rows_to)
            query, registered = build.combine_sql(con, table, finished, suffix=table)
            features = EngineRows(con, table, query, registered)
        except BaseException:
            # the cleanup never hides what stopped the run
            with contextlib.suppress(duckdb.Error):
                con.unregister("_shard_rows")
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DROP TABLE IF EXISTS {table}")
            raise
        reader = None
        try:
            reader = con.sql(query).to_arrow_reader(scorer.batch_rows)
            batches = _kept_batches(_rebatched(reader, scorer.batch_rows), keep, features)
            result = scorer.score_batches(batches, len(features), contributions_to)
        except BaseException:
            if reader is not None:  # a result left open would refuse the connection's next query
                reader.close()
            features.close()
            raise
        reader.close()
        return features, result

    def map_parts(self, work: Callable[[duckdb.DuckDBPyConnection], dict[str, pa.Table]]) -> dict[str, pa.Table]:
        return work(self.con)

    def quarantine_frame(self, table: str) -> pd.DataFrame:
        """The rows of ``table`` set aside, with their reasons."""
        return self.con.sql(f"SELECT * FROM quarantine_{table}").to_arrow_table().to_pandas()

    def clean_columns(self, table: str) -> list[tuple[str, str]]:
        """(name, engine type) of each column of a clean table."""
        return [(r[0], r[1]) for r in self.con.execute(f"DESCRIBE SELECT * FROM clean_{table}").fetchall()]


class EngineRows:
    """The feature table a scoring run scored, kept in the engine (``pipeline.engine.base.FeatureRows``): its shards'
    rows in a table of the connection's and the query that combines them with the fitted families' results, read
    again for the rows asked for."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str, query: str, registered: list[str]):
        self.con, self.table, self.query, self.registered = con, table, query, registered
        self.columns: list[str] | None = None  # those ``keep`` kept, set by the first batch
        [(self.count,)] = con.execute(f"SELECT count(*) FROM {table}").fetchall()

    def __len__(self) -> int:
        return int(self.count)

    def _select(self, where: str) -> pd.DataFrame:
        names = "*" if self.columns is None else ", ".join('"' + c.replace('"', '""') + '"' for c in self.columns)
        return self.con.sql(f"SELECT {names} FROM ({self.query}) WHERE {where} ORDER BY customer_id"
                            ).to_arrow_table().to_pandas()

    def rows(self, ids) -> pd.DataFrame:
        wanted = pa.table({"id": pa.array([str(i) for i in ids], pa.string())})
        self.con.register("_wanted_ids", wanted)
        try:
            return self._select("CAST(customer_id AS VARCHAR) IN (SELECT id FROM _wanted_ids)")
        finally:
            self.con.unregister("_wanted_ids")

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        """The rows ``DataFrame.sample(n, random_state=seed)`` takes of the table in id order, in its order and
        with its index (the rows' positions)."""
        at = np.random.RandomState(seed).choice(len(self), size=min(n, len(self)), replace=False)
        self.con.register("_sample_positions", pa.table({"pos": pa.array(at, pa.int64())}))
        try:
            pairs = self.con.sql(f"SELECT pos, customer_id FROM (SELECT customer_id, row_number() OVER (ORDER BY "
                                 f"customer_id) - 1 AS pos FROM {self.table}) JOIN _sample_positions USING (pos)"
                                 ).to_arrow_table().to_pandas()
        finally:
            self.con.unregister("_sample_positions")
        ids = pd.Series(pairs["customer_id"].to_numpy(), index=pairs["pos"].to_numpy()).reindex(at)
        found = self.rows(ids)
        order = pd.Index(found["customer_id"].astype(str)).get_indexer(ids.astype(str))
        if len(found) != len(at) or (order < 0).any():  # never another customer's row in its place
            raise RuntimeError(f"the feature table's sample of {len(at)} customers found {len(found)} rows by id")
        return found.iloc[order].set_axis(pd.Index(at))

    def close(self) -> None:
        """Drop the table and the registered results; an engine that fails here (after another error, say) does not
        hide that error."""
        with contextlib.suppress(duckdb.Error):
            self.con.execute(f"DROP TABLE IF EXISTS {self.table}")
        for name in self.registered:
            with contextlib.suppress(duckdb.Error):
                self.con.unregister(name)
        self.registered = []


def _rebatched(reader: pa.RecordBatchReader, rows: int) -> Iterator[pa.Table]:
    """The reader's rows in tables of exactly ``rows`` (the last one fewer; one empty table when there is none)."""
    held: list[pa.RecordBatch] = []
    count, sent = 0, False
    for batch in reader:
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(held, schema=reader.schema)
            yield table.slice(0, rows)
            sent = True
            rest = table.slice(rows)
            held, count = rest.to_batches(), rest.num_rows
            del table, rest
    if count or not sent:
        yield pa.Table.from_batches(held, schema=reader.schema)


def _kept_batches(tables: Iterator[pa.Table], keep: Callable[[pd.DataFrame], pd.DataFrame],
                  features: EngineRows) -> Iterator[pd.DataFrame]:
    """Each table as a frame: the first through ``keep``, the others cut to the columns it kept."""
    for table in tables:
        frame = table.to_pandas()
        del table
        if features.columns is None:
            frame = keep(frame)
            features.columns = list(frame.columns)
        else:
            frame = frame[features.columns]
        yield frame


def open_dataset(
    sources: dict[str, TableSource],
    params: Params,
    now: datetime,
    unknown_entries: list[str] | None = None,
    temp_dir: str | None = None,
) -> DuckDBDataset:
    """Validate sources into a fresh engine connection (``now`` is the moment of validation); the engine
    spills, the checked rows of typed tables with exact copies and customer shards are written under ``temp_dir`` (default
    ``engine.temp_dir``, created if missing; when that is empty too, the system's temporary folder)."""
    temp_dir = temp_dir or params.engine.temp_dir or None
    try:
        if temp_dir is not None:
            Path(temp_dir).mkdir(parents=True, exist_ok=True)
        # The checked rows of typed tables with exact copies, written once by validation and read by every later
        # scan (``check_rows``): the folder goes when the connection does, which callers may hold without the dataset.
        checked = scratch.make("checked", temp_dir)
    except OSError as exc:
        where = temp_dir if temp_dir is not None else f"the system's temporary folder {tempfile.gettempdir()}"
        raise ConfigError(f"engine.temp_dir: cannot create a folder in {where} ({exc.strerror}). Fix: point "
                          "engine.temp_dir at a writable folder with room for the checked rows and the customer "
                          "shards") from None
    try:
        con = connect(params.engine, temp_dir)
    except ConfigError:  # an engine.memory_limit DuckDB cannot read
        shutil.rmtree(checked, ignore_errors=True)
        raise
    weakref.finalize(con, shutil.rmtree, checked, ignore_errors=True)
    report = validate_sources(con, sources, unknown_entries or [], params.columns, params.validation, now,
                              params.input, temp_dir, checked)
    align_ids(con, report.tables)  # ids that match the transactions' only once their type is set aside (one rule)
    return DuckDBDataset(con, report, temp_dir)


def dataset_from_frames(frames: dict[str, pd.DataFrame], params: Params, now: datetime | None = None) -> DuckDBDataset:
    """In-memory tables (tests, notebooks) through the same validation."""
    return open_dataset(frames_as_sources(frames), params, now or datetime(2100, 1, 1))


def open_data(data: str | Path, params: Params, now: datetime) -> DuckDBDataset:
    """The tables in the folder ``data``, validated as of ``now`` (a URI is refused with the fix: the Spark engine
    reads URIs)."""
    sources, unknown = discover_tables(data)
    return open_dataset(sources, params, now, unknown)
