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


@pytest.mark.parametrize("shards", [1, 3, 16])
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


def test_the_fingerprint_and_the_id_counts_take_one_pass_over_the_shards(spark, spark_params, tables, monkeypatch):
    """What every command asks after validation (the fingerprint, the id report) is announced and read in one Spark
    job, and each later question is answered from it: the same figures as one machine's, no other pass."""
    from pipeline.build.ids import id_queries, id_report

    ds = dataset_from_frames(tables, spark_params)
    on_spark = spark_dataset(ds, spark_params, 3)
    passes, map_shards = [], type(on_spark).map_shards
    monkeypatch.setattr(type(on_spark), "map_shards", lambda self, *a: passes.append(a) or map_shards(self, *a))
    on_spark.prefetch([*on_spark.fingerprint_queries().values(), *id_queries(on_spark)])
    assert len(passes) == 1 and len(on_spark.tables) == 5
    assert on_spark.fingerprint() == ds.fingerprint() and id_report(on_spark) == id_report(ds)
    assert on_spark.date_range() == ds.date_range() and len(passes) == 1


@pytest.mark.parametrize("shards", [3])
def test_ids_matched_by_value_and_near_misses_are_decided_on_the_whole_data(spark, spark_params, tables, shards):
    """The other tables write ids unpadded (104 against the transactions' 00000104), with one collision (two
    customers rows of one value) and one id in another case: the same matches, features, counts, warnings and notes
    as on one machine. Shards are split by the rule's key, so 104 and 00000104 meet in one shard and what is a near
    miss is decided over the whole data, not per shard."""
    from pipeline.build.ids import id_report

    def unpadded(ids: pd.Series) -> pd.Series:
        digits = ids.str.fullmatch(r"\d+")
        return ids.where(~digits, ids.str.lstrip("0").replace("", "0"))

    frames = {name: frame.assign(customer_id=unpadded(frame["customer_id"])) if name != "transactions" else frame
              for name, frame in tables.items()}
    customers, bought = frames["customers"], set(tables["transactions"]["customer_id"])
    twice = next(i for i in customers["customer_id"] if i.isdigit() and i.zfill(8) in bought)  # also written 0104
    lower = next(i for i in sorted(bought) if not i.isdigit()).lower()  # c-20 against the transactions' C-20
    extra = customers.head(2).assign(customer_id=["0" + twice, lower])
    frames["customers"] = pd.concat([customers, extra], ignore_index=True)
    ds = dataset_from_frames(frames, spark_params)
    local = id_report(ds)
    assert local.counts["customers"]["ids_matched_by_value"] > 100
    assert local.counts["customers"]["ids_left_unmatched_by_value"] == 2  # the value written twice: neither matched
    assert any("write ids differently" in w for w in local.warnings)  # c-20 against C-20
    on_spark = spark_dataset(ds, spark_params, shards)
    assert id_report(on_spark) == local
    same(build_features(ds, spark_params, AS_OF), build_features(on_spark, spark_params, AS_OF))


@pytest.mark.slow
@pytest.mark.parametrize("batch_rows", [None, 160])
def test_scored_on_spark_the_rows_and_shap_values_of_one_machine(spark, spark_params, scored, batch_rows):
    """The Spark driver reads the tasks' scored rows from files in the feature table's order: the risk list and the
    contributions are one machine's, gathered into the result or (``batch_rows``: several batches) handed to
    ``contributions_to`` a batch at a time, in order, never all at once."""
    import dataclasses

    from pipeline.build.features import build_plan
    from pipeline.scoring.score import Scorer

    params = dataclasses.replace(scored["params"], engine=dataclasses.replace(
        scored["params"].engine, kind="spark", spark=spark_params.engine.spark))
    if batch_rows:
        params = dataclasses.replace(params, scoring=dataclasses.replace(params.scoring, batch_rows=batch_rows))
    on_spark = spark_dataset(scored["ds"], params, shards=3)
    scorer = Scorer(scored["result"].bundle, scored["as_of"], params.scoring, "test v1")
    batches: list[pd.DataFrame] = []
    features, result = on_spark.score(build_plan(on_spark, params, scored["as_of"]), scorer, lambda f: f,
                                      contributions_to=batches.append if batch_rows else None)
    whole = scored["score"]
    same(features.frame, scored["features"])
    pd.testing.assert_frame_equal(result.risk_list, whole.risk_list, check_exact=True)
    if batch_rows:
        assert result.contributions is None
        assert len(batches) == -(-len(features) // batch_rows) and max(map(len, batches)) == batch_rows
        pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), whole.contributions, check_exact=True)
    else:
        pd.testing.assert_frame_equal(result.contributions, whole.contributions, check_exact=True)
