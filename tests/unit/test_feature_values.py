"""The transaction families' values against a plain pandas computation of their documented definitions.

The engine computes purchase days, gaps and orders in shared aggregate passes (purchase lines in one
window, flagged where an order or a purchase day starts); this checks the result, customer by customer, on
seeded data built to hit the awkward cases: several orders on one day, orders of several lines, one order
id on two days (two orders), returns, customers with one purchase or only returns, and rows after the
as-of date.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipeline.build.features import build_features
from pipeline.core.config import load_params
from pipeline.engine.duckdb import dataset_from_frames

AS_OF = date(2025, 6, 30)


def _transactions(seed: int, customers: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    order = 0
    for c in range(customers):
        cid = f"{c:05d}"  # ids kept as text, leading zeros included
        if c % 17 == 0:  # only returns
            rows.append((cid, pd.Timestamp("2025-05-01 10:00"), -20.0, f"r{order}", 1, "books", 0.0, True))
            order += 1
            continue
        n_orders = 1 if c % 11 == 0 else int(rng.integers(2, 14))
        days = rng.integers(0, 700, n_orders)
        if n_orders > 3:
            days[1] = days[0]  # two orders on one day
        for d in days:
            ts = pd.Timestamp(AS_OF) - pd.Timedelta(days=int(d) - 30) + pd.Timedelta(hours=int(rng.integers(0, 24)))
            for _ in range(int(rng.integers(1, 4))):  # order lines
                amount = float(np.round(rng.uniform(5, 80), 2))
                rows.append((cid, ts, amount, f"o{order}", int(rng.integers(1, 4)), str(rng.choice(["a", "b", "c"])),
                             float(np.round(rng.uniform(0, 3), 2)), False))
            if rng.random() < 0.1:  # a refund of part of that order, a few days later
                rows.append((cid, ts + pd.Timedelta(days=3), -5.0, None, 1, "a", 0.0, True))
            order += 1
        if c % 7 == 0:  # a late line of the customer's first order, two days on: an order of its own
            first = next(r for r in rows if r[0] == cid and not r[7])
            rows.append((cid, first[1] + pd.Timedelta(days=2), 12.5, first[3], 1, "c", 0.0, False))
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "order_id", "quantity", "category",
                                       "discount", "is_return"])


def _expected(tx: pd.DataFrame, windows: list[int], trend: int) -> pd.DataFrame:
    """The documented definitions, written directly in pandas."""
    as_of = pd.Timestamp(AS_OF)
    tx = tx[tx["timestamp"] < as_of + pd.Timedelta(days=1)].copy()
    tx["age"] = (as_of - tx["timestamp"].dt.normalize()).dt.days
    tx["purchase"] = ~(tx["is_return"] | (tx["amount"] < 0))
    # an order is an order id on one day
    orders = tx[tx["purchase"]].groupby(["customer_id", "order_id", "age"]).agg(
        amount=("amount", "sum"), quantity=("quantity", "sum"), discount=("discount", "sum")).reset_index(level="age")
    out = {}
    for cid, o in orders.groupby(level="customer_id"):
        days = np.sort(o["age"].unique())  # distinct purchase days, most recent first
        gaps = np.diff(days)
        year = o[o["age"] < 365]
        row = {
            "days_since_last_purchase": days[0],
            "days_since_previous_to_last_purchase": days[1] if len(days) > 1 else np.nan,
            "orders_lifetime": len(o),
            "orders_per_month_lifetime": len(o) * 30.0 / max(days[-1], 30),
            "days_since_first_purchase": days[-1],
            "active_months_last_365d": len({d // 30 for d in days if d < 360}),
            "mean_days_between_purchases": gaps.mean() if len(gaps) else np.nan,
            "std_days_between_purchases": gaps.std(ddof=1) if len(gaps) > 1 else np.nan,
            "average_order_value_lifetime": o["amount"].mean(),
            "items_per_order_last_365d": year["quantity"].mean() if len(year) else np.nan,
            "average_order_value_last_365d": year["amount"].mean() if len(year) else np.nan,
            f"orders_change_last_{trend}d": int((o["age"] < trend).sum() - ((o["age"] >= trend) & (o["age"] < 2 * trend)).sum()),
            f"average_order_value_last_{trend}d": o.loc[o["age"] < trend, "amount"].mean(),
            f"average_order_value_before_last_{trend}d": o.loc[o["age"] >= trend, "amount"].mean(),
        }
        row[f"average_order_value_change_ratio_{trend}d"] = (row[f"average_order_value_last_{trend}d"]
                                                            / row[f"average_order_value_before_last_{trend}d"])
        row["gap_ratio_since_last_purchase"] = days[0] / gaps.mean() if len(gaps) and gaps.mean() else np.nan
        for w in windows:
            row[f"orders_last_{w}d"] = int((o["age"] < w).sum())
        out[cid] = row
    frame = pd.DataFrame.from_dict(out, orient="index")
    for cid, t in tx.groupby("customer_id"):
        year = t[t["age"] < 365]
        frame.loc[cid, "spend_lifetime"] = t["amount"].sum()
        for w in windows:
            frame.loc[cid, f"spend_last_{w}d"] = t.loc[t["age"] < w, "amount"].sum()
        frame.loc[cid, "returns_last_365d"] = (~year["purchase"]).sum()
        bought = year.loc[year["purchase"], "amount"].sum()
        returned = year.loc[~year["purchase"], "amount"].abs().sum()
        frame.loc[cid, "returned_spend_share_last_365d"] = returned / bought if bought else 0
        frame.loc[cid, "distinct_categories_last_365d"] = year.loc[year["purchase"], "category"].nunique()
    return frame


@pytest.mark.parametrize("seed", [1, 2])
def test_transaction_families_match_a_plain_pandas_computation(seed):
    params = load_params(None)
    tx = _transactions(seed)
    built = build_features(dataset_from_frames({"transactions": tx}, params), params, AS_OF).set_index("customer_id")
    expected = _expected(tx, list(params.features.windows_days), params.features.trend_window_days)
    population = expected.index[expected["days_since_last_purchase"] < params.label.lookback_days]
    assert sorted(built.index) == sorted(population)  # the population: a purchase in the lookback window
    assert "00000" not in built.index  # returns only: not a buying customer
    expected = expected.loc[built.index]
    assert (expected["orders_lifetime"] > expected["orders_last_365d"]).any()  # history beyond the windows
    for column in expected.columns:
        np.testing.assert_allclose(built[column].to_numpy(float), expected[column].to_numpy(float), rtol=1e-9,
                                   atol=1e-9, err_msg=column)


def test_an_aggregate_declared_by_two_families_is_refused(monkeypatch):
    from features.registry import FAMILIES, Family

    params = load_params(None)
    clash = Family("clash", ("transactions",), lambda ctx: [],
                   aggregates=lambda ctx: {"purchases": ["count(*) AS orders_lifetime"]})
    monkeypatch.setitem(FAMILIES, "clash", clash)
    with pytest.raises(ValueError, match="orders_lifetime"):
        build_features(dataset_from_frames({"transactions": _transactions(3, 10)}, params), params, AS_OF)
