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
from pipeline.engine.base import Dataset

ENGINES = {"duckdb": "pipeline.engine.duckdb", "spark": "pipeline.engine.spark"}  # engine.kind -> its module


def open_data(data: str | Path, params: Params, now: datetime) -> Dataset:
    """The tables in ``data`` (a folder; a URI where the engine reads them), validated as of ``now`` by the engine
    ``params.engine.kind`` names."""
    return importlib.import_module(ENGINES[params.engine.kind]).open_data(data, params, now)
