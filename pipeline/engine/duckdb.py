"""The single-machine engine: validated tables in a DuckDB connection, built in customer shards."""

from __future__ import annotations

import copy
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.core.config import EngineConfig, Params
from pipeline.core.errors import ConfigError, DataError
from pipeline.core.sql import sql_string
from pipeline.data.sources import TableSource, frames_as_sources
from pipeline.data.validate import ValidationReport, validate_sources


def connect(engine: EngineConfig, temp_dir: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to disk beyond ``engine.memory_limit`` (out of core)."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    try:
        con.execute(f"SET memory_limit = {sql_string(engine.memory_limit)}")
    except duckdb.Error as exc:
        raise ConfigError(f"engine.memory_limit: '{engine.memory_limit}' is not a memory size ({exc}). Fix: use a "
                          "size such as 8GB or 500MB, or a share of the machine's memory such as 50%") from None
    con.execute("SET preserve_insertion_order = false")
    if engine.threads > 0:
        con.execute(f"SET threads = {int(engine.threads)}")
    if temp_dir is not None:
        con.execute(f"SET temp_directory = {sql_string(str(temp_dir))}")
    return con


CANONICAL_CUSTOMER_COLUMNS = ("customer_id", "signup_date")




@dataclass
class Dataset:
    """Validated input tables inside the engine, with what validation did."""

    con: duckdb.DuckDBPyConnection
    report: ValidationReport
    temp_dir: str | None = None  # where customer shards are written (None: the system's temporary folder)
    engine = "duckdb"
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
        written, the folders serve every build with that number of shards.
        """
        k, n = shard
        if n == 1:
            return f"(SELECT {columns(table)} FROM clean_{table})"
        written = self._written is not None and self._written[0] == n
        if not (written or reuse):
            return f"(SELECT {columns(table)} FROM clean_{table} WHERE {self._shard_where(k, n)})"
        if not written:
            folder = tempfile.TemporaryDirectory(prefix="churn-shards-", dir=self.temp_dir)
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

    @property
    def tables(self) -> frozenset[str]:
        return frozenset(a.table for a in self.report.accounts if a.rows_used > 0)

    def totals(self, sql: str) -> tuple:
        """The one row of an aggregate query over the clean tables whose columns are sums (counts) over
        customers: an engine that holds customers in shards adds up each shard's row."""
        return self.con.execute(sql).fetchone()

    def grouped_totals(self, sql: str, combine: str) -> list[tuple]:
        """The rows of a grouped aggregate query over the clean tables; ``combine`` is the SQL that adds up
        per-shard rows (named ``parts``, with the query's columns named as in ``combine``) where customers
        are held in shards. One engine runs the query once over every customer."""
        return self.con.execute(sql).fetchall()

    def date_range(self) -> tuple[date, date]:
        [(lo, hi)] = self.grouped_totals("SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM clean_transactions",
                                         "SELECT min(lo), max(hi) FROM parts")
        if lo is None:
            raise DataError("transactions: no usable rows after validation")
        return lo.date(), hi.date()

    def fingerprint(self) -> dict:
        """Tables, row counts, date range and an order-independent content hash of the rows used (computed once:
        it reads every row)."""
        from pipeline.core.schema import SCHEMAS

        if self._fingerprint is not None:
            return copy.deepcopy(self._fingerprint)
        out: dict = {"tables": {}}
        for name in sorted(self.tables):
            cols = [c for c, _ in self.clean_columns(name)]
            ts = next(c.name for c in SCHEMAS[name].columns if c.kind == "timestamp")
            quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
            [(rows, lo, hi, digest)] = self.grouped_totals(
                f"SELECT count(*) AS n, min({ts}) AS lo, max({ts}) AS hi, "
                f"CAST(sum(hash({quoted})) % 18446744073709551616 AS HUGEINT) AS h FROM clean_{name}",
                "SELECT sum(n)::BIGINT, min(lo), max(hi), CAST(sum(h) % 18446744073709551616 AS UBIGINT) FROM parts")
            out["tables"][name] = {"rows": rows, "from": str(lo), "to": str(hi), "hash": f"{int(digest):016x}"}
        combined = "".join(t["hash"] for t in out["tables"].values())
        out["hash"] = hashlib.sha256(combined.encode()).hexdigest()[:16]
        self._fingerprint = out
        return copy.deepcopy(out)

    def quarantine_frame(self, table: str) -> pd.DataFrame:
        """The rows of ``table`` set aside, with their reasons."""
        return self.con.sql(f"SELECT * FROM quarantine_{table}").to_arrow_table().to_pandas()

    def clean_columns(self, table: str) -> list[tuple[str, str]]:
        """(name, engine type) of each column of a clean table."""
        return [(r[0], r[1]) for r in self.con.execute(f"DESCRIBE SELECT * FROM clean_{table}").fetchall()]

    def profile_columns(self) -> tuple[tuple[str, str], ...]:
        if "customers" not in self.tables:
            return ()
        return tuple(c for c in self.clean_columns("customers") if c[0] not in CANONICAL_CUSTOMER_COLUMNS)


def open_dataset(
    sources: dict[str, TableSource],
    params: Params,
    now: datetime,
    unknown_entries: list[str] | None = None,
    temp_dir: str | None = None,
) -> Dataset:
    """Validate sources into a fresh engine connection (``now`` is the moment of validation); the engine
    spills and customer shards are written under ``temp_dir`` (default ``engine.temp_dir``, created if
    missing; when that is empty too, the system's temporary folder)."""
    temp_dir = temp_dir or params.engine.temp_dir or None
    if temp_dir is not None:
        try:
            Path(temp_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"engine.temp_dir: cannot create {temp_dir} ({exc.strerror}). Fix: point it at a "
                              "writable folder with room for the customer shards, or leave it empty") from None
    con = connect(params.engine, temp_dir)
    report = validate_sources(con, sources, unknown_entries or [], params.columns, params.validation, now,
                              params.input, temp_dir)
    return Dataset(con, report, temp_dir)


def dataset_from_frames(frames: dict[str, pd.DataFrame], params: Params, now: datetime | None = None) -> Dataset:
    """In-memory tables (tests, notebooks) through the same validation."""
    return open_dataset(frames_as_sources(frames), params, now or datetime(2100, 1, 1))
