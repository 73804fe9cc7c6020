"""The interface every engine implements: validated tables, totals over customers, and work mapped over customer shards.

A stage asks a ``Dataset`` for what it needs (aggregates, a build, scores, per-shard parts) and never which engine
holds the data. A build or a scoring run hands the engine its own steps (``ShardBuild``, ``Scorer``): the engine
decides where they run (one connection on one machine, Spark tasks on a cluster), the stage decides what they compute.
"""

from __future__ import annotations

import copy
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

import duckdb
import pandas as pd
import pyarrow as pa

from pipeline.core.errors import DataError
from pipeline.core.schema import SCHEMAS

if TYPE_CHECKING:
    from pipeline.data.validate import ValidationReport


CANONICAL_CUSTOMER_COLUMNS = ("customer_id", "signup_date")


class ShardBuild(Protocol):
    """The steps of one feature build, as the build stage defines them (``pipeline.build.features.BuildPlan``)."""

    as_of: date
    shard_rows: int  # input rows per customer shard on one machine (engine.shard_rows)
    fitted: list[str]  # families with a population-level fit, which see every shard's statistics together

    def shard(self, ds: Dataset, shard: tuple[int, int], reuse: bool) -> tuple[pa.Table, dict[str, pa.Table]]:
        """One customer shard's feature rows and the per-customer statistics of each fitted family."""

    def finish(self, con: duckdb.DuckDBPyConnection, stats: dict[str, pa.Table]) -> dict[str, pd.DataFrame]:
        """Each fitted family's results from every customer's statistics."""

    def combine(self, con: duckdb.DuckDBPyConnection, built: pa.Table, finished: dict[str, pd.DataFrame]) -> pa.Table:
        """The feature table of any subset of the shards' rows with the fitted families' results."""

    def combine_sql(self, con: duckdb.DuckDBPyConnection, built: str, finished: dict[str, pd.DataFrame],
                    suffix: str = "") -> tuple[str, list[str]]:
        """``combine`` as a query over the relation named ``built``, and the names it registered on ``con`` (each
        ending in ``suffix``)."""


class Scorer(Protocol):
    """A model's scoring steps, as the scoring stage defines them (``pipeline.scoring.score.Scorer``)."""

    def rows(self, features: pd.DataFrame):
        """What each customer's scores need of their own row only (``ScoredRows``: risk rows, contributions, sums)."""

    def assemble(self, risk: pd.DataFrame, contributions: pd.DataFrame | None, totals: list[dict]):
        """What needs every customer (bands by rank, the call list, the summary) from all rows and their sums
        (``contributions``: None where they went to a ``contributions_to`` already)."""

    def score(self, features: pd.DataFrame, contributions_to: Callable[[pd.DataFrame], None] | None = None):
        """``rows`` and ``assemble`` of one table held in memory; each batch's contributions handed to
        ``contributions_to`` as they are made, where it is given."""

    @property
    def batch_rows(self) -> int:
        """Customers scored at a time (``scoring.batch_rows``)."""

    def score_batches(self, batches: Iterable[pd.DataFrame], rows: int,
                      contributions_to: Callable[[pd.DataFrame], None] | None = None):
        """``score`` of a table that comes a batch at a time (``rows`` customers in all, in id order)."""


class FeatureRows(Protocol):
    """The feature table a scoring run scored, as the engine keeps it: what follows scoring reads a few of its rows
    (the chart's sample, the risen customers' sentences), never the whole table."""

    def __len__(self) -> int:
        """Customers scored."""

    def rows(self, ids: Iterable[str]) -> pd.DataFrame:
        """The rows of the customers ``ids`` (as text), in id order; an id not in the table has no row."""

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        """The rows ``DataFrame.sample(n=min(n, len), random_state=seed)`` takes of the table, in that order."""

    def close(self) -> None:
        """Let go of the table (the engine's copy)."""


class FrameRows:
    """``FeatureRows`` of a feature table held in memory (the Spark engine's, collected on its driver)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    def rows(self, ids: Iterable[str]) -> pd.DataFrame:
        wanted = {str(i) for i in ids}
        return self.frame[self.frame["customer_id"].astype(str).isin(wanted).to_numpy()].reset_index(drop=True)

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        return self.frame.sample(n=min(n, len(self.frame)), random_state=seed)

    def close(self) -> None:
        pass


class Dataset(ABC):
    """Validated input tables held by an engine, with what validation did (``report``)."""

    report: ValidationReport

    @property
    def tables(self) -> frozenset[str]:
        """The tables with rows in use."""
        return frozenset(a.table for a in self.report.accounts if a.rows_used > 0)

    def date_range(self) -> tuple[date, date]:
        """The first and last day of the clean transactions (read from the fingerprint when it has been taken: on an
        engine holding shards every query is a pass over every row)."""
        known = (getattr(self, "_fingerprint", None) or {}).get("tables", {}).get("transactions")
        if known is not None and known["rows"]:
            return datetime.fromisoformat(known["from"]).date(), datetime.fromisoformat(known["to"]).date()
        [(lo, hi)] = self.grouped_totals("SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM clean_transactions",
                                         "SELECT min(lo), max(hi) FROM parts")
        if lo is None:
            raise DataError("transactions: no usable rows after validation")
        return lo.date(), hi.date()

    def fingerprint_queries(self) -> dict[str, tuple[str, str]]:
        """Per table used, the ``grouped_totals`` query (and its combining SQL) of the fingerprint's figures: rows,
        first and last timestamp, an order-independent hash of the rows."""
        queries = {}
        for name in sorted(self.tables):
            cols = [c for c, _ in self.clean_columns(name)]
            ts = next(c.name for c in SCHEMAS[name].columns if c.kind == "timestamp")
            quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
            queries[name] = (
                f"SELECT count(*) AS n, min({ts}) AS lo, max({ts}) AS hi, "
                f"CAST(sum(hash({quoted})) % 18446744073709551616 AS HUGEINT) AS h FROM clean_{name}",
                "SELECT sum(n)::BIGINT, min(lo), max(hi), CAST(sum(h) % 18446744073709551616 AS UBIGINT) FROM parts")
        return queries

    def fingerprint(self) -> dict:
        """Tables, row counts, date range and an order-independent content hash of the rows used (computed once:
        it reads every row)."""
        if getattr(self, "_fingerprint", None) is not None:
            return copy.deepcopy(self._fingerprint)
        out: dict = {"tables": {}}
        for name, query in self.fingerprint_queries().items():
            [(rows, lo, hi, digest)] = self.grouped_totals(*query)
            out["tables"][name] = {"rows": rows, "from": str(lo), "to": str(hi), "hash": f"{int(digest):016x}"}
        combined = "".join(t["hash"] for t in out["tables"].values())
        out["hash"] = hashlib.sha256(combined.encode()).hexdigest()[:16]
        self._fingerprint = out
        return copy.deepcopy(out)

    def event_type_days(self) -> tuple[tuple[str, date, int, bool], ...]:
        """(event type, day, events, whether any has a value) of the clean events; empty without events. Computed
        once (it reads every event): the event types as of any day (a build's, each cutoff's of a training set) are
        added up from it rather than read from the events again."""
        return () if "events" not in self.tables else self.grouped_totals(
            "SELECT event_type, CAST(timestamp AS DATE) AS day, count(*) AS n, bool_or(value IS NOT NULL) AS v "
            "FROM clean_events GROUP BY ALL",
            "SELECT event_type, day, sum(n)::BIGINT, bool_or(v) FROM parts GROUP BY event_type, day")

    def profile_columns(self) -> tuple[tuple[str, str], ...]:
        """The customers table's columns beyond the id and sign-up date (the profile family's inputs)."""
        if "customers" not in self.tables:
            return ()
        return tuple(c for c in self.clean_columns("customers") if c[0] not in CANONICAL_CUSTOMER_COLUMNS)

    @property
    def _answers(self) -> dict[tuple[str, str | None], tuple[tuple, ...]]:
        """Every aggregate asked of this dataset, by (SQL, combining SQL; None for a total), its rows kept as a tuple
        (callers share them): the clean tables never change, and each question is a pass over every row it reads (a
        feature build asks the renewal share twice; on an engine holding shards, a job over every shard)."""
        return self.__dict__.setdefault("_kept_answers", {})

    def totals(self, sql: str) -> tuple:
        """The one row of an aggregate query over the clean tables whose columns are sums (counts) over customers:
        an engine that holds customers in shards adds up each shard's row. Kept (``_answers``)."""
        if (sql, None) not in self._answers:
            self._answers[sql, None] = (self._run_totals(sql),)
        return self._answers[sql, None][0]

    def grouped_totals(self, sql: str, combine: str) -> tuple[tuple, ...]:
        """The rows of a grouped aggregate query over the clean tables; ``combine`` is the SQL that adds up
        per-shard rows (named ``parts``, columns named as in ``combine``) where customers are held in shards.
        Kept (``_answers``)."""
        self.prefetch([(sql, combine)])
        return self._answers[sql, combine]

    def prefetch(self, queries: list[tuple[str, str]]) -> None:
        """The ``grouped_totals`` queries (SQL, combining SQL) about to be asked, answered now where not yet and kept:
        an engine holding shards runs them all in one pass over the shards."""
        todo = [query for query in dict.fromkeys(queries) if query not in self._answers]
        if todo:
            self._answers.update((query, tuple(rows)) for query, rows in self._run_grouped(todo).items())

    @abstractmethod
    def _run_totals(self, sql: str) -> tuple:
        """``totals``' row, worked out."""

    @abstractmethod
    def _run_grouped(self, queries: list[tuple[str, str]]) -> dict[tuple[str, str], list[tuple]]:
        """Each ``grouped_totals`` query's rows, worked out."""

    @abstractmethod
    def clean_columns(self, table: str) -> list[tuple[str, str]]:
        """(name, engine type) of each column of a clean table."""

    @abstractmethod
    def quarantine_frame(self, table: str) -> pd.DataFrame:
        """The rows of ``table`` set aside, with their reasons."""

    @abstractmethod
    def build_tables(self, builds: list[ShardBuild], progress: Callable[[int, int], None] | None = None,
                     reuse_shards: bool = False) -> Iterator[pd.DataFrame]:
        """Each build's feature table on the driver, ordered by customer id, in the order of ``builds``.
        ``reuse_shards``: the builds are several over this dataset, the cutoffs of a training set (the engine may
        write the customer shards once for all of them, and keep what it built where its settings say).
        ``progress(done, total)`` is called after each customer shard where the engine sees them."""

    @abstractmethod
    def score(self, build: ShardBuild, scorer: Scorer, keep: Callable[[pd.DataFrame], pd.DataFrame],
              progress: Callable[[int, int], None] | None = None,
              contributions_to: Callable[[pd.DataFrame], None] | None = None) -> tuple[FeatureRows, object]:
        """The feature table of ``build`` (passed through ``keep``, which selects the columns scored and may raise
        for an empty population; for rows, it must not query the engine, whose result is being read), as the
        engine keeps it for what follows scoring (``FeatureRows``: ``close`` it when done), and ``scorer``'s result
        over its customers. ``contributions_to``: where the SHAP
        contributions go, in the feature table's order, instead of the result (``churn score`` writes them to the
        SHAP file): the one-machine engine hands them over a scoring batch at a time, so they are never held whole;
        Spark's driver, which collects every scored row, hands them over at once."""

    @abstractmethod
    def map_parts(self, work: Callable[[duckdb.DuckDBPyConnection], dict[str, pa.Table]]) -> dict[str, pa.Table]:
        """``work`` (reading the ``clean_<table>`` tables of a connection) over every customer: each named part's rows
        of all shards together, to be added up by the caller."""
