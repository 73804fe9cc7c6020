"""The events are read once per customer shard: every event family's aggregates are in one query over ``ev``, and the
features it gives are those of a query per family over the events, value for value (the path before the one pass,
kept here as the reference)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from features.registry import FAMILIES
from pipeline.build.features import _create_asof_views, build_features, build_plan, context_for
from pipeline.core.config import load_params
from pipeline.data.samples.retail import generate
from pipeline.engine.duckdb import dataset_from_frames
from tests.conftest import AS_OF

EVENT_FAMILIES = ("activity", "engagement", "service", "satisfaction", "loyalty_program")
# what the satisfaction family read before the one pass: only these types (the rest had no row, hence the fills)
SATISFACTION_TYPES = "('nps', 'csat', 'review')"


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    tables, _ = generate(400, seed=11)
    events = tables["events"]
    # customers with events but no survey answer, and an event type of the activity family with values
    extra = events[~events["event_type"].isin(["nps", "csat", "review"])].head(300)
    renamed = extra.assign(customer_id=extra["customer_id"] + "_no_surveys")
    tx = tables["transactions"]
    bought = tx[tx["customer_id"].isin(extra["customer_id"])]
    tables["transactions"] = pd.concat([tx, bought.assign(customer_id=bought["customer_id"] + "_no_surveys")],
                                       ignore_index=True)
    tables["events"] = pd.concat([events, renamed, extra.assign(event_type="post", value=1.5)], ignore_index=True)
    return tables


def _per_family_reference(ds, params, plan) -> pd.DataFrame:
    """Each event family's aggregates in a GROUP BY of its own over the same as-of events (one pass per family),
    joined to the population: what the build computed before the families shared one pass."""
    con, ctx = ds.con, plan.ctx
    _create_asof_views(ds, ctx, (0, 1))
    frames = []
    for name in EVENT_FAMILIES:
        exprs = FAMILIES[name].aggregates(ctx)["ev"]
        where = f" WHERE event_type IN {SATISFACTION_TYPES}" if name == "satisfaction" else ""
        frames.append(con.sql(f"SELECT customer_id, {', '.join(exprs)} FROM ev{where} GROUP BY customer_id")
                      .to_arrow_table().to_pandas().set_index("customer_id"))
    # active days as they were counted before the day bits: distinct days per window
    day, within = "CAST(timestamp AS DATE)", ctx.within
    frames.append(con.sql(
        f"SELECT customer_id, count(DISTINCT {day}) FILTER (WHERE {within('timestamp', 30)}) AS distinct_days_last_30d, "
        f"count(DISTINCT {day}) FILTER (WHERE {within('timestamp', 30, 30)}) AS distinct_days_previous_30d, "
        f"count(*) FILTER (WHERE {within('timestamp', 90)}) / nullif(count(DISTINCT {day}) FILTER "
        f"(WHERE {within('timestamp', 90)}), 0) AS distinct_events_per_active_day_90d FROM ev GROUP BY customer_id"
    ).to_arrow_table().to_pandas().set_index("customer_id"))
    for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall():
        con.execute(f"DROP TABLE temp.{table}")
    return pd.concat(frames, axis=1)


def _same(built: pd.Series, reference: pd.Series, fill) -> bool:
    expected = reference.reindex(built.index)
    if fill is not None:
        expected = expected.fillna(fill)
    expected = pd.to_numeric(expected.astype(object), errors="coerce").astype("float64")
    a, b = built.to_numpy("float64", na_value=np.nan), expected.to_numpy("float64", na_value=np.nan)
    return bool(np.array_equal(a, b, equal_nan=True))


def test_one_pass_over_events_gives_each_familys_features(tables):
    params = load_params(None)
    ds = dataset_from_frames(tables, params)
    plan = build_plan(ds, params, AS_OF)
    assert "post" in plan.ctx.event_types and "post" in plan.ctx.valued_event_types
    reference = _per_family_reference(ds, params, plan)
    built = build_features(ds, params, AS_OF).set_index("customer_id")
    checked = 0
    for name in EVENT_FAMILIES:
        for feat in FAMILIES[name].features(plan.ctx):
            if feat.name not in reference.columns:  # the loyalty family's features that need purchases
                continue
            assert _same(built[feat.name], reference[feat.name], feat.fill), feat.name
            checked += 1
    assert checked > 40
    for name, counted, fill in (("active_days_last_30d", "distinct_days_last_30d", 0),
                                ("active_days_previous_30d", "distinct_days_previous_30d", 0),
                                ("events_per_active_day_90d", "distinct_events_per_active_day_90d", None)):
        assert _same(built[name], reference[counted], fill), name
    no_surveys = built.index.str.endswith("_no_surveys")
    assert no_surveys.any() and (built.loc[no_surveys, "is_nps_detractor"] == 0).all()
    assert built.loc[no_surveys, "latest_nps"].isna().all()


def test_events_are_aggregated_in_one_query_whatever_the_shards(tables):
    params = load_params(None)
    ds = dataset_from_frames(tables, params)
    plan = build_plan(ds, params, AS_OF)
    # one GROUP BY over the events holds every event family's aggregates; no family reads the events again
    assert plan.aggregates["ev"].count(" FROM ev ") == 1
    for fam in plan.fams:
        assert fam.sql is None or not re.search(r"\bFROM ev\b|\bJOIN ev\b", fam.sql(plan.ctx)), fam.name
    whole = build_features(ds, params, AS_OF, with_labels=True)
    rows = len(tables["transactions"])
    sharded_params = load_params(None, [f"engine.shard_rows={rows // 5}"])
    sharded_ds = dataset_from_frames(tables, sharded_params)
    assert sharded_ds.shard_count(sharded_params.engine.shard_rows) >= 5
    pd.testing.assert_frame_equal(build_features(sharded_ds, sharded_params, AS_OF, with_labels=True), whole)


def test_no_events_table_builds_without_the_events_query(tables):
    params = load_params(None)
    ds = dataset_from_frames({k: v for k, v in tables.items() if k != "events"}, params)
    plan = build_plan(ds, params, AS_OF)
    assert "ev" not in plan.aggregates
    frame = build_features(ds, params, AS_OF)
    assert len(frame) and not any(c.startswith("visits_") for c in frame.columns)
    assert context_for(ds, params, AS_OF).event_types == ()


def test_event_types_as_of_any_day_come_from_one_read_of_the_events(tables):
    from datetime import timedelta

    from features.registry import day_end_sql
    from pipeline.build.features import _type_frequencies

    params = load_params(None)
    ds = dataset_from_frames(tables, params)
    read = ds.event_type_days()
    assert ds.event_type_days() is read  # read once, kept
    for as_of in (AS_OF, AS_OF - timedelta(days=200), AS_OF - timedelta(days=1)):
        direct = ds.con.execute(
            f"SELECT event_type, count(*), bool_or(value IS NOT NULL) FROM clean_events "
            f"WHERE timestamp < {day_end_sql(as_of)} GROUP BY event_type").fetchall()
        assert sorted(_type_frequencies(ds, as_of)) == sorted(direct)
