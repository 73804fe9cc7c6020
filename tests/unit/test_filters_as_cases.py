"""Aggregates with a FILTER clause and the same aggregates of a CASE (``pipeline.core.sql.filters_as_cases``, which
every feature build's aggregate queries run through) give the same values, NULLs, empty groups and ties included."""

from __future__ import annotations

import duckdb
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.sql import filters_as_cases

CONDITIONS = ["kind = 'a'", "kind = 'it''s (b)'", "v > 2 AND (w < 3 OR kind IS NULL)", "w IS NULL", "false",
              "date_diff('day', t, DATE '2025-01-10') < 5"]
AGGREGATES = ["count(*)", "count(v)", "count(DISTINCT w)", "sum(v)", "min(t)", "max(w)", "avg(v)", "bit_or(w)",
              "bool_or(v > 1)", "arg_max(v, t)", "arg_min(w, date_diff('day', t, DATE '2025-01-10'))",
              "arg_max(kind, v)"]

rows = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["a", "it's (b)", "c", None]),
                          st.one_of(st.none(), st.integers(-2, 6)), st.one_of(st.none(), st.integers(0, 5)),
                          st.one_of(st.none(), st.integers(0, 12))), max_size=40)


@settings(max_examples=60, deadline=None)
@given(rows=rows, chosen=st.lists(st.tuples(st.sampled_from(AGGREGATES), st.sampled_from(CONDITIONS)), min_size=1,
                                  max_size=6))
def test_filters_written_as_cases_give_the_same_values(rows, chosen):
    frame = pd.DataFrame(rows, columns=["k", "kind", "v", "w", "day"])
    frame["t"] = pd.Timestamp("2025-01-01") + pd.to_timedelta(frame["day"], unit="D")
    frame = frame.astype({"v": "Int64", "w": "Int64"}).drop(columns="day")
    con = duckdb.connect()
    con.register("src", frame)
    con.execute("CREATE TABLE t0 AS SELECT k, kind, CAST(v AS BIGINT) AS v, CAST(w AS BIGINT) AS w, t FROM src")
    select = ", ".join(f"{agg} FILTER (WHERE {cond}) AS c{i}" for i, (agg, cond) in enumerate(chosen))
    query = f"SELECT k, {select} FROM t0 GROUP BY k ORDER BY k"
    rewritten = filters_as_cases(query)
    assert "FILTER" not in rewritten  # every aggregate here is one that allows it
    # one thread: arg_max's choice among rows of equal order is the first it meets, the same in both
    con.execute("SET threads = 1")
    assert con.execute(rewritten).fetchall() == con.execute(query).fetchall()


def test_what_cannot_be_written_as_a_case_is_left_as_it_is():
    for sql in ["SELECT quantile(v, 0.5) FILTER (WHERE w > 1) FROM t",
                "SELECT arg_max(v, t, 2) FILTER (WHERE w > 1) FROM t",
                "SELECT string_agg(kind, ',') FILTER (WHERE w > 1) FROM t",
                "SELECT 'x FILTER (WHERE y)' AS text FROM t"]:
        assert filters_as_cases(sql) == sql
    assert filters_as_cases("SELECT quantile(v, 0.5) FILTER (WHERE a), count(*) FILTER (WHERE b) FROM t") == \
        "SELECT quantile(v, 0.5) FILTER (WHERE a), count(CASE WHEN b THEN 1 END) FROM t"
