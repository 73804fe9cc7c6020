"""Customer ids across tables: the ids of each other table that match no customer with transactions, and the
customers with transactions the customers table lacks, counted; the ids matched only by their integer value (the one
rule, ``pipeline.data.validate.ids``) and those the rule could not match one to one, counted. Ids are compared as
validation reads them: text without surrounding spaces, then the rule (docs/validation.md, "Customer ids across
tables")."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.data.validate.ids import MATCHES, OTHER_TABLES
from pipeline.engine.base import Dataset

# An id as it would read without leading zeros and in lower case: ids that match only so are written differently
_LOOSE = "ltrim(lower(customer_id), '0')"


@dataclass(frozen=True)
class RuleCounts:
    """What the id rule did to one table's ids: distinct ids ``matched`` (e.g. ``matched_example`` (as written, the
    transactions' id)) and ids ``collided`` (left unmatched: not one id of that value on each side), with one
    collided id and the ids of its value on each side (count, least, greatest)."""

    table: str
    matched: int = 0
    matched_example: tuple[str, str] | None = None
    collided: int = 0
    collided_example: str | None = None
    transactions_ids: tuple[int, str, str] | None = None
    own_ids: tuple[int, str, str] | None = None


# the ids of a collided id's value on each side (count, least, greatest), as _id_matches holds them
_SIDES = ("transactions_ids", "transactions_lo", "transactions_hi", "own_ids", "own_lo", "own_hi")


# The id rule's counts per table (grouped_totals: the SQL per shard, the SQL adding up the shards' rows)
_RULE_QUERY = (
    "SELECT tbl, count(matched_id) AS matched, min(customer_id) FILTER (WHERE matched_id IS NOT NULL) AS m_from, "
    "arg_min(matched_id, customer_id) FILTER (WHERE matched_id IS NOT NULL) AS m_to, "
    "count(*) - count(matched_id) AS collided, min(customer_id) FILTER (WHERE matched_id IS NULL) AS c_id, "
    + ", ".join(f"arg_min({c}, customer_id) FILTER (WHERE matched_id IS NULL) AS c_{c}" for c in _SIDES)
    + f" FROM {MATCHES} GROUP BY tbl",
    "SELECT tbl, sum(matched), min(m_from), arg_min(m_to, m_from), sum(collided), min(c_id), "
    + ", ".join(f"arg_min(c_{c}, c_id)" for c in _SIDES) + " FROM parts GROUP BY tbl")


def rule_counts(ds: Dataset) -> dict[str, RuleCounts]:
    """The id rule's counts per table it matched or refused ids of (tables it left alone are absent)."""
    out = {}
    for table, matched, m_from, m_to, collided, c_id, *sides in ds.grouped_totals(*_RULE_QUERY):
        tx, own = (tuple(sides[i:i + 3]) for i in (0, 3))
        out[table] = RuleCounts(table, int(matched or 0), (m_from, m_to) if matched else None, int(collided or 0),
                                c_id, (int(tx[0]), tx[1], tx[2]) if collided else None,
                                (int(own[0]), own[1], own[2]) if collided else None)
    return out


def _unmatched_queries(ds: Dataset) -> dict[tuple[str, str], tuple[str, str]]:
    """Per pair of tables checked (see ``unmatched_counts``), its grouped_totals query."""
    pairs = [(t, "transactions") for t in OTHER_TABLES if t in ds.tables]
    if "customers" in ds.tables:
        pairs.append(("transactions", "customers"))
    return {(table, other): (
        f"SELECT count(DISTINCT customer_id) AS n, "
        f"count(DISTINCT CASE WHEN {_LOOSE} IN (SELECT {_LOOSE} FROM clean_{other}) THEN customer_id END) AS near, "
        f"min(customer_id) AS example FROM clean_{table} "
        f"WHERE customer_id NOT IN (SELECT customer_id FROM clean_{other})",
        "SELECT coalesce(sum(n), 0), coalesce(sum(near), 0), min(example) FROM parts") for table, other in pairs}


def id_queries(ds: Dataset) -> list[tuple[str, str]]:
    """Every grouped_totals query ``id_report`` asks (for ``Dataset.prefetch``)."""
    return [_RULE_QUERY, *_unmatched_queries(ds).values()]


def unmatched_counts(ds: Dataset) -> list[tuple[str, str, int, int, str]]:
    """(table, other table, distinct ids of ``table`` not in ``other``, how many of those match an id of ``other``
    once leading zeros and case are set aside, the least unmatched id) for every pair checked: each table's ids
    against the transactions', and the transactions' against the customers table (after the id rule)."""
    out = []
    for (table, other), query in _unmatched_queries(ds).items():
        [(n, near, example)] = ds.grouped_totals(*query)
        out.append((table, other, int(n or 0), int(near or 0), example))
    return out


def _value(customer_id: str) -> str:
    return customer_id.lstrip("0") or "0"


def _ids(n: int) -> str:
    """"1 customer id matches" / "2 customer ids match": the count, the noun and the verb agreeing."""
    return f"{n:,} customer id{'s' if n != 1 else ''} match{'es' if n == 1 else ''}"


@dataclass(frozen=True)
class IdReport:
    """Warnings and notes on customer ids across tables, and their counts per table for the run record."""

    warnings: list[str]
    notes: list[str]
    counts: dict[str, dict]


def id_report(ds: Dataset) -> IdReport:
    """Warnings, notes and counts on customer ids across tables.

    Ids matched by the rule (``00042`` against ``42``, one id of that value on each side): a note with the count and
    an example (they are read as the transactions write them). Ids the rule could not match one to one (two ids of
    one table of one value): a warning naming the collision. Ids that still match nothing in the table they belong
    with (their rows are kept but reach no customer's features; for customers with transactions but no profile, no
    profile): a warning where some of them match once leading zeros and case are set aside (the tables write ids
    differently, and those customers would silently lose their rows), a note otherwise (customers who have not
    bought yet, visitors: the normal case, counted)."""
    warnings, notes, counts = [], [], {}
    rules = rule_counts(ds)
    for table in sorted(rules):
        r = rules[table]
        if r.matched:
            written, read = r.matched_example
            notes.append(f"{table}.customer_id: {_ids(r.matched)} a transactions id only by integer value (e.g. "
                         f"{written!r} is {read!r}): matched by the id rule, and written as the transactions table "
                         "writes them")
        if r.collided:
            value = _value(r.collided_example)
            (tx_n, tx_lo, tx_hi), (own_n, own_lo, own_hi) = r.transactions_ids, r.own_ids
            why = (f"the transactions table has {tx_n:,} ids of that value ({tx_lo!r} ... {tx_hi!r})" if tx_n > 1 else
                   f"the {table} table has {own_n:,} ids of that value ({own_lo!r} ... {own_hi!r}), which would "
                   f"collapse to one customer")
            warnings.append(
                f"{table}.customer_id: {_ids(r.collided)} a transactions id only by integer value but not one to "
                f"one: left unmatched (e.g. {r.collided_example!r} reads {value}, and {why}). Fix: export "
                "the ids alike in every table (the same padding), so each customer has one id")
    for table, other, n, near, example in unmatched_counts(ds):
        rule = rules.get(table) if other == "transactions" else rules.get("customers")
        counts.setdefault(table, {})[f"ids_not_in_{other}"] = n
        if other == "transactions":
            counts[table]["ids_matched_by_value"] = rule.matched if rule else 0
            counts[table]["ids_left_unmatched_by_value"] = rule.collided if rule else 0
        if not n:
            continue
        if other == "transactions":
            effect = f"their {table} rows reach no customer's features"
        else:
            effect = "they have no profile (their profile features are missing)"
        ids = f"{_ids(n)} no id in the {other} table"
        if near > (rule.collided if rule else 0):  # near misses beyond the collisions warned about above
            warnings.append(
                f"{table}.customer_id: {ids} (e.g. {example!r}), and {near:,} of them match one once leading zeros and "
                f"case are set aside: the two tables write ids differently, and {effect}. Ids match as text without "
                f"surrounding spaces, or by integer value where each table has one id of it. Fix: export the ids "
                f"alike in every table (the same padding and case)")
        else:
            notes.append(f"{table}.customer_id: {ids} (e.g. {example!r}; customers without purchases, or rows of "
                         f"customers not in {other}): {effect}")
    return IdReport(warnings, notes, counts)


def unmatched_ids(ds: Dataset) -> tuple[list[str], list[str]]:
    """The warnings and notes of ``id_report``."""
    report = id_report(ds)
    return report.warnings, report.notes
