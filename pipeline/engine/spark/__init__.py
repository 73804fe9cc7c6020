"""Apache Spark as the engine: the session, customer shards, validation and scoring in Spark tasks, URIs read
through Hadoop's file systems. PySpark is imported only when a session starts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pipeline.core.config import Params


def open_data(data: str | Path, params: Params, now: datetime):
    """The tables in ``data``, a local folder or a URI Spark reads (s3a://, hdfs://, abfss://, gs://, file:),
    validated on Spark (``validate_on_spark``)."""
    from pipeline.data.sources import discover_tables, is_uri
    from pipeline.engine.spark.fs import hadoop_folder
    from pipeline.engine.spark.validate import validate_on_spark

    root = hadoop_folder(params.engine, str(data)) if is_uri(data) else data
    sources, unknown = discover_tables(root)
    return validate_on_spark(sources, params, now, unknown)
