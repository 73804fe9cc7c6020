"""Seeded generator of realistic customer histories with planted, observable churn causes.

How it works, and why: docs/data.md, section "pipeline/data/samples/retail.py".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError

# Bumped whenever the same seed starts giving different data, so that cached copies (benchmarks) are rebuilt;
# tests/unit/test_sample_data.py holds the fingerprint of this version's output and fails until it is.
VERSION = 5
START = pd.Timestamp("2023-01-01")
END = pd.Timestamp("2025-12-31 23:59:59")
DEFAULT_AS_OF = "2025-12-31"
CAUSES = ("none", "complaints", "late_payments", "fading_visits", "detractor", "loyalty_lapse",
          "declining_spend", "silent")
# late payments and a loyalty lapse can only befall subscribers and members (about half the customers each):
# their larger shares make each cause about as common among churners as the others, so each can be learned
CAUSE_SHARES = (0.0, 0.16, 0.28, 0.14, 0.14, 0.24, 0.18, 0.12)
CATEGORIES = np.array(["music", "books", "games", "video", "electronics", "home", "toys", "garden"])
REGIONS = np.array(["north", "south", "east", "west"])
SEGMENTS = np.array(["consumer", "small_business", "enterprise"])
PLANS = np.array(["basic", "plus", "premium"])
PLAN_PRICES = np.array([9.99, 19.99, 39.99])
DAY = 86400.0


@dataclass(frozen=True)
class Truth:
    """What the generator planted, for tests (not part of the data)."""

    # customer_id, churn_at, cause, warning_start, purchase_rate (per day, before seasonality), basket
    customers: pd.DataFrame
    seasonality: float = 1.0  # the strength of the seasonal curve the purchases followed (:func:`season_curve`)
    # past campaigns (``campaigns.simulate``): one row per listed customer and campaign, with the true effects
    campaigns: pd.DataFrame | None = None


# A line's amount is basket x lognormal(0, 0.35): its mean is basket x exp(0.35^2 / 2); 4% of lines come back.
MEAN_AMOUNT_FACTOR = float(np.exp(0.35**2 / 2))
RETURN_SHARE = 0.04


def true_value_if_retained(truth: Truth, as_of: pd.Timestamp | str, horizon_days: int) -> pd.Series:
    """Each customer's expected net spend in (as_of, as_of + horizon] had they stayed active: their own
    purchase rate through the season's curve, times their mean amount, less returns. Known only to the
    generator (the data files never hold it); tests judge value columns against it."""
    start = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    days = start.value / 1e9 + DAY * (np.arange(horizon_days) + 0.5)
    purchase_days = float(season_curve(days, truth.seasonality).sum())  # expected purchases per unit of daily rate
    c = truth.customers
    value = c["purchase_rate"] * purchase_days * c["basket"] * MEAN_AMOUNT_FACTOR * (1 - RETURN_SHARE)
    return pd.Series(value.to_numpy(), index=c["customer_id"], name="true_value_if_retained")


def _poisson_times(rng: np.random.Generator, start: np.ndarray, end: np.ndarray, rate: np.ndarray):
    """Homogeneous Poisson event times (seconds) per customer on [start, end); returns (index, times)."""
    duration = np.clip(end - start, 0, None)
    counts = rng.poisson(rate * duration / DAY)
    idx = np.repeat(np.arange(len(start)), counts)
    times = start[idx] + rng.random(idx.size) * duration[idx]
    return idx, times


def _draw_causes(rng: np.random.Generator, member: np.ndarray, subscriber: np.ndarray) -> np.ndarray:
    """A churn cause per customer (index into CAUSES), drawn only among the causes that can show in their data:
    late payments need invoices (a subscription), a loyalty lapse needs a membership."""
    shares = np.tile(np.asarray(CAUSE_SHARES), (member.size, 1))
    shares[~subscriber, CAUSES.index("late_payments")] = 0.0
    shares[~member, CAUSES.index("loyalty_lapse")] = 0.0
    cumulative = np.cumsum(shares / shares.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((rng.random(member.size)[:, None] >= cumulative).sum(axis=1), len(CAUSES) - 1)


# The year of a shop: purchases peak before Christmas and lull in the summer holidays. At strength 1 a customer
# buys 3 times as often in mid-December as on an ordinary day and a third as often in late July, so the share
# of customers with no purchase in the 90 days after a cutoff moves by about 15 points between a cutoff at the
# start of the summer (51%) and one before Christmas (36%) (docs/models.md, "Seasons"); 0 switches seasons off.
PEAK_DAY, PEAK_WIDTH, PEAK_HEIGHT = 346, 22.0, 2.0  # 12 December
LULL_DAY, LULL_WIDTH, LULL_DEPTH = 205, 40.0, 0.7  # 24 July
DEFAULT_SEASONALITY = 1.0


def _bump(day_of_year: np.ndarray, centre: float, width: float) -> np.ndarray:
    distance = (day_of_year - centre + 365.25 / 2) % 365.25 - 365.25 / 2  # across the turn of the year
    return np.exp(-0.5 * (distance / width) ** 2)


def season_curve(times: np.ndarray, strength: float = DEFAULT_SEASONALITY) -> np.ndarray:
    """The purchase rate's multiplier at ``times`` (seconds since 1970): 1 on an ordinary day, a year-end peak and
    a summer lull scaled by ``strength`` (0: none), never below 0.05."""
    day_of_year = (np.asarray(times, float) / DAY) % 365.25
    shape = PEAK_HEIGHT * _bump(day_of_year, PEAK_DAY, PEAK_WIDTH) - LULL_DEPTH * _bump(day_of_year, LULL_DAY, LULL_WIDTH)
    return np.maximum(1.0 + strength * shape, 0.05)


def check_seasonality(strength: float) -> None:
    """A strength the curve can take: 0 (none) to 10."""
    if not 0 <= strength <= 10:
        raise DataError(f"--seasonality {strength:g}: use 0 (no seasons) to 10; 1 is the default year "
                        "(a peak before Christmas, a summer lull)")


def _ts(seconds: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(np.round(seconds).astype("int64"), unit="s"))


def generate_chunk(
    n: int, seed: int, first_id: int = 0, transactions_only: bool = False, seasonality: float = DEFAULT_SEASONALITY,
    campaigns: int = 0,
) -> tuple[dict[str, pd.DataFrame], Truth]:
    """Generate ``n`` customers (ids from ``first_id``) and all five tables (or only transactions) for them;
    ``seasonality`` scales the year's peak and lull of purchases (:func:`season_curve`); ``campaigns`` past
    retention campaigns change who churns before any purchase is drawn (``campaigns.simulate``, own random
    stream: without campaigns the data is as before)."""
    rng = np.random.default_rng(seed)
    t0, t_end = START.value / 1e9, END.value / 1e9
    ids = np.arange(first_id, first_id + n)
    # Mixed id formats that must survive as text: zero-padded numbers and prefixed codes.
    customer_id = np.where(ids % 5 == 0, np.char.add("C-", ids.astype(str)), np.char.zfill(ids.astype(str), 8))

    # Customers keep arriving until the end, as in a live business: a scoring snapshot then holds as many
    # new customers as the training snapshots did, and tenure does not look like drift.
    signup = t0 + rng.random(n) * (t_end - t0)
    rate = rng.gamma(2.0, 1 / 50.0, n)  # purchases per day, mean one every ~25 days
    # Baskets are heavy-tailed, as real customer values are (the top fifth of customers bring about half the
    # revenue): which customers are worth calling then depends on value, not only on risk.
    basket = rng.lognormal(3.4, 1.0, n)
    member = rng.random(n) < 0.5
    subscriber = rng.random(n) < 0.45
    lifetime = rng.exponential(700 * DAY, n)
    churn_at = signup + lifetime
    churns = churn_at < t_end
    cause_idx = np.where(churns, _draw_causes(rng, member, subscriber), 0)
    cause = np.array(CAUSES)[cause_idx]
    warning = np.maximum(churn_at - rng.uniform(60, 120, n) * DAY, signup)
    campaign_truth = None
    if campaigns:
        from pipeline.data.samples.campaigns import simulate

        churn_at, cause, warning, campaign_truth = simulate(np.random.default_rng([seed, 27]), customer_id, signup,
                                                            churn_at, cause, warning, rate, campaigns, t_end)
        churns = churn_at < t_end
    active_end = np.minimum(churn_at, t_end)

    def has(c: str) -> np.ndarray:
        return cause == c

    # Purchases: Poisson process thinned by seasonality and, for declining spend, a fading rate.
    top = 1.0 + seasonality * PEAK_HEIGHT  # the curve's highest multiplier
    idx, t = _poisson_times(rng, signup, active_end, rate * top)
    in_warn = t >= warning[idx]
    progress = np.clip((t - warning[idx]) / np.maximum(active_end[idx] - warning[idx], 1), 0, 1)
    keep = season_curve(t, seasonality) / top * np.where(has("declining_spend")[idx] & in_warn, 1 - 0.85 * progress, 1.0)
    keep = rng.random(idx.size) < keep
    idx, t, in_warn = idx[keep], t[keep], in_warn[keep]
    spend_factor = np.where(has("declining_spend")[idx] & in_warn, 0.35, 1.0)
    amount = np.round(basket[idx] * rng.lognormal(0, 0.35, idx.size) * spend_factor, 2)
    quantity = 1 + rng.poisson(amount / 30)
    discount = np.where(rng.random(idx.size) < 0.2, np.round(amount * rng.uniform(0.05, 0.3, idx.size), 2), 0.0)
    order_id = first_id * 1000 + np.arange(idx.size)
    is_ret = rng.random(idx.size) < 0.04
    r_idx, r_t = idx[is_ret], t[is_ret] + rng.uniform(2, 25, is_ret.sum()) * DAY
    r_ok = r_t < t_end
    tx = pd.DataFrame({
        "customer_id": np.concatenate([customer_id[idx], customer_id[r_idx[r_ok]]]),
        "timestamp": _ts(np.concatenate([t, r_t[r_ok]])),
        "amount": np.concatenate([amount, -amount[is_ret][r_ok]]),
        "order_id": np.concatenate([order_id, order_id[is_ret][r_ok]]).astype(str),
        "quantity": np.concatenate([quantity, quantity[is_ret][r_ok]]).astype(float),
        "category": CATEGORIES[rng.integers(0, len(CATEGORIES), idx.size + r_ok.sum())],
        "discount": np.concatenate([discount, np.zeros(r_ok.sum())]),
        "is_return": np.concatenate([np.zeros(idx.size, bool), np.ones(r_ok.sum(), bool)]),
    })

    if transactions_only:
        return {"transactions": tx}, Truth(pd.DataFrame({"customer_id": customer_id, "cause": cause}), seasonality)

    # Events: each kind a Poisson process with a base rate and, for its cause, a warning-period rate.
    events = []

    def emit(kind: str, start, end, rate_per_day, values=None):
        e_idx, e_t = _poisson_times(rng, start, end, rate_per_day)
        val = values(e_idx, e_t) if values is not None else np.full(e_idx.size, np.nan)
        events.append(pd.DataFrame({"customer_id": customer_id[e_idx], "timestamp": _ts(e_t),
                                    "event_type": kind, "value": val}))

    visit_rate = rate * 2.5 + 0.08  # about three visits a month for a typical customer
    emit("visit", signup, np.minimum(np.where(has("fading_visits"), warning, active_end), t_end), visit_rate)
    emit("visit", warning, np.where(has("fading_visits"), active_end, warning), visit_rate * 0.1)
    emit("visit", active_end, np.full(n, t_end), np.full(n, 0.004))
    emit("email_open", signup, active_end, np.full(n, 0.04))
    # A ticket's value is the hours to the first response: about 6 as a rule, several days for a customer on
    # their way out over complaints.
    def response_hours(e_idx, e_t):
        slow = has("complaints")[e_idx] & (e_t >= warning[e_idx])
        return np.round(np.where(slow, rng.lognormal(np.log(60), 0.5, e_idx.size),
                                 rng.lognormal(np.log(6), 0.6, e_idx.size)), 1)

    emit("support_ticket", signup, active_end, np.full(n, 0.01), response_hours)
    emit("support_ticket", warning, np.where(has("complaints"), active_end, warning), np.full(n, 0.06), response_hours)
    emit("complaint", signup, active_end, np.full(n, 0.0015))
    emit("complaint", warning, np.where(has("complaints"), active_end, warning), np.full(n, 0.05))

    def nps(e_idx, e_t):
        bad = has("detractor")[e_idx] & (e_t >= warning[e_idx])
        return np.clip(np.round(np.where(bad, rng.normal(2.5, 1.5, e_idx.size), rng.normal(8.4, 1.4, e_idx.size))), 0, 10)

    def csat(e_idx, e_t):
        bad = has("detractor")[e_idx] & (e_t >= warning[e_idx])
        return np.clip(np.round(np.where(bad, rng.normal(1.8, 0.8, e_idx.size), rng.normal(4.3, 0.7, e_idx.size))), 1, 5)

    detractor_warn_end = np.where(has("detractor"), active_end, warning)
    emit("nps", signup, active_end, np.full(n, 1 / 120), nps)
    emit("nps", warning, detractor_warn_end, np.full(n, 1 / 25), nps)
    emit("csat", signup, active_end, np.full(n, 1 / 90), csat)
    emit("csat", warning, detractor_warn_end, np.full(n, 1 / 30), csat)
    emit("review", signup, active_end, np.full(n, 1 / 200),
         lambda i, _: np.clip(np.round(rng.normal(4.0, 1.0, i.size)), 1, 5))
    # Loyalty: members earn points with each purchase and redeem now and then; a lapse stops both.
    lapse_from = np.where(has("loyalty_lapse"), warning, np.inf)
    earn = member[idx] & (t < lapse_from[idx])
    events.append(pd.DataFrame({"customer_id": customer_id[idx[earn]], "timestamp": _ts(t[earn] + 60),
                                "event_type": "loyalty_points_earned", "value": np.round(amount[earn])}))
    emit("loyalty_points_redeemed", np.where(member, signup, np.inf), np.minimum(active_end, lapse_from),
         np.full(n, 1 / 15), lambda i, _: np.round(rng.uniform(50, 500, i.size)))
    emit("webinar_attended", signup, active_end, np.full(n, 1 / 400))  # a type the contract does not know
    ev = pd.concat(events, ignore_index=True)

    # Subscriptions and their monthly invoices.
    sub_end = np.where(churns, churn_at, np.nan)
    plan_idx = rng.integers(0, len(PLANS), n)
    subs = pd.DataFrame({
        "customer_id": customer_id[subscriber],
        "start_date": _ts(signup[subscriber]),
        "end_date": _ts(np.nan_to_num(sub_end[subscriber], nan=0)).where(~np.isnan(sub_end[subscriber])),
        "plan": PLANS[plan_idx[subscriber]],
        "price": PLAN_PRICES[plan_idx[subscriber]],
    })
    months = np.floor((np.minimum(active_end, t_end) - signup) / (30.4375 * DAY)).astype(int) + 1
    months = np.where(subscriber, np.maximum(months, 0), 0)
    i_idx = np.repeat(np.arange(n), months)
    k = np.arange(i_idx.size) - np.repeat(np.cumsum(months) - months, months)
    issued = signup[i_idx] + k * 30.4375 * DAY
    due = issued + 14 * DAY
    late_cause = has("late_payments")[i_idx] & (issued >= warning[i_idx] - 30 * DAY)
    delay = np.where(late_cause, rng.normal(25, 12, i_idx.size), rng.normal(-5, 4, i_idx.size))
    delay = np.where(~late_cause & (rng.random(i_idx.size) < 0.03), rng.uniform(1, 10, i_idx.size), delay)
    paid = due + delay * DAY
    unpaid = (late_cause & (rng.random(i_idx.size) < 0.35)) | (paid > t_end)
    inv = pd.DataFrame({
        "customer_id": customer_id[i_idx],
        "invoice_id": np.char.add("INV-", np.arange(first_id * 100, first_id * 100 + i_idx.size).astype(str)),
        "issued_at": _ts(issued),
        "due_date": _ts(due),
        "paid_at": _ts(np.where(unpaid, 0, paid)).where(~unpaid),
        "amount": PLAN_PRICES[plan_idx[i_idx]],
    })
    inv = inv[inv["issued_at"] <= END].reset_index(drop=True)

    customers = pd.DataFrame({
        "customer_id": customer_id,
        "signup_date": _ts(signup).dt.normalize(),
        "loyalty_member": member,
        "region": REGIONS[rng.integers(0, len(REGIONS), n)],
        "segment": SEGMENTS[rng.choice(len(SEGMENTS), n, p=[0.7, 0.2, 0.1])],
    })
    truth = pd.DataFrame({"customer_id": customer_id, "churn_at": _ts(np.where(churns, churn_at, 0)).where(churns),
                          "cause": cause, "warning_start": _ts(warning).where(churns),
                          "purchase_rate": rate, "basket": basket})
    tables = {"transactions": tx.sort_values(["timestamp", "customer_id"], ignore_index=True), "customers": customers,
              "events": ev.sort_values(["timestamp", "customer_id"], ignore_index=True), "invoices": inv,
              "subscriptions": subs}
    return tables, Truth(truth, seasonality, campaign_truth)


def generate(n_customers: int, seed: int = 42, seasonality: float = DEFAULT_SEASONALITY, campaigns: int = 0
             ) -> tuple[dict[str, pd.DataFrame], Truth]:
    """All five tables for ``n_customers`` (in memory; for large sizes use :func:`iter_chunks`), after
    ``campaigns`` past retention campaigns (their truth in ``Truth.campaigns``)."""
    tables, truth = generate_chunk(n_customers, seed, seasonality=seasonality, campaigns=campaigns)
    return tables, truth


def iter_chunks(
    n_customers: int, seed: int = 42, chunk_size: int = 200_000, transactions_only: bool = False,
    seasonality: float = DEFAULT_SEASONALITY, campaigns: int = 0, truths: list[Truth] | None = None,
) -> Iterator[dict[str, pd.DataFrame]]:
    """Generate in chunks of customers, each with its own derived seed (same output for the same seed); each
    chunk's truth is appended to ``truths`` when given."""
    for k, first in enumerate(range(0, n_customers, chunk_size)):
        size = min(chunk_size, n_customers - first)
        tables, truth = generate_chunk(size, seed * 100_003 + k, first_id=first, transactions_only=transactions_only,
                                       seasonality=seasonality, campaigns=campaigns)
        if truths is not None:
            truths.append(truth)
        yield tables
