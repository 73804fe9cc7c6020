"""Engines that run the stages: DuckDB on one machine (``pipeline.build.Dataset``) and Apache Spark on a cluster
(``pipeline.engine.spark``). The stages take a dataset and never ask which engine holds it; the Spark engine runs
the project's own DuckDB shard build inside each task, so every feature has one definition.
"""
