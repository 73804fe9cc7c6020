"""Engines that hold the validated tables and run the stages' shard work: DuckDB on one machine, Apache Spark on a
cluster.

Both implement one interface (``pipeline.engine.base.Dataset``): stages never ask which engine holds the data, and
adding an engine is one module with an ``open_data`` function, named in ``ENGINES``.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from pathlib import Path

from pipeline.core.config import Params
from pipeline.core.errors import ChurnError, ConfigError, said
from pipeline.engine.base import Dataset

ENGINES = {"duckdb": "pipeline.engine.duckdb", "spark": "pipeline.engine.spark"}  # engine.kind -> its module


def open_data(data: str | Path, params: Params, now: datetime) -> Dataset:
    """The tables in ``data`` (a folder; a URI where the engine reads them), validated as of ``now`` by the engine
    ``params.engine.kind`` names."""
    return importlib.import_module(ENGINES[params.engine.kind]).open_data(data, params, now)


def engine_error(exc: BaseException) -> ChurnError | None:
    """What an engine's own error during a run means for the user, or None when it is not one of those: DuckDB
    running out of the memory ``engine.memory_limit`` gives it (exit 2, with the fix) instead of a traceback."""
    import duckdb

    if isinstance(exc, duckdb.OutOfMemoryException):
        return ConfigError(
            f"the engine ran out of memory under engine.memory_limit ({said(exc, 160)}): the data needs more than the "
            "setting allows, even spilling to disk. Fix: raise it (--set engine.memory_limit=4GB, or a share such as "
            "50%), lower engine.threads (each thread needs its own memory), or set engine.shard_rows lower so each "
            "customer shard is smaller")
    return None
