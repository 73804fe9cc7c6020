"""Subscription products: the generator, renewal charges told from purchases, the subscription family."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from pipeline.build.features import PURCHASE_FAMILIES, build_features, context_for, data_choices, feature_spec
from pipeline.core.config import load_params
from pipeline.data.samples.retail import generate
from pipeline.data.samples.subscription import EVENT_RATES, generate_subscription
from pipeline.engine.duckdb import dataset_from_frames

AS_OF = date(2025, 9, 30)
CANCELLATION = ["label.kind=cancellation", "label.horizon_days=60"]


@pytest.fixture(scope="module")
def product():
    return generate_subscription(500, seed=4)


@pytest.fixture(scope="module")
def built(product):
    tables, _ = product
    p = load_params(None, CANCELLATION)
    ds = dataset_from_frames(tables, p)
    spec, notices = feature_spec(context_for(ds, p, AS_OF))
    return {"spec": spec, "notices": notices, "frame": build_features(ds, p, AS_OF, with_labels=True),
            "choices": data_choices(ds, p, AS_OF)}


def test_generator_gives_a_monthly_product_with_a_few_percent_churn_per_60_days():
    tables, truth = generate_subscription(3000, seed=1)
    assert set(tables["events"]["event_type"]) == set(EVENT_RATES)
    subs, churn_at = tables["subscriptions"], truth.customers.set_index("customer_id")["churn_at"]
    for day in ("2024-06-30", "2025-03-31", "2025-09-30"):
        start = pd.Timestamp(day) + pd.Timedelta(days=1)
        active = subs[(subs.start_date < start) & (subs.end_date.isna() | (subs.end_date >= start))]["customer_id"].unique()
        cancelled = churn_at.loc[active] < start + pd.Timedelta(days=60)
        assert 0.025 < cancelled.mean() < 0.05, (day, cancelled.mean())
    again, _ = generate_subscription(3000, seed=1)
    pd.testing.assert_frame_equal(tables["transactions"], again["transactions"])


def test_renewal_charges_are_billing_and_purchase_families_left_out(built):
    assert built["choices"]["transactions"] == "billing"
    left_out = [n for n in built["notices"] if "left out" in n]
    assert len(left_out) == 1 and "renewal charges" in left_out[0] and all(f in left_out[0] for f in PURCHASE_FAMILIES)
    families = {f.family for f in built["spec"].features}
    assert not families & set(PURCHASE_FAMILIES) and {"activity", "subscription", "payments"} <= families
    assert "days_since_last_purchase" not in built["frame"]
    assert built["frame"]["churned"].mean() > 0


def test_subscription_features_follow_what_the_generator_planted(product, built):
    _, truth = product
    frame = built["frame"].merge(truth.customers, on="customer_id")
    assert (frame["months_subscribed"] >= frame["subscription_age_days"] // 31).all()
    # basic subscribers from before 2025-03-01 had the price rise (their current row starts then); nobody else did
    rise = ((frame["subscription_plan"] == "basic") & (frame["subscription_age_days"] == (AS_OF - date(2025, 3, 1)).days)
            & (frame["months_subscribed"] > 7))
    assert rise.sum() > 10 and (frame.loc[rise, "price_rises_last_365d"] == 1).all()
    assert (frame.loc[rise, "subscription_price"] == 5.99).all()
    never_basic = (frame["plan"] != "basic") & (frame["cause"] != "downgrade")
    assert frame.loc[never_basic, "price_rises_last_365d"].eq(0).all()
    # a downgrader moved to the cheaper plan when their warning began (unless they signed up then)
    warned = ((frame["cause"] == "downgrade") & (frame["warning_start"] < pd.Timestamp(AS_OF))
              & (frame["months_subscribed"] * 30.4375 > frame["subscription_age_days"] + 31))
    assert warned.any() and (frame.loc[warned, "plan_downgrades_last_365d"] == 1).all()
    # renewals: monthly, so the last one is at most about a month old, except where payments fail
    paid = frame["days_since_last_renewal_charge"]
    assert paid.notna().all() and (paid[frame["cause"] != "payment"] <= 33).mean() > 0.99
    assert frame["renewal_charges_last_90d"].between(0, 4).all()


def test_subscription_reasons_make_sense_for_a_subscriber(built):
    spec = built["spec"]
    row = {"subscription_plan": "plus"}
    assert spec["plan_downgrades_last_365d"].reason(1.0, row) == "Moved to a cheaper plan 1 time in the last year"
    assert spec["plan_downgrades_last_365d"].reason(0.0, row) is None
    assert spec["days_since_last_renewal_charge"].reason(47.0, row) == "Last renewal paid 47 days ago: a renewal is overdue"
    assert spec["days_since_last_renewal_charge"].reason(20.0, row) is None  # a normal billing cycle is no reason
    assert spec["price_rises_last_365d"].reason(1.0, row) == "Their plan's price went up 1 time in the last year"
    assert spec["months_subscribed"].reason(3.0, row) is None  # tenure is context




def test_renewal_charges_among_purchases_are_left_out_of_the_purchase_families():
    """A retailer whose transactions also hold subscribers' monthly charges (mixed): the purchase families
    see exactly the purchases, as if the charges were not there."""
    tables, _ = generate(300, seed=9)
    p = load_params(None)
    subs = tables["subscriptions"]
    charges = pd.DataFrame([(r.customer_id, r.start_date + pd.Timedelta(days=30.4375 * k), r.price)
                            for r in subs.itertuples() for k in range(40)
                            if r.start_date + pd.Timedelta(days=30.4375 * k) < (r.end_date if pd.notna(r.end_date)
                                                                               else pd.Timestamp("2025-12-31"))],
                           columns=["customer_id", "timestamp", "amount"])
    mixed = {**tables, "transactions": pd.concat([tables["transactions"], charges], ignore_index=True)}
    ds = dataset_from_frames(mixed, p)
    assert data_choices(ds, p, AS_OF)["transactions"] == "mixed"
    _, notices = feature_spec(context_for(ds, p, AS_OF))
    assert any("renewal charges" in n and "left out of the purchase families" in n for n in notices)
    plain = build_features(dataset_from_frames(tables, p), p, AS_OF)
    with_charges = build_features(ds, p, AS_OF)
    spec, _ = feature_spec(context_for(ds, p, AS_OF))
    purchase = [f.name for f in spec.features if f.family in PURCHASE_FAMILIES and f.family != "btyd"]
    pd.testing.assert_frame_equal(plain[["customer_id", *purchase]], with_charges[["customer_id", *purchase]])
    assert with_charges["renewal_charges_last_90d"].max() >= 3
