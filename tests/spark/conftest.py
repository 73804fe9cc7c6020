"""One shared ``local[2]`` Spark session per test process (it starts in about 10 s), small seeded data."""

from __future__ import annotations

import pytest

from pipeline.core.config import Params, load_params


@pytest.fixture(scope="session")
def spark_params() -> Params:
    return load_params(None, ["engine.kind=spark", "engine.spark.master=local[2]",
                              "engine.spark.conf={spark.sql.shuffle.partitions: 4, spark.default.parallelism: 2}"])


@pytest.fixture(scope="session")
def spark(spark_params):
    from pipeline.engine.spark.dataset import spark_session

    session = spark_session(spark_params.engine)
    yield session
    session.stop()
