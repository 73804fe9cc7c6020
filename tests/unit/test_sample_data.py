"""The generator plants causes that can show in the data, and keeps customers arriving until the end."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.sample_data import CAUSES, END, START, generate


def test_every_cause_is_one_the_customer_can_show(sample_with_truth):
    tables, truth = sample_with_truth
    people = truth.customers.merge(tables["customers"], on="customer_id")
    people["subscriber"] = people["customer_id"].isin(tables["subscriptions"]["customer_id"])
    churners = people[people["churn_at"].notna()]
    assert set(churners["cause"]) == set(CAUSES) - {"none"}
    assert churners.loc[churners["cause"] == "late_payments", "subscriber"].all()
    assert churners.loc[churners["cause"] == "loyalty_lapse", "loyalty_member"].all()
    # the restriction moves those causes' shares to the others rather than dropping churners
    assert (people.loc[people["churn_at"].isna(), "cause"] == "none").all()
    assert (churners["cause"] != "none").all()


def test_signups_continue_to_the_end():
    """A scoring snapshot holds about as many new customers as a training snapshot (no drift in tenure)."""
    tables, _ = generate(4000, seed=3)
    signup = tables["customers"]["signup_date"]
    assert signup.min() >= START and signup.max() <= END
    years = (END - START) / pd.Timedelta(days=365.25)
    per_quarter = [((signup > q - pd.Timedelta(days=91)) & (signup <= q)).sum()
                   for q in (END - pd.Timedelta(days=365), END)]
    expected = len(signup) / years / 4
    assert np.allclose(per_quarter, expected, rtol=0.2), (per_quarter, expected)
