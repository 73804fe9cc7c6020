"""Engines that hold the validated tables and run the stages' shard work: DuckDB on one machine, Apache Spark on a cluster.

Both implement one interface (``pipeline.engine.base.Dataset``); stages never ask which engine holds the data, and adding an
engine is one new module. Open a dataset with ``pipeline.engine.open_data``."""
