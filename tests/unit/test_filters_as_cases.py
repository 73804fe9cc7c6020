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
    """Other aggregates, calls a CASE would break (ORDER BY, ALL, a table's star, more arguments, a method call), and
    text the scan cannot read safely (comments, escaped strings) keep their FILTER: valid SQL stays valid."""
    for call in ["quantile(v, 0.5)", "arg_max(v, t, 2)", "string_agg(kind, ',')", "count()", "max(v ORDER BY w)",
                 "arg_max(v, t ORDER BY w)", "max(v, 2)", "count(t0.*)", "count(ALL v)", "count(distinct(v))",
                 "v.max()"]:
        sql = f"SELECT {call} FILTER (WHERE w > 1) FROM t0"
        assert filters_as_cases(sql) == sql, call
    for sql in ["SELECT 'x FILTER (WHERE y)' AS text FROM t0",
                "SELECT count(v) FILTER (WHERE w > 1 -- it's\n) FROM t0",
                "SELECT count(v) FILTER (WHERE kind = E'\\'') FROM t0"]:
        assert filters_as_cases(sql) == sql
    assert filters_as_cases('SELECT sum(v) AS "a)", max("w") FILTER (WHERE "k""(" > 1) FROM t0') == \
        'SELECT sum(v) AS "a)", max(CASE WHEN "k""(" > 1 THEN "w" END) FROM t0'
    # a call holding another FILTER keeps its own; the inner one is rewritten
    assert filters_as_cases("SELECT sum(v) FILTER (WHERE w IN (SELECT max(x) FILTER (WHERE y) FROM u)) FROM t0") == \
        "SELECT sum(v) FILTER (WHERE w IN (SELECT max(CASE WHEN y THEN x END) FROM u)) FROM t0"
    assert filters_as_cases("SELECT count( * ) FILTER (WHERE a), count(DISTINCT\nv) FILTER (WHERE b) FROM t0") == \
        "SELECT count(CASE WHEN a THEN 1 END), count(DISTINCT CASE WHEN b THEN v END) FROM t0"
    assert filters_as_cases("SELECT quantile(v, 0.5) FILTER (WHERE a), count(*) FILTER (WHERE b) FROM t") == \
        "SELECT quantile(v, 0.5) FILTER (WHERE a), count(CASE WHEN b THEN 1 END) FROM t"
