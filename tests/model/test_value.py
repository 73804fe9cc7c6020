"""Value columns on data whose true values are known: churn counted once, a call list that finds the value
lost to churn, and lifetime value's arithmetic."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.value import btyd_baseline, lifetime_value
from pipeline.core.config import load_params
from pipeline.data.samples.retail import generate, true_value_if_retained

AS_OF = date(2025, 9, 30)  # the horizon after it is in the data: who churned is known
HORIZON = 90


@pytest.fixture(scope="module")
def known_values():
    """5,000 generated customers, a model trained as of AS_OF, the risk list at AS_OF beside each customer's
    true value if retained (from the generator, never in the data) and whether they churned in the horizon."""
    from pipeline.build.features import build_features, build_training_set, context_for, feature_spec
    from pipeline.engine.duckdb import dataset_from_frames
    from pipeline.scoring.score import score
    from pipeline.training.train import train_models

    params = load_params(None, ["tuning.n_trials=0"])
    tables, truth = generate(5000, seed=11)
    ds = dataset_from_frames(tables, params)
    spec, _ = feature_spec(context_for(ds, params, AS_OF))
    result = train_models(build_training_set(ds, params, AS_OF), spec, params)
    features = build_features(ds, params, AS_OF, with_labels=True)
    scored = score(features.drop(columns=["churned", "future_value"]), result.bundle, AS_OF, params.scoring, "t",
                   params.targeting, params.value, params.seed)
    risk = scored.risk_list.merge(features[["customer_id", "churned", "future_value"]], on="customer_id")
    risk["true_value"] = risk["customer_id"].map(true_value_if_retained(truth, AS_OF, HORIZON)).to_numpy()
    return {"risk": risk, "result": result, "features": features, "params": params}


def _capture(risk: pd.DataFrame, ranking: np.ndarray, share: float = 0.10) -> float:
    """Share of the value lost to churn (churners' true value if retained) held by the top ``share``."""
    lost = (risk["churned"] * risk["true_value"]).to_numpy()
    top = np.argsort(-np.asarray(ranking, float), kind="stable")[: int(round(share * len(risk)))]
    return float(lost[top].sum() / lost.sum())


def test_the_data_files_do_not_hold_the_true_value():
    tables, truth = generate(50, seed=1)
    assert {"purchase_rate", "basket"} <= set(truth.customers.columns)
    for frame in tables.values():
        assert not {"purchase_rate", "basket", "true_value_if_retained"} & set(frame.columns)


@pytest.mark.slow
def test_churn_is_counted_once_in_value_at_risk(known_values):
    """Value if retained must not shrink with churn risk: among customers of equal true value, the likeliest
    churners are not worth less if they stay. (A model of everyone's spend learns 0 for churners: its value
    falls with risk, and multiplying it by the probability counts churn twice.)"""
    risk = known_values["risk"]
    quintile = pd.qcut(risk["churn_probability"].rank(method="first"), 5, labels=False)

    def log_ratio_by_risk(column: str) -> pd.Series:  # median log(value / true value) per fifth of churn risk
        return np.log(risk[column].clip(lower=1e-3) / risk["true_value"]).groupby(quintile).median()

    retained, expected = log_ratio_by_risk("value_if_retained"), log_ratio_by_risk("expected_value")
    # where customers like them are seen staying (the four safer fifths), the same scale whatever the risk
    assert retained.iloc[:4].max() - retained.iloc[:4].min() < np.log(1.5), retained
    # the riskiest fifth (p near 1, mostly gone already) is under-valued, but within a factor of 3, where the
    # old definition (everyone's expected spend, churners' zeros included) is near zero: churn priced twice
    assert retained.iloc[-1] > np.log(1 / 3), retained
    assert expected.iloc[-1] < retained.iloc[-1] - np.log(50), expected
    np.testing.assert_allclose(risk["value_at_risk"], risk["churn_probability"] * risk["value_if_retained"])


@pytest.mark.slow
def test_value_if_retained_ranks_the_true_values(known_values):
    risk = known_values["risk"]
    # (0.86-0.87 before the generator's seasons; a 3x pre-Christmas peak makes the level of spend harder: 0.83)
    assert risk["value_if_retained"].corr(risk["true_value"], method="spearman") > 0.8


@pytest.mark.slow
def test_top_tenth_by_value_at_risk_finds_most_of_the_value_lost_to_churn(known_values):
    risk = known_values["risk"]
    by_value_at_risk = _capture(risk, risk["value_at_risk"])
    by_probability = _capture(risk, risk["churn_probability"])
    oracle = _capture(risk, risk["churned"] * risk["true_value"])
    assert by_value_at_risk >= 0.60, (by_value_at_risk, by_probability, oracle)
    assert by_value_at_risk > 6 * 0.10  # six times a random list
    assert by_value_at_risk <= oracle


@pytest.mark.slow
def test_every_training_run_judges_value_if_retained_against_btyd(known_values):
    table = known_values["result"].value_table
    assert list(table.index) == ["value_model", "btyd_gamma_gamma"]
    assert {"spearman", "top20_revenue_capture", "total_error", "customers"} <= set(table.columns)
    assert table.loc["value_model", "spearman"] > 0.5 and abs(table.loc["value_model", "total_error"]) < 0.5


def test_lifetime_value_is_the_discounted_sum_of_retained_periods():
    p, v = np.array([0.2]), np.array([100.0])
    # 12 months at 90-day periods: 4 full periods and a partial fifth of (365.25 - 360) / 90
    periods = [(1.0, k) for k in range(1, 5)] + [((365.25 - 360) / 90, 5)]
    by_hand = sum(share * 100 * 0.8**k * 1.1 ** (-(k * 90) / 365.25) for share, k in periods)
    assert lifetime_value(p, v, 90, 12, 0.10)[0] == pytest.approx(by_hand)
    assert lifetime_value(np.array([1.0]), v, 90, 12, 0.1)[0] == 0.0  # certain to churn: nothing ahead
    assert lifetime_value(np.array([0.0]), v, 90, 12, 0.0)[0] == pytest.approx(100 * 365.25 / 90)
    assert lifetime_value(p, v, 90, 24, 0.1)[0] > lifetime_value(p, v, 90, 12, 0.1)[0]
    assert lifetime_value(p, v, 90, 12, 0.2)[0] < lifetime_value(p, v, 90, 12, 0.1)[0]


@pytest.mark.slow
def test_risk_list_lifetime_value_follows_its_churn_probability_and_value(known_values):
    risk, params = known_values["risk"], known_values["params"]
    expected = lifetime_value(risk["churn_probability"], risk["value_if_retained"], HORIZON,
                              params.value.lifetime_months, params.value.annual_discount_rate,
                              known_values["result"].bundle.metadata["value_persistence"])
    np.testing.assert_allclose(risk["lifetime_value"], expected)


@pytest.mark.slow
def test_btyd_baseline_values_from_feature_rows(known_values):
    features = known_values["features"]
    base = btyd_baseline(features, HORIZON, 12, 0.1)
    assert list(base.columns) == ["btyd_value_if_retained", "btyd_expected_value", "btyd_lifetime_value"]
    assert (base >= 0).all().all() and base.notna().all().all()
    assert (base["btyd_expected_value"] <= base["btyd_value_if_retained"] + 1e-9).all()  # P(alive) <= 1
    assert btyd_baseline(features.drop(columns=["orders_lifetime"]), HORIZON, 12, 0.1) is None


def test_lifetime_value_with_persistence_lets_customers_skip_a_horizon_and_come_back():
    p, v = np.array([0.8]), np.array([100.0])
    # staying in period k is (1 - p) x persistence^(k-1), not (1 - p)^k: 3 periods of 90 days, undiscounted
    assert lifetime_value(p, v, 90, 270 * 12 / 365.25, 0.0, persistence=0.9)[0] == pytest.approx(
        20 + 20 * 0.9 + 20 * 0.81)
    assert lifetime_value(p, v, 90, 12, 0.1, persistence=None)[0] == pytest.approx(
        lifetime_value(p, v, 90, 12, 0.1, persistence=0.2)[0])  # persistence = 1 - p: the geometric lifetime
    assert lifetime_value(p, v, 90, 12, 0.0, persistence=1.5)[0] == pytest.approx(
        lifetime_value(p, v, 90, 12, 0.0, persistence=1.0)[0])  # never more than staying on for sure


def _stacked(stay: dict[str, list[int]], cutoffs: list[str]) -> tuple[pd.Series, pd.Series, np.ndarray]:
    rows = [(pd.Timestamp(c), cid, s[k]) for cid, s in stay.items() for k, c in enumerate(cutoffs) if s[k] is not None]
    frame = pd.DataFrame(rows, columns=["cutoff", "customer_id", "stayed"])
    return frame["cutoff"], frame["customer_id"], 1 - frame["stayed"].to_numpy()


def test_purchase_persistence_counts_customers_who_come_back():
    cutoffs = ["2025-01-01", "2025-04-01"]  # 90 days apart
    # a stays in both horizons; b stays in the first only; c skips the first and buys in the second; d stays in
    # the first and has left the population by the second cutoff (no row: did not stay)
    stay = {"a": [1, 1], "b": [1, 0], "c": [0, 1], "d": [1, None]}
    cut, ids, churned = _stacked(stay, cutoffs)
    from models.value import purchase_persistence
    assert purchase_persistence(cut, ids, churned, 90) == pytest.approx(2 / 3)  # a and c of a, b and d
    assert purchase_persistence(cut, ids, churned, 60) is None  # no two cutoffs a horizon apart
    # a later cutoff within horizon / 6 days of a horizon ahead still pairs (snapshots of irregular spacing)
    cut2 = cut.where(cut == pd.Timestamp("2025-01-01"), pd.Timestamp("2025-04-10"))
    assert purchase_persistence(cut2, ids, churned, 90) == pytest.approx(2 / 3)
    assert purchase_persistence(cut2, ids, churned, 30) is None


@pytest.fixture(scope="module")
def three_horizons_ahead():
    """3,000 generated customers (seasonal spend), a model trained as of 2025-03-31, the p and value of each
    customer of that date, and what each spent over the three horizons after it (all inside the data)."""
    from pipeline.build.features import build_features, build_training_set, context_for, feature_spec
    from pipeline.engine.duckdb import dataset_from_frames
    from pipeline.training.train import train_models

    as_of = date(2025, 3, 31)
    params = load_params(None, ["tuning.n_trials=0"])
    tables, _ = generate(3000, seed=2)
    ds = dataset_from_frames(tables, params)
    spec, _ = feature_spec(context_for(ds, params, as_of))
    result = train_models(build_training_set(ds, params, as_of), spec, params)
    features = build_features(ds, params, as_of)
    predicted = result.bundle.predict(features)
    tx = tables["transactions"]
    start = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    window = tx[(tx["timestamp"] >= start) & (tx["timestamp"] < start + pd.Timedelta(days=3 * HORIZON))]
    spent = features["customer_id"].map(window.groupby("customer_id")["amount"].sum().clip(lower=0)).fillna(0.0)
    return {"result": result, "predicted": predicted, "spent": spent.to_numpy()}


@pytest.mark.slow
def test_value_totals_add_up_on_generated_data(three_horizons_ahead):
    """totals: over three horizons the lifetime value's total is within 10% of what the customers then spent
    (measured -0.9%; the geometric lifetime, in which a customer who skips a horizon never comes back, -4.8%
    here and -46% on CDNOW) and ranks that spend at Spearman > 0.8; the run records its persistence and the
    out-of-time error of its value total, which the report states."""
    result, predicted, spent = (three_horizons_ahead[k] for k in ("result", "predicted", "spent"))
    persistence = result.bundle.metadata["value_persistence"]
    error = result.bundle.metadata["value_total_error"]
    assert 0 < persistence <= 1.2 and np.isfinite(error)
    assert error == pytest.approx(result.value_table.loc["value_model", "total_error"])
    months = 3 * HORIZON * 12 / 365.25
    lifetime = lifetime_value(predicted["churn_probability"], predicted["value_if_retained"], HORIZON, months, 0.0,
                              persistence)
    geometric = lifetime_value(predicted["churn_probability"], predicted["value_if_retained"], HORIZON, months, 0.0)
    assert abs(lifetime.sum() / spent.sum() - 1) < 0.10, (lifetime.sum() / spent.sum(), geometric.sum() / spent.sum())
    assert pd.Series(lifetime).corr(pd.Series(spent), method="spearman") > 0.8
