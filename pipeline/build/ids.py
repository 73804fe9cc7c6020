"""Customer ids across tables: the ids of each other table that match no customer with transactions, and the
customers with transactions the customers table lacks, counted (ids are compared as validation reads them: text
without surrounding spaces, the one rule for every table; docs/validation.md, "Customer ids across tables")."""

from __future__ import annotations

from pipeline.engine.base import Dataset

# tables whose rows belong to a customer: their ids should be ids of the transactions table
OTHER_TABLES = ("customers", "events", "invoices", "subscriptions")


def unmatched_counts(ds: Dataset) -> list[tuple[str, str, int, str]]:
    """(table, other table, distinct ids of ``table`` not in ``other``, the least of them) for every pair checked:
    each table's ids against the transactions', and the transactions' against the customers table."""
    pairs = [(t, "transactions") for t in OTHER_TABLES if t in ds.tables]
    if "customers" in ds.tables:
        pairs.append(("transactions", "customers"))
    out = []
    for table, other in pairs:
        [(n, example)] = ds.grouped_totals(
            f"SELECT count(DISTINCT customer_id) AS n, min(customer_id) AS example FROM clean_{table} "
            f"WHERE customer_id NOT IN (SELECT customer_id FROM clean_{other})",
            "SELECT coalesce(sum(n), 0), min(example) FROM parts")
        out.append((table, other, int(n or 0), example))
    return out


def unmatched_ids(ds: Dataset) -> list[str]:
    """A warning per table whose customer ids match nothing in the table they belong with: their rows are kept but
    reach no customer's features (or, for customers with transactions but no profile, no profile), so a mismatch
    in how ids are written (zero-padded 00042 against 42) would otherwise go unseen."""
    lines = []
    for table, other, n, example in unmatched_counts(ds):
        if not n:
            continue
        if other == "transactions":
            effect = f"their {table} rows reach no customer's features"
        else:
            effect = "they have no profile (their profile features are missing)"
        lines.append(
            f"{table}.customer_id: {n:,} customer id{'s' if n != 1 else ''} match{'es' if n == 1 else ''} no id in "
            f"the {other} table (e.g. {example!r}): {effect}. Ids match as text without surrounding spaces; an id "
            f"written 00042 in one table and 42 in another, or with another case, does not. Fix: export the ids "
            f"alike in every table (the same padding and case), or remove the rows of customers not in {other}")
    return lines
