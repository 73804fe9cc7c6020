"""Customer ids that match across tables only once their type is set aside: the one rule (docs/validation.md,
"Customer ids across tables").

Ids are text once validated (an integer column's 42 reads "42"). An id of another table (customers, events,
invoices, subscriptions) that matches no id of the transactions table exactly, and is made of digits only, is the
transactions' customer with the same integer value (``00042`` is ``42``, and ``42`` is ``00042``), provided that value
is one id's alone on both sides: exactly one transactions id and exactly one id of that table have it. Otherwise (two
ids of one table would collapse to one customer, ``0042`` and ``42`` both in customers, or ``007`` and ``7`` both in
transactions) nothing is matched and the collision is reported. Matched rows take the transactions' id, so every
output writes ids as the transactions table does; the transactions table is never changed.

The rule runs on any DuckDB connection holding ``clean_<table>`` tables or views: the whole data on one machine,
one customer shard in a Spark task (shards are split by ``SHARD_KEY``, so every id of one value meets in one shard).
"""

from __future__ import annotations

import duckdb

OTHER_TABLES = ("customers", "events", "invoices", "subscriptions")
MATCHES = "_id_matches"  # (tbl, customer_id, matched_id NULL on a collision, transactions/own ids of the value)

# An id's integer value as text (digits without leading zeros; "000" is "0"), NULL for an id that is not all digits
VALUE = ("CASE WHEN regexp_full_match(customer_id, '[0-9]+') "
         "THEN coalesce(nullif(ltrim(customer_id, '0'), ''), '0') END")
# What customer shards are split by on an engine holding shards (Spark SQL and DuckDB alike): ids equal under the
# rule, or equal once leading zeros and case are set aside (the near misses reported), meet in one shard
SHARD_KEY = "trim(LEADING '0' FROM lower(customer_id))"


def unaligned(table: str) -> str:
    """The name the rows of ``table`` keep with their ids as written, where the rule matched some of them."""
    return f"_unaligned_{table}"


def _kind(con: duckdb.DuckDBPyConnection, name: str) -> str:
    [(kind,)] = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()
    return "VIEW" if kind == "VIEW" else "TABLE"


def align_ids(con: duckdb.DuckDBPyConnection, tables: frozenset[str] | set[str] | list[str]) -> None:
    """Apply the rule to the ``clean_<table>`` of ``tables`` in ``con``: ``_id_matches`` holds every id it looked at
    (matched or collided), and each table with a match is read through a view giving matched rows the transactions'
    id (its rows as written stay under ``unaligned(table)``)."""
    others = [t for t in OTHER_TABLES if t in tables] if "transactions" in tables else []
    # Each table's distinct ids are read once (a scan of the table through its checks, which is what costs: 11.9 of
    # the 31.9 s validation of 32.8M events took when each was read twice), and the rest works on those ids alone.
    parts = [f"""
        SELECT '{t}' AS tbl, u.customer_id, CASE WHEN k.n = 1 AND o.n = 1 THEN k.lo END AS matched_id,
               k.n AS transactions_ids, k.lo AS transactions_lo, k.hi AS transactions_hi,
               o.n AS own_ids, o.lo AS own_lo, o.hi AS own_hi
        FROM (SELECT customer_id, {VALUE} AS v FROM _ids_{t} WHERE customer_id NOT IN (SELECT customer_id FROM _tx_ids)) u
        JOIN _tx_values k ON k.v = u.v
        JOIN (SELECT {VALUE} AS v, count(*) AS n, min(customer_id) AS lo, max(customer_id) AS hi
              FROM _ids_{t} GROUP BY 1) o ON o.v = u.v""" for t in others]
    empty = ("SELECT NULL::VARCHAR AS tbl, NULL::VARCHAR AS customer_id, NULL::VARCHAR AS matched_id, "
             "NULL::BIGINT AS transactions_ids, NULL::VARCHAR AS transactions_lo, NULL::VARCHAR AS transactions_hi, "
             "NULL::BIGINT AS own_ids, NULL::VARCHAR AS own_lo, NULL::VARCHAR AS own_hi WHERE false")
    if others:
        con.execute("CREATE OR REPLACE TEMP TABLE _tx_ids AS SELECT DISTINCT customer_id FROM clean_transactions")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _tx_values AS SELECT {VALUE} AS v, count(*) AS n, "
                    f"min(customer_id) AS lo, max(customer_id) AS hi FROM _tx_ids WHERE {VALUE} IS NOT NULL GROUP BY 1")
        for t in others:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _ids_{t} AS SELECT DISTINCT customer_id FROM clean_{t}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {MATCHES} AS {' UNION ALL '.join(parts + [empty])}")
    if others:
        for name in ["_tx_ids", "_tx_values", *(f"_ids_{t}" for t in others)]:
            con.execute(f"DROP TABLE {name}")
    matched = {t for (t,) in con.execute(f"SELECT DISTINCT tbl FROM {MATCHES} WHERE matched_id IS NOT NULL").fetchall()}
    for t in sorted(matched):
        con.execute(f"ALTER {_kind(con, f'clean_{t}')} clean_{t} RENAME TO {unaligned(t)}")
        con.execute(f"""CREATE VIEW clean_{t} AS
            SELECT u.* REPLACE (coalesce(m.matched_id, u.customer_id) AS customer_id) FROM {unaligned(t)} u
            LEFT JOIN (SELECT customer_id, matched_id FROM {MATCHES} WHERE tbl = '{t}' AND matched_id IS NOT NULL) m
            ON u.customer_id = m.customer_id""")
