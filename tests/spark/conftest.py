"""One shared ``local[2]`` Spark session per test process (it starts in about 10 s), small seeded data."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.config import Params, load_params

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is marked ``spark`` (``make test-fast`` leaves them out)."""
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.spark)


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


def plain_lines(output: str) -> list[str]:
    """What a command said, line by line, without what differs from run to run: the time each line starts with
    (stderr without a terminal), step durations and the closing line's time and memory."""
    import re

    lines = [re.sub(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ", "", line) for line in output.splitlines()]
    return [re.sub(r"done in [\d.,]+ s", "done", line) for line in lines if " finished: exit " not in line]
