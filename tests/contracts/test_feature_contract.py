"""One contract over every registered feature: metadata, determinism, no look-ahead, no mutation.

The checks live in ``pipeline.build.contracts``, which ``churn check-features`` runs over a user's own data and
families; here they run over the generated sample and every built-in family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.registry import FAMILIES
from pipeline.build import contracts
from pipeline.build.features import build_features, context_for, feature_spec
from pipeline.core.config import load_params
from pipeline.engine.duckdb import dataset_from_frames
from tests.conftest import AS_OF
from tests.future_rows import with_rows_after


@pytest.fixture(scope="module")
def builds(sample_tables, params):
    built = contracts.contract_builds(sample_tables, params, AS_OF, seed=3, future_rows=200)
    first, spec, notices = built.first, built.spec, built.notices
    ds = dataset_from_frames(sample_tables, params)
    rows = len(sample_tables["transactions"])
    sharded_params = load_params(None, [f"engine.shard_rows={rows // 6}"])
    sharded_ds = dataset_from_frames(sample_tables, sharded_params)
    assert sharded_ds.shard_count(sharded_params.engine.shard_rows) >= 6 and ds.shard_count(params.engine.shard_rows) == 1
    reported: list[tuple[int, int]] = []
    sharded = build_features(sharded_ds, sharded_params, AS_OF, with_labels=True,
                             progress=lambda done, total: reported.append((done, total)))
    n = sharded_ds.shard_count(sharded_params.engine.shard_rows)
    assert reported == [(k, n) for k in range(1, n + 1)]
    assert sharded_ds._written is None  # a single build reads its shards from the source
    reused = build_features(sharded_ds, sharded_params, AS_OF, with_labels=True, reuse_shards=True)
    assert sharded_ds._written[0] == n  # builds that reuse the shards read them from the folders written once
    # each shard's tables are dropped once it is built; the validated views stay for the next build
    assert sharded_ds.con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall() == [(0,)]
    assert sharded_ds.con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'clean_transactions'"
                                  ).fetchall() == [(1,)]
    return {"first": first, "second": built.second, "future": built.future, "spec": spec, "notices": notices,
            "mutated": built.mutated_tables + built.mutated_by_finish, "sharded": sharded, "reused": reused,
            "labelled": build_features(ds, params, AS_OF, with_labels=True)}


def _all_features(sample_tables_fixture=None):
    from tests.conftest import generate

    tables, _ = generate(50, seed=1)
    ds = dataset_from_frames(tables, load_params(None))
    spec, _ = feature_spec(context_for(ds, load_params(None), AS_OF))
    return spec.table_names  # the model's inputs and the condition-only features


FEATURES = _all_features()


@pytest.mark.slow
def test_every_family_is_covered_by_the_sample(builds):
    assert builds["notices"] == []
    assert {f.family for f in builds["spec"].all_features} == set(FAMILIES)


@pytest.mark.slow
def test_inputs_are_not_mutated(builds):
    assert not builds["mutated"]


@pytest.mark.slow
def test_feature_names_are_unique(builds):
    assert contracts.duplicate_names(builds["spec"]) == []


@pytest.mark.parametrize("name", FEATURES)
@pytest.mark.slow
def test_metadata(name, builds):
    assert contracts.metadata_problems(builds["spec"][name]) == []


@pytest.mark.parametrize("name", FEATURES)
@pytest.mark.slow
def test_description_renders_a_sentence_with_the_customers_numbers(name, builds):
    assert contracts.description_problems(builds["spec"][name], builds["first"]) == []


@pytest.mark.parametrize("name", FEATURES)
@pytest.mark.slow
def test_deterministic(name, builds):
    pd.testing.assert_series_equal(builds["first"][name], builds["second"][name], check_exact=True)
    assert contracts.compare_builds(name, builds["first"], builds["second"], exact=True) is None


@pytest.mark.parametrize("name", FEATURES)
@pytest.mark.slow
def test_unchanged_by_rows_after_as_of(name, builds):
    pd.testing.assert_series_equal(builds["first"]["customer_id"], builds["future"]["customer_id"])
    pd.testing.assert_series_equal(builds["first"][name], builds["future"][name], check_exact=False, rtol=1e-9)
    assert contracts.compare_builds(name, builds["first"], builds["future"], exact=False) is None


@pytest.mark.slow
def test_customer_shards_give_the_same_table_as_one_build(builds):
    """Built in shards of customers (and labelled), read from the source or from the written shards, the
    table is the one-shard table, row for row."""
    pd.testing.assert_frame_equal(builds["sharded"], builds["labelled"], check_exact=True)
    pd.testing.assert_frame_equal(builds["reused"], builds["labelled"], check_exact=True)
    pd.testing.assert_frame_equal(builds["sharded"].drop(columns=["churned", "future_value"]), builds["first"],
                                  check_exact=True)


@pytest.mark.slow
def test_customer_shards_keep_cancellation_labels(sample_tables):
    rows = len(sample_tables["transactions"])
    one, many = (load_params(None, ["label.kind=cancellation", f"engine.shard_rows={n}"]) for n in (rows, rows // 5))
    frames = [build_features(dataset_from_frames(sample_tables, p), p, AS_OF, with_labels=True, reuse_shards=reuse)
              for p, reuse in ((one, False), (many, False), (many, True))]
    assert frames[0]["churned"].nunique() == 2
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)
    pd.testing.assert_frame_equal(frames[0], frames[2], check_exact=True)


@pytest.mark.parametrize("kind", ["inactivity", "cancellation"])
def test_colliding_customer_keys_give_the_same_table(sample_tables, monkeypatch, kind):
    """Transactions are grouped by an integer key hashed from the id; should two ids of a shard share a
    key (forced here: every id falls on one of two keys), the build ranks ids instead, and nothing changes."""
    import pipeline.build.features as build

    p = load_params(None, [f"label.kind={kind}"])
    hashed = build_features(dataset_from_frames(sample_tables, p), p, AS_OF, with_labels=True)
    monkeypatch.setattr(build, "CUSTOMER_KEY", "hash(customer_id) % 2")
    ranked = build_features(dataset_from_frames(sample_tables, p), p, AS_OF, with_labels=True)
    assert len(hashed) > 100 and hashed["churned"].nunique() == 2
    pd.testing.assert_frame_equal(ranked, hashed, check_exact=True)


@pytest.mark.slow
def test_pareto_nbd_btyd_features_are_deterministic_and_never_see_later_rows(sample_tables):
    """``features.btyd_model: pareto_nbd`` swaps the model behind the btyd family, under the same contract."""
    p = load_params(None, ["features.btyd_model=pareto_nbd"])
    cols = ["btyd_probability_alive", f"btyd_expected_purchases_next_{p.label.horizon_days}d"]
    built = build_features(dataset_from_frames(sample_tables, p), p, AS_OF)
    again = build_features(dataset_from_frames(sample_tables, p), p, AS_OF)
    future = build_features(dataset_from_frames(with_rows_after(sample_tables, AS_OF, seed=5, n=200), p), p, AS_OF)
    bgnbd = build_features(dataset_from_frames(sample_tables, load_params(None)), load_params(None), AS_OF)
    pd.testing.assert_frame_equal(built, again, check_exact=True)
    pd.testing.assert_frame_equal(built, future, check_exact=True)
    values = built[cols].dropna()
    assert len(values) > 0.9 * len(built) and values[cols[0]].between(0, 1).all() and (values[cols[1]] >= 0).all()
    assert not np.allclose(values[cols[1]], bgnbd.loc[values.index, cols[1]])  # a different model, not a relabel
