"""The Spark engine builds the same tables as the single-machine engine, bit for bit: features for every table
combination the generator gives, at 1, 3 and many shards (empty ones included), with one customer holding a large
share of the rows; and the training set.

Each Spark build reads DuckDB-validated clean rows (``dataset_from_local``), so these tests hold the build to the
single-machine one whatever validation does; ``test_spark_validation`` holds validation on Spark to it, and
``test_spark_cli`` the risk list and its SHAP values (under a capacity: the call list drawn on the driver).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipeline.build.features import build_features, build_training_set
from pipeline.data.samples.retail import generate
from pipeline.engine.duckdb import dataset_from_frames

AS_OF = date(2025, 9, 30)
# with all five tables in the shard tests below; customers and invoices alone add no path of their own
COMBINATIONS = {
    "transactions only": ("transactions",),
    "with events": ("transactions", "events"),
    "with subscriptions": ("transactions", "subscriptions"),
}


@pytest.fixture(scope="module")
def tables():
    frames, _ = generate(300, seed=11)
    return frames


def spark_dataset(ds, params, shards):
    from pipeline.engine.spark.dataset import dataset_from_local

    return dataset_from_local(ds, params, shards=shards)


def same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left, right, check_exact=True)
    assert list(left.dtypes) == list(right.dtypes)


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_features_equal_for_each_table_combination(spark, spark_params, tables, combination):
    ds = dataset_from_frames({t: tables[t] for t in COMBINATIONS[combination]}, spark_params)
    same(build_features(ds, spark_params, AS_OF), build_features(spark_dataset(ds, spark_params, 3), spark_params, AS_OF))


@pytest.mark.parametrize("shards", [1, 3, 64])
def test_features_equal_at_any_number_of_shards_with_all_five_tables(spark, spark_params, tables, shards):
    ds = dataset_from_frames(tables, spark_params)
    local = build_features(ds, spark_params, AS_OF)
    assert len(local) < 300 < 64 * 10  # 64 shards of ~300 customers: some shards are empty
    same(local, build_features(spark_dataset(ds, spark_params, shards), spark_params, AS_OF))


def test_subscription_product_and_every_activity_setting(spark, spark_params):
    """A subscription product (renewal charges, activity events of its own types) with the activity settings."""
    from pipeline.core.config import load_params
    from pipeline.data.samples.subscription import generate_subscription

    frames, _ = generate_subscription(200, seed=5)
    params = load_params(None, ["engine.spark.master=local[2]", "features.max_event_types=3",
                                "features.risky_event_types=[support_ticket]"])
    day = pd.Timestamp(frames["transactions"]["timestamp"].max()).date()
    ds = dataset_from_frames(frames, params)
    same(build_features(ds, params, day), build_features(spark_dataset(ds, params, 3), params, day))


def test_one_customer_with_most_of_the_rows(spark, spark_params, tables):
    tx = tables["transactions"]
    rng = np.random.default_rng(3)
    big = tx.sample(n=6000, replace=True, random_state=3).assign(customer_id="C-WHALE", order_id=None)
    big["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 600 * 86400, len(big)), unit="s")
    ds = dataset_from_frames({**tables, "transactions": pd.concat([tx, big], ignore_index=True)}, spark_params)
    local = build_features(ds, spark_params, AS_OF)
    assert "C-WHALE" in set(local["customer_id"])
    same(local, build_features(spark_dataset(ds, spark_params, 3), spark_params, AS_OF))


def test_training_set_fingerprint_and_date_range_equal(spark, spark_params, tables):
    ds = dataset_from_frames(tables, spark_params)
    on_spark = spark_dataset(ds, spark_params, 3)
    same(build_training_set(ds, spark_params, AS_OF), build_training_set(on_spark, spark_params, AS_OF))
    assert on_spark.fingerprint() == ds.fingerprint()
    assert on_spark.date_range() == ds.date_range()
