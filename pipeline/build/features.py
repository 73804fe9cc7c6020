"""Feature and training-set builder: wires the as-of views, the population, every family and labels.

Pure with respect to storage: takes a dataset holding validated ``clean_<table>`` views and returns frames.
Every family reads only the as-of views created here, which hold no row after the as-of day, so no feature
can see the future by construction (the contract tests check it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pandas as pd
import pyarrow as pa

import features  # noqa: F401  (registers the families)
from features.activity import choose_event_types
from features.registry import FAMILIES, Context, Family, Feature, FeatureSpec, day_end_sql
from pipeline.build.labels import labels_sql, population_aggregates, population_sql
from pipeline.core.config import Params
from pipeline.core.errors import ConfigError, DataError
from pipeline.core.sql import filters_as_cases
from pipeline.engine.base import Dataset

# Money and event values are summed as exact decimals: parallel float sums depend on thread timing,
# and the same inputs must give byte-identical feature tables.
EXACT = "DECIMAL(18, 4)"

# SQL: the integer key of a customer id inside a shard's transaction relations (see _create_asof_views)
CUSTOMER_KEY = "hash(customer_id)"


def build_columns(table: str) -> str:
    """SQL select list: the columns of a clean table as every build reads them, whatever its as-of date.

    Transactions keep only the typed columns the families use, in the form they group and sum:
    ``customer_key``, an integer key of the customer (see ``_create_asof_views``), an integer
    ``order_key`` (grouping 64-bit values is far cheaper than strings), exact decimals for money
    (parallel float sums depend on thread timing) and ``purchase`` (not a return). Other tables are read
    as they are.
    """
    if table != "transactions":
        return "*"
    return (f"customer_id, {CUSTOMER_KEY} AS customer_key, timestamp, CAST(amount AS {EXACT}) AS amount, "
            "CASE WHEN order_id IS NULL THEN hash(timestamp) ELSE hash(order_id) END AS order_key, "
            f"CAST(quantity AS {EXACT}) AS quantity, category, CAST(coalesce(discount, 0) AS {EXACT}) AS discount, "
            "NOT (coalesce(is_return, false) OR amount < 0) AS purchase")


# Families that read transactions as purchases: with billing transactions (renewal charges only) they would
# describe a billing cycle ("30 days since the last purchase, 1.0 times their usual gap"), so they are left out.
PURCHASE_FAMILIES = ("recency", "frequency", "monetary", "trend", "regularity", "tenure", "basket", "returns", "btyd")


# Shares of subscribers' transactions that are renewal charges from which transactions are billing only, or mixed.
BILLING_SHARE, MIXED_SHARE = 0.9, 0.1


def _renewal_prices(subscriptions: str, end: str) -> str:
    """SQL: (customer_id, price) of every subscription price of a customer known before ``end``."""
    return (f"(SELECT DISTINCT customer_id, CAST(price AS DECIMAL(18, 2)) AS price FROM {subscriptions} "
            f"WHERE price IS NOT NULL AND start_date < {end})")


def renewal_counts_sql(as_of: date) -> str:
    """SQL: (subscribers' transactions, those that are renewal charges) up to ``as_of``, over the clean tables."""
    end = day_end_sql(as_of)
    prices = _renewal_prices("clean_subscriptions", end)
    return f"""
        WITH t AS (SELECT customer_id, CAST(amount AS DECIMAL(18, 2)) AS amount FROM clean_transactions
                   WHERE timestamp < {end} AND customer_id IN (SELECT customer_id FROM {prices}))
        SELECT count(*), count(*) FILTER (WHERE EXISTS (
            SELECT 1 FROM {prices} p WHERE p.customer_id = t.customer_id AND p.price = t.amount)) FROM t"""


def renewal_share(ds: Dataset, as_of: date) -> float | None:
    """The share of subscribers' transactions up to ``as_of`` that are renewal charges (the amount of one of
    the customer's subscription prices); None without subscriptions with prices."""
    if "subscriptions" not in ds.tables:
        return None
    total, renewals = ds.totals(renewal_counts_sql(as_of))
    return renewals / total if total else None


def data_choices(ds: Dataset, params: Params, as_of: date) -> dict:
    """What a build decides from the data as of ``as_of`` (a model keeps it, so scoring builds the same
    columns; JSON-ready): ``event_types``, the event types with activity features of their own (the
    ``features.max_event_types`` most frequent types no other family knows, by count then name),
    ``valued_event_types``, those whose events carry values, and ``transactions``, what transactions are:
    ``purchases``; ``mixed``, renewal charges (a subscriber's transactions of their plan's price) among
    purchases, left out of the purchase families; ``billing``, renewal charges only (at least 90% of
    subscribers' transactions), when the purchase families are left out (``features.transactions`` fixes it)."""
    return _choices(ds, params, as_of, _type_frequencies(ds, as_of))


def _type_frequencies(ds: Dataset, as_of: date) -> list[tuple[str, int, bool]]:
    """(event type, events, whether any has a value) as of ``as_of`` (events before the end of that day); empty
    without events. Added up from ``Dataset.event_type_days``, read once for every as-of date of the dataset."""
    counts: dict[str, list] = {}
    for event_type, day, n, valued in ds.event_type_days():
        if day <= as_of:
            seen = counts.setdefault(event_type, [0, False])
            seen[0] += n
            seen[1] = seen[1] or bool(valued)
    return [(event_type, n, valued) for event_type, (n, valued) in counts.items()]


def _choices(ds: Dataset, params: Params, as_of: date, frequencies: list[tuple[str, int, bool]]) -> dict:
    """``data_choices`` from the event type ``frequencies`` already counted."""
    chosen, valued, _ = choose_event_types(frequencies, params.features.max_event_types)
    role = params.features.transactions
    if role == "auto":
        share = renewal_share(ds, as_of)
        role = "purchases" if share is None or share < MIXED_SHARE else "billing" if share >= BILLING_SHARE else "mixed"
    return {"event_types": list(chosen), "valued_event_types": list(valued), "transactions": role}


def context_for(ds: Dataset, params: Params, as_of: date, choices: dict | None = None) -> Context:
    """The context of a build as of ``as_of``; ``choices`` (``data_choices``, e.g. those kept with a model)
    fixes the event types and the role of transactions, else they are decided from the data as of ``as_of``."""
    frequencies = _type_frequencies(ds, as_of)
    choices = choices or _choices(ds, params, as_of, frequencies)
    chosen = tuple(choices["event_types"])
    others = tuple(t for t in choose_event_types(frequencies, len(frequencies))[0] if t not in chosen)
    f = params.features
    return Context(
        exclude=tuple(f.exclude),
        event_types=chosen,
        valued_event_types=tuple(choices["valued_event_types"]),
        other_event_types=others,
        event_labels=tuple(sorted(f.event_labels.items())),
        event_ratios=tuple((r.numerator, r.denominator, r.window_days, r.risk_direction) for r in f.event_ratios),
        risky_event_types=tuple(f.risky_event_types),
        transactions=choices["transactions"],
        as_of=as_of,
        windows_days=tuple(params.features.windows_days),
        trend_window_days=params.features.trend_window_days,
        horizon_days=params.label.horizon_days,
        btyd_model=params.features.btyd_model,
        tables=ds.tables,
        profile_columns=ds.profile_columns(),
    )


def _create_asof_views(
    ds: Dataset, ctx: Context, shard: tuple[int, int], horizon_end: str | None = None, reuse: bool = False
) -> None:
    """Tables and views holding only what is known at the end of the as-of day, for the customers of
    one shard (``shard`` is (k, n): shard k of n); families read nothing else.

    ``tx``: transactions in the columns of ``build_columns`` (``customer_key``, the customer's integer
    key, which ``customer_keys`` maps to ``customer_id``; ``order_key``; ``purchase``) plus ``age``, whole
    days before the as-of date; ``purchases``: the purchase lines of ``tx`` with ``new_order`` and ``gap``
    (see ``Family``); ``ev`` (events, with ``age`` as in ``tx``), ``inv``, ``subs``, ``cust``: the optional
    tables. The shard's transactions
    are read from the source once, into ``shard_transactions``, which with ``horizon_end`` (labels) also
    holds the rows up to it for the label query; ``tx`` still stops at the as-of day. ``reuse``: see
    ``Dataset.shard_rows_sql``. A shard's tables, and only they, are temporary tables: each is dropped
    once the shard is built.
    """
    con, end = ds.con, ctx.end_sql

    def clean(table: str) -> str:
        return ds.shard_rows_sql(table, shard, reuse, build_columns)

    # Customers are grouped by ``customer_key``, an integer: grouping and sorting 64-bit integers is far
    # cheaper than text, and ``purchases`` need not carry the text id at all. ``customer_keys`` maps the key
    # back to ``customer_id``. The key is a hash of the id, unless two ids of the shard share a hash (a
    # 64-bit collision, vanishingly rare), when it is the id's rank instead.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE shard_transactions AS
        SELECT *, CAST({ctx.days_since('timestamp')} AS INTEGER) AS age
        FROM {clean('transactions')} WHERE timestamp < {horizon_end or end}""")
    con.execute("CREATE OR REPLACE TEMP TABLE customer_keys AS "
                "SELECT customer_id, any_value(customer_key) AS customer_key FROM shard_transactions GROUP BY customer_id")
    if con.execute("SELECT count(*) - count(DISTINCT customer_key) FROM customer_keys").fetchall()[0][0]:
        con.execute("CREATE OR REPLACE TEMP TABLE customer_keys AS "
                    "SELECT customer_id, row_number() OVER (ORDER BY customer_id) AS customer_key FROM customer_keys")
        con.execute("CREATE OR REPLACE TEMP TABLE shard_transactions AS SELECT t.* REPLACE (k.customer_key AS customer_key) "
                    "FROM shard_transactions t JOIN customer_keys k USING (customer_id)")
    if ctx.transactions == "mixed":  # renewal charges are billing, not buying: out of every purchase family
        con.execute(f"""CREATE OR REPLACE TEMP VIEW tx AS SELECT t.* FROM shard_transactions t
            ANTI JOIN {_renewal_prices(clean('subscriptions'), end)} r
            ON r.customer_id = t.customer_id AND r.price = CAST(t.amount AS DECIMAL(18, 2)) WHERE t.timestamp < {end}""")
    else:
        con.execute(f"CREATE OR REPLACE TEMP VIEW tx AS SELECT * FROM shard_transactions WHERE timestamp < {end}")
    # Purchase lines in one window, each customer's newest day first: ``gap`` (the days back to the line
    # before) is > 0 on the first line of each purchase day but the oldest, so purchase days need no
    # DISTINCT pass; ``new_order`` marks the first line of each order (an order id on one day: a day's
    # lines are sorted by order), so orders need no GROUP BY of lines into orders, which nearly every
    # line would be a group of its own. A view: its rows stream into the one query of every family's
    # (and the population's) aggregates over it.
    con.execute("""CREATE OR REPLACE TEMP VIEW purchases AS
        SELECT customer_key, age, amount, quantity, discount, lag(age) OVER w - age AS gap,
               lag(age) OVER w IS DISTINCT FROM age OR lag(order_key) OVER w IS DISTINCT FROM order_key AS new_order
        FROM tx WHERE purchase WINDOW w AS (PARTITION BY customer_key ORDER BY age DESC, order_key)""")
    if "events" in ctx.tables:
        con.execute(f"""CREATE OR REPLACE TEMP VIEW ev AS
            SELECT customer_id, timestamp, event_type, CAST(value AS {EXACT}) AS value,
                   CAST({ctx.days_since('timestamp')} AS INTEGER) AS age
            FROM {clean('events')} WHERE timestamp < {end}""")
    if "invoices" in ctx.tables:
        con.execute(f"""CREATE OR REPLACE TEMP VIEW inv AS
            SELECT customer_id, invoice_id, issued_at, due_date,
                   CASE WHEN paid_at < {end} THEN paid_at END AS paid_at, CAST(amount AS {EXACT}) AS amount
            FROM {clean('invoices')} WHERE issued_at < {end}""")
    if "subscriptions" in ctx.tables:
        con.execute(f"CREATE OR REPLACE TEMP VIEW shard_subscriptions AS SELECT * FROM {clean('subscriptions')}")
        con.execute(f"""CREATE OR REPLACE TEMP VIEW subs AS
            SELECT customer_id, start_date, CASE WHEN end_date < {end} THEN end_date END AS end_date, plan, price
            FROM shard_subscriptions WHERE start_date < {end}""")
        # renewal charges: a subscriber's transactions of one of their subscription prices (``data_choices``)
        con.execute(f"""CREATE OR REPLACE TEMP VIEW renewals AS SELECT t.customer_id, t.timestamp, t.amount
            FROM shard_transactions t SEMI JOIN {_renewal_prices('subs', end)} r
            ON r.customer_id = t.customer_id AND r.price = CAST(t.amount AS DECIMAL(18, 2)) WHERE t.timestamp < {end}""")
    if "customers" in ctx.tables:
        con.execute(f"CREATE OR REPLACE TEMP VIEW cust AS SELECT * FROM {clean('customers')} WHERE signup_date < {end}")


def _applies(fam: Family, ctx: Context) -> bool:
    """Whether a family applies to this business: purchase families do not when transactions are billing."""
    return (fam.available(ctx) and not (ctx.transactions == "billing" and fam.name in PURCHASE_FAMILIES)
            and fam.name not in ctx.exclude)


def _features_of(fam: Family, ctx: Context) -> list[Feature]:
    """The family's features in this build: those not switched off one by one (``features.exclude``)."""
    return [f for f in fam.features(ctx) if f.name not in ctx.exclude]


def _families(ctx: Context, only: tuple[str, ...] | None = None) -> list:
    return [f for f in FAMILIES.values() if _applies(f, ctx) and (only is None or f.name in only)]


def check_exclude(ctx: Context) -> None:
    """Every name in ``features.exclude`` is a registered family or a feature one of them gives with this data
    (``ConfigError`` naming the first that is not)."""
    if not ctx.exclude:
        return
    known = set(FAMILIES) | {f.name for fam in FAMILIES.values() for f in fam.features(ctx)}
    unknown = [name for name in ctx.exclude if name not in known]
    if unknown:
        raise ConfigError(f"params: 'features.exclude' names {unknown[0]!r}, which is neither a feature family nor a "
                          f"feature of this data. Families: {', '.join(FAMILIES)}. Fix: correct the name (see "
                          "`churn features` for the feature names) or remove it")


def feature_spec(ctx: Context, only: tuple[str, ...] | None = None) -> tuple[FeatureSpec, list[str]]:
    """The features a build with this context produces (the model's inputs, and the condition-only features the
    table also holds: ``FeatureSpec``), and notices for the families skipped."""
    check_exclude(ctx)
    feats: list[Feature] = []
    notices: list[str] = []
    billing: list[str] = []
    for fam in FAMILIES.values():
        if only is not None and fam.name not in only:
            continue
        if fam.name in ctx.exclude:
            notices.append(f"feature family '{fam.name}' switched off (features.exclude)")
        elif _applies(fam, ctx):
            feats.extend(_features_of(fam, ctx))
        elif fam.available(ctx):
            billing.append(fam.name)
        else:
            missing = ", ".join(t for t in fam.requires if t not in ctx.tables)
            notices.append(f"feature family '{fam.name}' skipped: no {missing} table")
    if billing:
        notices.append(f"feature families {', '.join(billing)} left out: transactions are subscription renewal "
                       "charges (billing, not buying); the subscription, activity and payments families describe "
                       "subscribers (features.transactions: purchases keeps them)")
    if ctx.transactions == "mixed":
        notices.append("renewal charges (a subscriber's transactions of their plan's price) are left out of the "
                       "purchase families: they are billing, not buying")
    if ctx.other_event_types:
        listed = ", ".join(repr(t) for t in ctx.other_event_types[:20])
        more = f" and {len(ctx.other_event_types) - 20} more" if len(ctx.other_event_types) > 20 else ""
        notices.append(f"event types without activity features of their own (beyond the features.max_event_types "
                       f"most frequent, or new since the model was trained): {listed}{more}; counted together in "
                       "other_events_last_90d")
    return FeatureSpec.of(feats), notices


def _column(expr: str, feat: Feature) -> str:
    """The select expression giving a feature its output type and its fill for customers without rows."""
    if feat.kind == "categorical":
        return f"CAST({expr} AS VARCHAR) AS {feat.name}"
    if feat.fill is not None:
        return f"CAST(coalesce({expr}, {feat.fill}) AS DOUBLE) AS {feat.name}"
    return f"CAST({expr} AS DOUBLE) AS {feat.name}"


# The relations whose per-customer aggregates families share, and the key each is grouped by: the transaction
# relations by the integer ``customer_key``, the events (``ev``) by ``customer_id``. ``tx`` and ``purchases`` are
# always aggregated (the population reads them); ``ev`` where some family declares aggregates over it.
AGGREGATED = {"tx": "customer_key", "purchases": "customer_key", "ev": "customer_id"}


def _aggregate_queries(ctx: Context, fams: list[Family], extra: dict[str, list[str]]) -> dict[str, str]:
    """Per shared relation, one GROUP BY query holding every family's aggregates over it, and the ``extra`` ones
    (the population's); made once per build, each shard runs them. Every event family's aggregates are in the one
    query over ``ev``: the events, several times the transactions, are read once per shard, not once per family."""
    exprs: dict[str, list[str]] = {rel: [] for rel in AGGREGATED}
    for declared in [fam.aggregates(ctx) for fam in fams if fam.aggregates] + [extra]:
        for rel, items in declared.items():
            exprs[rel].extend(items)
    names = [e.rsplit(" AS ", 1)[-1] for items in exprs.values() for e in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"feature families declare the aggregate(s) {repeated} more than once")
    # The families write FILTER clauses; the queries run with them as CASE expressions, the same values faster
    # (``filters_as_cases``: the events' aggregation at a million customers 23.5 -> 18 s)
    return {rel: filters_as_cases(f"SELECT {AGGREGATED[rel]}{''.join(f', {e}' for e in items)} FROM {rel} "
                                  f"GROUP BY {AGGREGATED[rel]}")
            for rel, items in exprs.items() if items or AGGREGATED[rel] == "customer_key"}


# every customer with an order has a transaction; customer_keys gives the aggregates their customer_id
AGGREGATES = "customer_keys JOIN agg_tx USING (customer_key) LEFT JOIN agg_purchases USING (customer_key)"


def _expressions(ctx: Context, fam: Family) -> dict[str, str]:
    """Each output column of a family (its features, or a fitted family's statistics) as SQL."""
    given = fam.columns(ctx) if fam.columns else {}
    if fam.finish is not None:
        return given
    return {feat.name: given.get(feat.name, feat.name) for feat in fam.features(ctx)}


def _build_shard(ds: Dataset, plan: BuildPlan, shard: tuple[int, int], reuse: bool) -> tuple[pa.Table, dict[str, pa.Table]]:
    """One customer shard: its population's SQL-family features (and labels), and the per-customer
    statistics of every family that has a ``finish`` step."""
    ctx, params, fams, aggregates, with_labels = plan.ctx, plan.params, plan.fams, plan.aggregates, plan.with_labels
    horizon_end = day_end_sql(ctx.as_of + timedelta(days=params.label.horizon_days)) if with_labels else None
    _create_asof_views(ds, ctx, shard, horizon_end, reuse)
    con = ds.con
    for rel, query in aggregates.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE agg_{rel} AS {query}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE population AS {population_sql(params.label)}")
    # Feature names are unique across families, so every column is referred to by its name alone.
    joins = [f"LEFT JOIN ({fam.sql(ctx)}) f{i} USING (customer_id)" for i, fam in enumerate(fams) if fam.sql]
    selects = ["p.customer_id"]
    stats: dict[str, pa.Table] = {}
    for fam in fams:
        exprs = _expressions(ctx, fam)
        if fam.finish is not None:
            # every customer with history, not only the population: what the fit should see
            columns = ", ".join(f"{e} AS {name}" for name, e in exprs.items())
            stats[fam.name] = con.sql(f"SELECT customer_id, {columns} FROM {AGGREGATES}").to_arrow_table()
            continue
        selects += [_column(exprs[feat.name], feat) for feat in fam.features(ctx)]
    if with_labels:
        joins.append(f"LEFT JOIN ({labels_sql(params.label, ctx.as_of)}) lab USING (customer_id)")
        selects += ["lab.churned", "lab.future_value"]
    events = "LEFT JOIN agg_ev USING (customer_id) " if "ev" in aggregates else ""
    query = (f"SELECT {', '.join(selects)} FROM population p LEFT JOIN agg_tx USING (customer_key) "
             f"LEFT JOIN agg_purchases USING (customer_key) {events}{' '.join(joins)}")
    table = con.sql(query).to_arrow_table()
    # The shard's tables are the connection's only temporary ones; freed now, not when the next shard
    # replaces them: the next shard's rows and the final table would otherwise be held beside them.
    for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall():
        con.execute(f"DROP TABLE temp.{name}")
    return table, stats


def build_features(
    ds: Dataset, params: Params, as_of: date, with_labels: bool = False, families: tuple[str, ...] | None = None,
    progress: Callable[[int, int], None] | None = None, reuse_shards: bool = False, choices: dict | None = None,
) -> pd.DataFrame:
    """One row per customer in the population at ``as_of`` with every available feature, ordered by id.

    With ``with_labels`` the frame also carries ``churned`` and ``future_value`` from
    (as_of, as_of + horizon]; the features never see those rows. ``families`` restricts the build
    to the named families.

    Customers are split into shards, ranges of ids (``Dataset.shard_bounds``), and each shard is built on
    its own (its rows read once, its aggregates in memory), because a customer's features depend only on
    their own rows; fitted families then see every shard's statistics together in ``finish``. The result
    does not depend on the number of shards, nor on where their rows are read from: ``reuse_shards`` (a
    build that is one of several over ``ds``) writes the shards out once for every later build
    (``Dataset.shard_rows_sql``). ``progress(done, total)`` is called after each shard. ``choices``
    (``data_choices``: event types, what transactions are) fixes the columns, e.g. to those a model was
    trained on; by default they are decided from the data as of ``as_of``.
    """
    plan = build_plan(ds, params, as_of, with_labels, families, choices)
    return next(iter(ds.build_tables([plan], progress, reuse_shards)))


@dataclass(frozen=True)
class BuildPlan:
    """What one build computes: its context, families, the shared aggregate queries and whether it has labels;
    the same for every shard, whichever engine runs them."""

    ctx: Context
    params: Params
    fams: tuple[Family, ...]
    aggregates: dict[str, str]
    with_labels: bool

    @property
    def fitted(self) -> list[str]:
        """The families with a population-level fit (``finish``), which see every shard's statistics together."""
        return [fam.name for fam in self.fams if fam.finish is not None]

    @property
    def as_of(self) -> date:
        return self.ctx.as_of

    @property
    def shard_rows(self) -> int:
        return self.params.engine.shard_rows

    def shard(self, ds: Dataset, shard: tuple[int, int], reuse: bool) -> tuple[pa.Table, dict[str, pa.Table]]:
        return _build_shard(ds, self, shard, reuse)

    def finish(self, con: duckdb.DuckDBPyConnection, stats: dict[str, pa.Table]) -> dict[str, pd.DataFrame]:
        return finish_families(con, self, stats)

    def combine(self, con: duckdb.DuckDBPyConnection, built: pa.Table, finished: dict[str, pd.DataFrame]) -> pa.Table:
        return combine(con, self, built, finished)

    def combine_sql(self, con: duckdb.DuckDBPyConnection, built: str, finished: dict[str, pd.DataFrame],
                    suffix: str = "") -> tuple[str, list[str]]:
        return combine_sql(con, self, built, finished, suffix)


def build_plan(ds, params: Params, as_of: date, with_labels: bool = False, families: tuple[str, ...] | None = None,
               choices: dict | None = None) -> BuildPlan:
    ctx = context_for(ds, params, as_of, choices)
    check_exclude(ctx)
    fams = tuple(_families(ctx, families))
    aggregates = _aggregate_queries(ctx, list(fams), population_aggregates(params.label))
    return BuildPlan(ctx, params, fams, aggregates, with_labels)


def finish_families(con: duckdb.DuckDBPyConnection, plan: BuildPlan, stats: dict[str, pa.Table]) -> dict[str, pd.DataFrame]:
    """Each fitted family's ``finish`` over the statistics of every customer (all shards together), in id order."""
    finished = {}
    for name in plan.fitted:
        con.register("_stats", stats[name])
        frame = con.sql("SELECT * FROM _stats ORDER BY customer_id").to_arrow_table().to_pandas()
        con.unregister("_stats")
        finished[name] = FAMILIES[name].finish(frame, plan.ctx)
    return finished


def combine(con: duckdb.DuckDBPyConnection, plan: BuildPlan, built: pa.Table, finished: dict[str, pd.DataFrame]) -> pa.Table:
    """The feature table from the shards' rows (``built``) and the fitted families' results, ordered by id: each
    row needs only its own customer's, so any subset of the shards' rows gives that subset of the table."""
    con.register("_built", built)
    query, registered = combine_sql(con, plan, "_built", finished)
    try:
        return con.sql(query).to_arrow_table()
    finally:
        for name in ("_built", *registered):
            con.unregister(name)


def combine_sql(con: duckdb.DuckDBPyConnection, plan: BuildPlan, built: str, finished: dict[str, pd.DataFrame],
                suffix: str = "") -> tuple[str, list[str]]:
    """``combine`` as a query over the relation named ``built`` (the shards' rows, in a table of the engine's or a
    registered Arrow table), and the names it registered on ``con`` for the fitted families' results (the caller
    unregisters them once the query's rows are read). ``suffix`` makes those names the caller's own, for a query
    read again later while other builds use the connection."""
    ctx = plan.ctx
    registered: list[str] = []
    joins, selects = [], ["b.customer_id"]
    for i, fam in enumerate(plan.fams):
        if fam.finish is None:
            selects += [f"b.{feat.name}" for feat in _features_of(fam, ctx)]
            continue
        registered.append(f"_finished_{fam.name}{suffix}")
        con.register(registered[-1], finished[fam.name])
        joins.append(f"LEFT JOIN {registered[-1]} f{i} USING (customer_id)")
        selects += [_column(f"f{i}.{feat.name}", feat) for feat in _features_of(fam, ctx)]
    if plan.with_labels:
        selects += ["b.churned", "b.future_value"]
    return f"SELECT {', '.join(selects)} FROM {built} b {' '.join(joins)} ORDER BY b.customer_id", registered


def snapshot_cutoffs(params: Params, as_of: date, first: date | None = None) -> list[date]:
    """Training cutoffs, oldest first: the latest is ``as_of - horizon`` so its horizon is fully observed, and
    ``snapshots.count`` of them ``step_days`` apart. With ``snapshots.same_season_last_year`` and ``first`` (the
    data's first day), also ``as_of`` a year earlier and a step either side, the season the scored horizon will be
    in, and the same a year before the latest (validation) cutoff, the season the validation figures judge: each
    where the data holds a full lookback before it and its horizon ends by the latest cutoff (out of time), and not
    within half a step of a cutoff already taken.

    Without the validation cutoff's season a year before, the out-of-time model was judged on a season it had never
    seen, where the final model scores one it has: the seasonal generator's value-if-retained total, as of
    2025-12-31, was 34% below the validation horizon's (Christmas) spend, and 1% below with it (docs/value.md)."""
    snapshots, label = params.snapshots, params.label
    last = as_of - timedelta(days=label.horizon_days)
    cutoffs = [last - timedelta(days=snapshots.step_days * k) for k in reversed(range(snapshots.count))]
    if snapshots.same_season_last_year and first is not None:
        for anchor in (as_of, last):
            year_before = anchor - timedelta(days=365)
            for k in (-1, 0, 1):
                cutoff = year_before + timedelta(days=snapshots.step_days * k)
                if (cutoff - timedelta(days=label.lookback_days) >= first
                        and cutoff + timedelta(days=label.horizon_days) <= last
                        and all(abs((cutoff - c).days) * 2 >= snapshots.step_days for c in cutoffs)):
                    cutoffs.append(cutoff)
    return sorted(cutoffs)


def build_training_set(
    ds: Dataset, params: Params, as_of: date, progress: Callable[[date], None] | None = None
) -> pd.DataFrame:
    """Rolling snapshots: features as of each cutoff, labels and future value from its horizon; the
    cutoffs share one write of the customer shards. Every cutoff has the same columns: the data choices
    (``data_choices``) are made once, as of ``as_of``, as ``feature_spec(context_for(ds, params, as_of))`` makes
    them (a type that appears only after a cutoff is zero there)."""
    first, _ = ds.date_range()
    choices = data_choices(ds, params, as_of)
    cutoffs = [cutoff for cutoff in snapshot_cutoffs(params, as_of, first) if cutoff >= first]
    plans = [build_plan(ds, params, cutoff, True, None, choices) for cutoff in cutoffs]
    built = ds.build_tables(plans, reuse_shards=True)  # one pass over the customer shards where the engine can
    frames = []
    for cutoff, frame in zip(cutoffs, built, strict=True):
        if progress:
            progress(cutoff)
        frame.insert(1, "cutoff", pd.Timestamp(cutoff))
        frames.append(frame)
    if not frames:
        raise DataError(
            f"no training cutoff has history: the data starts {first}, the latest cutoff is "
            f"{as_of - timedelta(days=params.label.horizon_days)}. Use a later --as-of or fewer/shorter snapshots."
        )
    return pd.concat(frames, ignore_index=True)
