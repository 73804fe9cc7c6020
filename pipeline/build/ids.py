"""Customer ids across tables: the ids of each other table that match no customer with transactions, and the
customers with transactions the customers table lacks, counted (ids are compared as validation reads them: text
without surrounding spaces, the one rule for every table; docs/validation.md, "Customer ids across tables")."""

from __future__ import annotations

from pipeline.engine.base import Dataset

# tables whose rows belong to a customer: their ids should be ids of the transactions table
OTHER_TABLES = ("customers", "events", "invoices", "subscriptions")


# An id as it would read without leading zeros and in lower case: ids that match only so are written differently
_LOOSE = "ltrim(lower(customer_id), '0')"


def unmatched_counts(ds: Dataset) -> list[tuple[str, str, int, int, str]]:
    """(table, other table, distinct ids of ``table`` not in ``other``, how many of those match an id of ``other``
    once leading zeros and case are set aside, the least unmatched id) for every pair checked: each table's ids
    against the transactions', and the transactions' against the customers table."""
    pairs = [(t, "transactions") for t in OTHER_TABLES if t in ds.tables]
    if "customers" in ds.tables:
        pairs.append(("transactions", "customers"))
    out = []
    for table, other in pairs:
        [(n, near, example)] = ds.grouped_totals(
            f"SELECT count(DISTINCT customer_id) AS n, "
            f"count(DISTINCT CASE WHEN {_LOOSE} IN (SELECT {_LOOSE} FROM clean_{other}) THEN customer_id END) AS near, "
            f"min(customer_id) AS example FROM clean_{table} "
            f"WHERE customer_id NOT IN (SELECT customer_id FROM clean_{other})",
            "SELECT coalesce(sum(n), 0), coalesce(sum(near), 0), min(example) FROM parts")
        out.append((table, other, int(n or 0), int(near or 0), example))
    return out


def unmatched_ids(ds: Dataset) -> tuple[list[str], list[str]]:
    """Warnings and notes on customer ids that match nothing in the table they belong with (their rows are kept but
    reach no customer's features; for customers with transactions but no profile, no profile).

    A warning where some of them match once leading zeros and case are set aside (00042 against 42: the tables write
    ids differently, and those customers would silently lose their rows), a note otherwise (customers who have not
    bought yet, visitors: the normal case, counted)."""
    warnings, notes = [], []
    for table, other, n, near, example in unmatched_counts(ds):
        if not n:
            continue
        if other == "transactions":
            effect = f"their {table} rows reach no customer's features"
        else:
            effect = "they have no profile (their profile features are missing)"
        ids = f"{n:,} customer id{'s' if n != 1 else ''} match{'es' if n == 1 else ''} no id in the {other} table"
        if near:
            warnings.append(
                f"{table}.customer_id: {ids} (e.g. {example!r}), and {near:,} of them match one once leading zeros and "
                f"case are set aside: the two tables write ids differently, and {effect}. Ids match as text without "
                f"surrounding spaces. Fix: export the ids alike in every table (the same padding and case)")
        else:
            notes.append(f"{table}.customer_id: {ids} (e.g. {example!r}; customers without purchases, or rows of "
                         f"customers not in {other}): {effect}")
    return warnings, notes
