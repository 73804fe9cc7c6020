"""The feature contract and the customer shards on a subscription product (cancellation labels): the activity
and subscription families, which the default retail sample covers only for a retailer."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from pipeline.build import contracts
from pipeline.build.features import build_features
from pipeline.core.config import load_params
from pipeline.data.samples.subscription import generate_subscription
from pipeline.engine.duckdb import dataset_from_frames

pytestmark = pytest.mark.slow

AS_OF = date(2025, 9, 30)
CANCELLATION = ["label.kind=cancellation", "label.horizon_days=60"]


@pytest.fixture(scope="module")
def product():
    return generate_subscription(500, seed=4)


def test_contract_holds_for_the_subscription_product(product):
    """No look-ahead, determinism, metadata and sentences for the activity and subscription families on a
    subscription product with cancellation labels (the default sample covers them for a retailer)."""
    tables, _ = product
    p = load_params(None, CANCELLATION + ["features.event_ratios=[{numerator: dislike, denominator: like}]",
                                          "features.risky_event_types=[dislike, unfriend]"])
    report = contracts.check_features(tables, p, AS_OF)
    ours = [f for f in report.findings if f.family in ("activity", "subscription") or f.family is None]
    assert ours == [], ours[:5]
    assert {f.family for f in report.spec.features} >= {"activity", "subscription"}


def test_customer_shards_give_the_same_subscription_table(product):
    tables, _ = product
    one = load_params(None, CANCELLATION)
    many = load_params(None, CANCELLATION + [f"engine.shard_rows={len(tables['transactions']) // 5}"])
    frames = [build_features(dataset_from_frames(tables, p), p, AS_OF, with_labels=True, reuse_shards=reuse)
              for p, reuse in ((one, False), (many, False), (many, True))]
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)
    pd.testing.assert_frame_equal(frames[0], frames[2], check_exact=True)
