"""The commands with ``--engine spark`` on a local[2] session give the files the single-machine engine gives:
validation's accounting, the feature table, the risk list with its SHAP values and the summary's customer-base health
(a model trained once)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.in_process import churn, trained_workdir
from tests.spark.conftest import plain_lines

AS_OF = "2025-12-31"
SPARK = ["--engine", "spark", "--set", "engine.spark.master=local[2]", "--set", "engine.spark.shard_rows=5000"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, spark):
    with trained_workdir(tmp_path_factory, "spark-cli", AS_OF) as wd:
        yield wd


def test_validate_prints_the_same_accounting(workdir):
    local, on_spark = churn("validate", "--data", "data"), churn("validate", "--data", "data", *SPARK)
    assert local.exit_code == on_spark.exit_code == 0, on_spark.output[-3000:]
    table = [line for line in plain_lines(local.output) if "│" in line or "|" in line]
    assert table and all(line in plain_lines(on_spark.output) for line in table)


def test_features_and_risk_list_files_equal(workdir, spark):
    # small Arrow batches: the tasks that finish the features and score the customers work batch by batch, so a
    # partition of many batches must give what one machine gives
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "150")
    try:
        for engine, extra in (("duckdb", []), ("spark", SPARK)):
            res = churn("features", "--data", "data", "--as-of", AS_OF, "--out", f"features_{engine}.parquet", *extra)
            assert res.exit_code == 0, res.output[-3000:]
            # a capacity: the call list's selection and holdout need every customer, drawn on the driver; batches of
            # 700 customers: the Spark driver hands the SHAP values to the file a batch at a time, as one machine does
            res = churn("score", "--data", "data", "--as-of", AS_OF, "--out", f"risk_{engine}.parquet",
                        "--no-previous", "--set", "targeting.capacity=100", "--set", "scoring.batch_rows=700", *extra)
            assert res.exit_code == 0, res.output[-3000:]
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    pd.testing.assert_frame_equal(pd.read_parquet("features_duckdb.parquet"), pd.read_parquet("features_spark.parquet"),
                                  check_exact=True)
    risk = pd.read_parquet("risk_spark.parquet")
    # at most the capacity selected (only customers with a positive expected net saving and a reason are)
    assert 0 < risk["contact_group"].isin(["treatment", "holdout"]).sum() <= 100
    for suffix in ("", "_shap"):
        pd.testing.assert_frame_equal(pd.read_parquet(f"risk_duckdb{suffix}.parquet"),
                                      pd.read_parquet(f"risk_spark{suffix}.parquet"), check_exact=True)
    # the customer-base health and population counts, measured in the customer shards on Spark
    local, on_spark = (json.loads(Path(f"risk_{engine}_summary.json").read_text()) for engine in ("duckdb", "spark"))
    assert local["health"]["churn"] and local["population"]["with_history"] > 0
    assert (on_spark["health"], on_spark["population"]) == (local["health"], local["population"])


def test_an_unknown_engine_is_a_clear_error(workdir):
    res = churn("features", "--data", "data", "--as-of", AS_OF, "--engine", "flink")
    assert res.exit_code == 2 and "engine.kind" in res.output and "duckdb, spark" in res.output
