"""Seeded generator of a subscription product (a social network with monthly renewals) whose churn is
driven by what its customers do.

How it works, and why: docs/data.md, section "pipeline/data/samples/subscription.py".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.data.samples.retail import DAY, _poisson_times, _ts

VERSION = 1
START = pd.Timestamp("2023-01-01")
END = pd.Timestamp("2025-12-31 23:59:59")
DEFAULT_AS_OF = "2025-12-31"
MONTH = 30.4375 * DAY
PLANS = np.array(["basic", "standard", "premium"])
PLAN_PRICES = np.array([4.99, 9.99, 14.99])
PRICE_RISE_AT = pd.Timestamp("2025-03-01")
RAISED_BASIC_PRICE = 5.99
# events per day at sociability 0, and how strongly sociability scales each
EVENT_RATES = {"like": (0.15, 0.5), "adview": (0.15, 0.0), "message": (0.10, 0.6), "reply": (0.08, 0.6),
               "post": (0.05, 0.7), "newfriend": (0.012, 0.5), "dislike": (0.02, 0.0), "unfriend": (0.002, 0.0)}
CAUSES = ("none", "social_fade", "conflict", "lurker", "downgrade", "payment", "silent")
CAUSE_SHARES = (0.0, 0.25, 0.15, 0.15, 0.10, 0.15, 0.20)
# multipliers of each event type's rate during a churner's warning period
WARNING_RATES = {
    "social_fade": {"post": 0.2, "message": 0.2, "reply": 0.2, "like": 0.5, "newfriend": 0.2},
    "conflict": {"dislike": 5.0, "unfriend": 8.0, "newfriend": 0.3, "message": 0.6},
    "lurker": {"post": 0.05, "reply": 0.2, "adview": 1.5},
}
HAZARD_PER_DAY = 0.0004  # cancellation hazard at sociability 0 after the first months
EARLY_HAZARD, EARLY_DAYS = 2.0, 120.0  # new subscribers: hazard x (1 + 2 exp(-tenure / 120 days))
SOCIABILITY_EFFECT = 0.6  # hazard x exp(-0.6 sociability)


@dataclass(frozen=True)
class Truth:
    """What the generator planted, for tests (not part of the data): customer_id, churn_at, cause,
    warning_start, sociability, plan."""

    customers: pd.DataFrame


def _lifetimes(rng: np.random.Generator, multiplier: np.ndarray) -> np.ndarray:
    """Days to cancellation under hazard h0 x multiplier x (1 + 2 exp(-t / 120)), by inverting the
    cumulative hazard at an exponential draw (bisection, vectorised)."""
    target = rng.exponential(1.0, multiplier.size) / (HAZARD_PER_DAY * multiplier)
    lo, hi = np.zeros_like(target), target.copy()  # cumulative (hazard / h0 m) >= t, so the root is below target
    for _ in range(60):
        mid = (lo + hi) / 2
        value = mid + EARLY_HAZARD * EARLY_DAYS * (1 - np.exp(-mid / EARLY_DAYS))
        lo, hi = np.where(value < target, mid, lo), np.where(value < target, hi, mid)
    return (lo + hi) / 2


def generate_subscription(n: int, seed: int = 42, first_id: int = 0) -> tuple[dict[str, pd.DataFrame], Truth]:
    """``n`` subscribers (ids from ``first_id``) of a monthly social-network subscription: customers, events,
    invoices, transactions (paid renewals) and subscriptions (plan changes are new rows), with their truth."""
    rng = np.random.default_rng(seed)
    t0, t_end = START.value / 1e9, END.value / 1e9
    customer_id = np.char.add("S", np.char.zfill(np.arange(first_id, first_id + n).astype(str), 8))
    signup = t0 + rng.random(n) * (t_end - t0)
    sociability = rng.normal(0, 1, n)
    plan = rng.choice(len(PLANS), n, p=[0.5, 0.35, 0.15])
    churn_at = signup + _lifetimes(rng, np.exp(-SOCIABILITY_EFFECT * sociability)) * DAY
    churns = churn_at < t_end
    shares = np.tile(np.asarray(CAUSE_SHARES), (n, 1))
    shares[plan == 0, CAUSES.index("downgrade")] = 0.0  # nothing cheaper than basic
    cumulative = np.cumsum(shares / shares.sum(axis=1, keepdims=True), axis=1)
    cause_idx = np.where(churns, np.minimum((rng.random(n)[:, None] >= cumulative).sum(axis=1), len(CAUSES) - 1), 0)
    cause = np.array(CAUSES)[cause_idx]
    warning = np.maximum(churn_at - rng.uniform(60, 120, n) * DAY, signup)
    active_end = np.minimum(churn_at, t_end)

    events = []
    for kind, (base, slope) in EVENT_RATES.items():
        rate = base * np.exp(slope * sociability - slope**2 / 2)
        factor = np.ones(n)
        for c, rates in WARNING_RATES.items():
            factor[cause == c] = rates.get(kind, 1.0)
        warned = factor != 1.0
        quiet_end = np.where(warned, warning, active_end)
        for start, end, r in ((signup, quiet_end, rate), (warning, np.where(warned, active_end, warning), rate * factor)):
            idx, t = _poisson_times(rng, start, end, r)
            events.append(pd.DataFrame({"customer_id": customer_id[idx], "timestamp": _ts(t), "event_type": kind}))
    ev = pd.concat(events, ignore_index=True)
    ev["value"] = np.nan

    # Subscription rows: the plan at signup; a downgrade at the warning's start (cause "downgrade"), a few
    # upgrades along the way; the basic plan's price rise. Each change ends a row and starts the next.
    change_at = np.where(cause == "downgrade", warning, np.inf)
    upgrade_at = np.where((plan < 2) & (rng.random(n) < 0.15), signup + rng.exponential(300, n) * DAY, np.inf)
    upgrade_at = np.where(upgrade_at < np.minimum(active_end, change_at), upgrade_at, np.inf)
    rise = PRICE_RISE_AT.value / 1e9
    rows = []
    for i in range(n):
        points = sorted({signup[i], *(x for x in (change_at[i], upgrade_at[i], rise) if signup[i] < x < active_end[i])})
        current = plan[i]
        for k, start in enumerate(points):
            if start == upgrade_at[i]:
                current = min(current + 1, 2)
            if start == change_at[i]:
                current = max(current - 1, 0)
            price = PLAN_PRICES[current] if not (current == 0 and start >= rise) else RAISED_BASIC_PRICE
            end = points[k + 1] if k + 1 < len(points) else (churn_at[i] if churns[i] else np.nan)
            rows.append((customer_id[i], start, end, PLANS[current], price))
    subs = pd.DataFrame(rows, columns=["customer_id", "start", "end", "plan", "price"])
    # merge rows where nothing changed (the price rise of a customer not on basic)
    subs["key"] = subs["plan"] + subs["price"].astype(str)
    same = (subs["customer_id"] == subs["customer_id"].shift()) & (subs["key"] == subs["key"].shift())
    first_rows = subs[~same.to_numpy()].reset_index(drop=True)
    last_rows = subs[~same.shift(-1, fill_value=False).to_numpy()].reset_index(drop=True)
    subs = first_rows.assign(end=last_rows["end"].to_numpy())
    subscriptions = pd.DataFrame({
        "customer_id": subs["customer_id"].to_numpy(), "start_date": _ts(subs["start"].to_numpy()),
        "end_date": _ts(np.nan_to_num(subs["end"].to_numpy(), nan=0)).where(subs["end"].notna().to_numpy()),
        "plan": subs["plan"].to_numpy(), "price": subs["price"].to_numpy()})

    # Monthly renewals: an invoice at each anniversary, paid within hours; late or failed for cause
    # "payment" during the warning (and now and then for anyone).
    months = np.floor((active_end - signup) / MONTH).astype(int) + 1
    i_idx = np.repeat(np.arange(n), months)
    k = np.arange(i_idx.size) - np.repeat(np.cumsum(months) - months, months)
    issued = signup[i_idx] + k * MONTH
    keep = issued < active_end[i_idx]
    i_idx, issued = i_idx[keep], issued[keep]
    price = _price_at(subs.rename(columns={"start": "s"}), customer_id[i_idx], issued)
    trouble = (cause[i_idx] == "payment") & (issued >= warning[i_idx])
    delay = np.where(trouble, rng.uniform(5, 25, i_idx.size), rng.uniform(0, 0.5, i_idx.size))
    delay = np.where(~trouble & (rng.random(i_idx.size) < 0.02), rng.uniform(3, 12, i_idx.size), delay)
    failed = (trouble & (rng.random(i_idx.size) < 0.4)) | (issued + delay * DAY > t_end)
    paid = issued + delay * DAY
    invoices = pd.DataFrame({
        "customer_id": customer_id[i_idx],
        "invoice_id": np.char.add(f"R-{first_id}-", np.arange(i_idx.size).astype(str)),
        "issued_at": _ts(issued), "due_date": _ts(issued + 7 * DAY),
        "paid_at": _ts(np.where(failed, 0, paid)).where(~failed), "amount": price})
    ok = ~failed
    transactions = pd.DataFrame({
        "customer_id": customer_id[i_idx[ok]], "timestamp": _ts(paid[ok]), "amount": price[ok],
        "order_id": invoices["invoice_id"].to_numpy()[ok], "category": "subscription"})
    customers = pd.DataFrame({"customer_id": customer_id, "signup_date": _ts(signup).dt.normalize(),
                              "region": np.array(["north", "south", "east", "west"])[rng.integers(0, 4, n)]})
    truth = pd.DataFrame({"customer_id": customer_id, "churn_at": _ts(np.where(churns, churn_at, 0)).where(churns),
                          "cause": cause, "warning_start": _ts(warning).where(churns), "sociability": sociability,
                          "plan": PLANS[plan]})
    tables = {"transactions": transactions.sort_values(["timestamp", "customer_id"], ignore_index=True),
              "customers": customers, "events": ev.sort_values(["timestamp", "customer_id"], ignore_index=True),
              "invoices": invoices, "subscriptions": subscriptions}
    return tables, Truth(truth)


def _price_at(subscriptions: pd.DataFrame, customers: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The price of each customer's subscription row in force at each time (the latest row started by then)."""
    rows = subscriptions.sort_values(["s", "customer_id"])
    left = pd.DataFrame({"customer_id": customers, "s": times, "order": np.arange(times.size)}).sort_values("s")
    merged = pd.merge_asof(left, rows[["customer_id", "s", "price"]], on="s", by="customer_id", direction="backward")
    return merged.sort_values("order")["price"].to_numpy()


def iter_chunks(n_customers: int, seed: int = 42, chunk_size: int = 200_000) -> Iterator[dict[str, pd.DataFrame]]:
    """The tables in chunks of customers, each with its own derived seed (same output for the same seed)."""
    for k, first in enumerate(range(0, n_customers, chunk_size)):
        tables, _ = generate_subscription(min(chunk_size, n_customers - first), seed * 100_003 + k, first_id=first)
        yield tables
