"""The one rule for ids that match across tables only by integer value (pipeline/data/validate/ids.py), held as a
property: whatever the padding of each table's ids, an id of another table is the transactions' customer of the same
integer value exactly when one id of that value is on each side; otherwise it is left as written and counted."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.build.ids import id_report, rule_counts
from pipeline.core.config import load_params
from pipeline.engine.duckdb import dataset_from_frames

PARAMS = load_params(None)
# an id: its integer value and how it is written (plain, or zero-padded to a width)
ID = st.tuples(st.integers(0, 40), st.sampled_from([0, 2, 4, 6]))


def written(value: int, width: int) -> str:
    return str(value).zfill(width) if width else str(value)


def expected(tx: set[str], own: set[str]) -> tuple[dict[str, str], set[str]]:
    """The rule written plainly: each id of ``own`` not in ``tx`` -> the transactions id it is (one of that value on
    each side), and the ids left unmatched because there are several of that value on either side."""
    matched, collided = {}, set()
    for i in own - tx:
        same_tx = [t for t in tx if int(t) == int(i)]
        same_own = [o for o in own if int(o) == int(i)]
        if len(same_tx) == 1 and len(same_own) == 1:
            matched[i] = same_tx[0]
        elif same_tx:
            collided.add(i)
    return matched, collided


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tx_ids=st.lists(ID, min_size=1, max_size=12), event_ids=st.lists(ID, min_size=1, max_size=12))
def test_ids_match_by_integer_value_exactly_when_one_id_of_it_is_on_each_side(tx_ids, event_ids):
    tx = sorted({written(*i) for i in tx_ids})
    own = sorted({written(*i) for i in event_ids})
    frames = {
        "transactions": pd.DataFrame({"customer_id": tx, "timestamp": [datetime(2025, 1, 1)] * len(tx),
                                      "amount": [10.0] * len(tx)}),
        "events": pd.DataFrame({"customer_id": own, "timestamp": [datetime(2025, 1, 2)] * len(own),
                                "event_type": ["visit"] * len(own)}),
    }
    ds = dataset_from_frames(frames, PARAMS)
    matched, collided = expected(set(tx), set(own))
    # every events row kept, its id the transactions' where the rule matched it, as written otherwise
    got = sorted(r[0] for r in ds.con.execute("SELECT customer_id FROM clean_events").fetchall())
    assert got == sorted(matched.get(i, i) for i in own)
    # the transactions table is never changed
    assert sorted(r[0] for r in ds.con.execute("SELECT customer_id FROM clean_transactions").fetchall()) == tx
    counts = rule_counts(ds).get("events")
    assert (counts.matched if counts else 0) == len(matched)
    assert (counts.collided if counts else 0) == len(collided)
    report = id_report(ds)
    assert report.counts["events"] == {"ids_not_in_transactions": len(set(own) - set(tx) - set(matched)),
                                       "ids_matched_by_value": len(matched), "ids_left_unmatched_by_value": len(collided)}
    assert bool(collided) == any("not one to one" in w for w in report.warnings)


def test_integer_ids_against_zero_padded_ones_give_the_same_features():
    """The reported case: the transactions write ids zero-padded, the other tables as integers. Every customer's
    features are those of the tables written alike (before the rule, their profiles, events and invoices were lost)."""
    from pipeline.build.features import build_features
    from pipeline.data.samples.retail import generate

    tables, _ = generate(120, seed=3)

    def unpadded(ids: pd.Series) -> pd.Series:  # 00000104 as an integer column writes it: 104 (C-20 stays)
        digits = ids.str.fullmatch(r"\d+")
        return ids.where(~digits, ids.str.lstrip("0").replace("", "0"))

    assert tables["transactions"]["customer_id"].str.startswith("0").mean() > 0.5
    as_integers = {name: frame.assign(customer_id=unpadded(frame["customer_id"])) if name != "transactions"
                   else frame for name, frame in tables.items()}
    day = pd.Timestamp(tables["transactions"]["timestamp"].max()).date()
    alike = build_features(dataset_from_frames(tables, PARAMS), PARAMS, day)
    ds = dataset_from_frames(as_integers, PARAMS)
    assert rule_counts(ds)["customers"].matched > 50
    differently = build_features(ds, PARAMS, day)
    pd.testing.assert_frame_equal(differently, alike)
