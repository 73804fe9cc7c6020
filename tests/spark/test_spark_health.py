"""The score summary's customer-base health and population counts on Spark equal the single-machine engine's, bit for
bit, at any number of customer shards (each shard's parts, added up on the driver)."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from pipeline.build.features import build_features
from pipeline.core.config import load_params
from pipeline.data.samples.retail import generate
from pipeline.engine.duckdb import dataset_from_frames
from pipeline.scoring.health import base_health

AS_OF = date(2025, 9, 30)
SPARK = ["engine.kind=spark", "engine.spark.master=local[2]",
         "engine.spark.conf={spark.sql.shuffle.partitions: 4, spark.default.parallelism: 2}"]


@pytest.fixture(scope="module")
def tables():
    frames, _ = generate(300, seed=11)  # all five tables: nps, csat and support events, subscriptions
    return frames


@pytest.mark.parametrize("label, shards", [([], 4), (["label.kind=cancellation", "label.horizon_days=30"], 1)])
def test_health_and_population_equal_on_both_engines(spark, tables, label, shards):
    from pipeline.engine.spark.dataset import dataset_from_local

    params = load_params(None, SPARK + label)
    ds = dataset_from_frames(tables, params)
    risk = pd.DataFrame({"customer_id": build_features(ds, params, AS_OF)["customer_id"]})
    population, health = base_health(ds, params.label, AS_OF, risk)
    assert {"churn", "cohorts", "growth", "satisfaction", "support"} <= set(health) and population["left_out"] > 0
    on_spark = base_health(dataset_from_local(ds, params, shards=shards), params.label, AS_OF, risk)
    assert on_spark == (population, health)
    assert json.dumps(on_spark) == json.dumps((population, health))  # each float's shortest repr: the same bits
