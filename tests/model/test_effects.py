"""Whom the call helps (issue 27): the effect learner on a known case, gathering past lists, the gate and its
fallback, do-not-disturb customers never contacted, the registry entry, and the generated campaigns' truth."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from models.uplift import ActionEffects, qini_coefficient, qini_curve
from pipeline.core.config import TargetingConfig, load_params
from pipeline.core.errors import DataError
from pipeline.outcomes import effects as fx
from pipeline.scoring.run import effect_model_for
from pipeline.scoring.targeting import (
    DO_NOT_DISTURB,
    NOT_SELECTED,
    PERSUADABLE,
    allowed_actions,
    choose_by_effect,
    contact_groups,
    effect_groups,
)
from pipeline.training.effects_registry import load_effects, load_registered_effects, register_effects, save_effects

CALL, OFFER = "call", "offer"


def known_case(n: int, seed: int, effect: bool = True) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray,
                                                                   dict[str, np.ndarray]]:
    """Listed customers with churn probability 0.5 if not contacted; the call lowers it by 0.4 where x1 > 0.5
    and raises it by 0.2 where x2 > 0.5 (pushed away); the offer lowers it by 0.1 for everyone."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x1": rng.random(n), "x2": rng.random(n), "segment": rng.choice(["a", "b"], n)})
    call = np.where(X["x1"] > 0.5, 0.4, 0.0) - np.where(X["x2"] > 0.5, 0.2, 0.0)
    offer = np.full(n, 0.1)
    if not effect:
        call, offer = np.zeros(n), np.zeros(n)
    action = np.where(rng.random(n) < 0.5, CALL, OFFER)
    contacted = rng.random(n) < 0.6
    p = 0.5 - np.where(contacted, np.where(action == CALL, call, offer), 0.0)
    churned = (rng.random(n) < p).astype(int)
    return X, action, contacted, churned, {CALL: call, OFFER: offer}


@pytest.fixture(scope="module")
def fitted():
    X, action, contacted, churned, truth = known_case(12_000, 0)
    return ActionEffects(random_state=0).fit(X, action, contacted, churned)


def test_learner_recovers_known_effects(fitted):
    X, _, _, _, truth = known_case(4000, 1)
    predicted = fitted.predict(X)
    assert list(predicted.columns) == [CALL, OFFER]
    call = predicted[CALL].to_numpy()
    helped = (X["x1"] > 0.5) & (X["x2"] <= 0.5)
    pushed = (X["x1"] <= 0.5) & (X["x2"] > 0.5)
    assert call[helped.to_numpy()].mean() > 0.25
    assert call[pushed.to_numpy()].mean() < -0.1
    assert abs(predicted[OFFER].mean() - 0.1) < 0.05
    assert np.corrcoef(call, truth[CALL])[0, 1] > 0.8
    assert 0.4 < fitted.churn_if_not_contacted(X).mean() < 0.6


def test_learner_follows_the_estimator_contract_and_saves_as_text(fitted):
    assert clone(fitted).get_params() == fitted.get_params()
    assert not hasattr(ActionEffects(), "actions_")
    X, *_ = known_case(500, 2)
    again = ActionEffects.from_dict(fitted.to_dict())
    pd.testing.assert_frame_equal(again.predict(X), fitted.predict(X))


def test_qini_ranks_better_than_random_only_with_a_real_score():
    X, action, contacted, churned, truth = known_case(8000, 3)
    calls = action == CALL
    true_score = truth[CALL][calls]
    noise = np.random.default_rng(0).random(calls.sum())
    assert qini_coefficient(true_score, contacted[calls], churned[calls]) > 0.01
    assert abs(qini_coefficient(noise, contacted[calls], churned[calls])) < 0.01
    curve = qini_curve(true_score, contacted[calls], churned[calls])
    assert curve["share"].iloc[0] == 0 and curve["share"].iloc[-1] == 1
    assert curve["qini"].iloc[-1] == pytest.approx(curve["random"].iloc[-1])


def test_gate_fails_and_scoring_falls_back_when_the_model_does_not_beat_random(tmp_path):
    X, action, contacted, churned, _ = known_case(6000, 4, effect=False)
    rows = X.assign(action=action, contacted=contacted, churned=churned)
    model = ActionEffects(random_state=0).fit(X[:4000], action[:4000], contacted[:4000], churned[:4000])
    test = rows.iloc[4000:]
    ev = fx.evaluate(model, test, np.full(len(test), 0.5), np.ones(len(test)), 0.0, 0.0, seed=0, draws=100)
    passed, reason = fx.passes(ev)
    assert not passed and "not above zero" in reason
    meta = {"name": "churn-model-effects", "as_of": "2025-09-30", "horizon_days": 90, "lists": [], "actions": [CALL, OFFER],
            "fitted_rows": 4000, "evaluation": ev, "passed": passed, "gate_reason": reason}
    folder = save_effects(tmp_path / "effects", model, meta)
    used, why = effect_model_for("churn-model", 90, folder)
    assert used is None
    assert "not used" in why and "average effects" in why
    # a model that passed is used; one over another horizon is not
    save_effects(tmp_path / "good", model, {**meta, "passed": True, "gate_reason": "above zero"})
    assert effect_model_for("churn-model", 90, tmp_path / "good")[0] is not None
    assert effect_model_for("churn-model", 60, tmp_path / "good")[0] is None
    assert effect_model_for("churn-model", 90, tmp_path / "good", off=True)[0] is None


def test_a_changed_effect_model_file_is_refused(tmp_path, fitted):
    meta = {"name": "m-effects", "as_of": "2025-09-30", "horizon_days": 90, "lists": [], "actions": fitted.actions_,
            "fitted_rows": 1, "evaluation": {"customers": 1, "qini": {"coefficient": 0.1, "interval": [0.05, 0.2],
                                                                       "level": 0.9},
                                             "qini_by_risk": {"coefficient": 0.0, "interval": [0, 0], "level": 0.9}},
            "passed": True, "gate_reason": "ok"}
    folder = save_effects(tmp_path / "e", fitted, meta)
    (folder / "model_card.md").write_text("changed")
    with pytest.raises(Exception, match="does not match its manifest"):
        load_effects(folder)


def test_do_not_disturb_customers_are_never_contacted():
    n = 6
    predicted = pd.DataFrame({CALL: [0.3, -0.2, -0.05, 0.01, -0.4, 0.2], OFFER: [0.1, -0.1, -0.01, 0.0, -0.3, 0.25]})
    allowed = {CALL: np.ones(n, bool), OFFER: np.array([1, 1, 1, 1, 1, 0], bool)}
    p = np.full(n, 0.4)
    value = np.full(n, 1000.0)
    for costs in (TargetingConfig(contact_cost=0.0, offer_cost=0.0), TargetingConfig(contact_cost=1.0, offer_cost=2.0)):
        action, effect, saving, open_ = choose_by_effect(predicted, allowed, p, value, costs)
        assert open_.all()
        assert action[0] == CALL and action[5] == CALL  # the offer does not fit customer 5
        dnd = effect < 0
        assert dnd.tolist() == [False, True, True, False, True, False]
        assert (saving[dnd] <= 0).all()
        groups = contact_groups(np.arange(n).astype(str), saving, date(2025, 12, 31),
                                TargetingConfig(holdout_share=0.0), seed=0)
        assert (groups[dnd] == NOT_SELECTED).all()
        assert effect_groups(effect, p)[1] == DO_NOT_DISTURB and effect_groups(effect, p)[0] == PERSUADABLE


def test_action_conditions_limit_the_effect_models_choice():
    cfg = load_params(None, ['scoring.actions={subscription: {text: call, when: {has_active_subscription: 1}}}']).scoring
    columns = {"has_active_subscription": pd.Series([1, 0, None])}
    allowed = allowed_actions([CALL, OFFER], columns, cfg, 3)
    assert allowed[CALL].tolist() == [True, False, False]
    assert allowed[OFFER].tolist() == [True, True, True]  # named by no rule: no conditions


def listed(n_holdout: int, n_treated: int) -> pd.DataFrame:
    ids = [f"c{i}" for i in range(n_holdout + n_treated)]
    return pd.DataFrame({"customer_id": ids, "action": CALL,
                         "contact_group": ["holdout"] * n_holdout + ["treatment"] * n_treated})


def test_gathering_refuses_lists_without_holdouts_or_with_horizons_not_passed():
    fx.check_past_list(listed(40, 100), "ok.parquet", date(2025, 6, 1), 90, date(2025, 12, 31))
    with pytest.raises(DataError, match="held-out"):
        fx.check_past_list(listed(0, 100), "no_holdout.parquet", date(2025, 6, 1), 90, date(2025, 12, 31))
    with pytest.raises(DataError, match="not known yet"):
        fx.check_past_list(listed(40, 100), "recent.parquet", date(2025, 11, 1), 90, date(2025, 12, 31))
    with pytest.raises(DataError, match="lacks"):
        fx.check_past_list(listed(40, 100).drop(columns="contact_group"), "x.parquet", date(2025, 6, 1), 90,
                           date(2025, 12, 31))


def test_gathering_combines_several_campaigns():
    parts = []
    for k, day in enumerate((date(2025, 4, 1), date(2025, 6, 1))):
        frame = listed(40, 60)
        frame.loc[len(frame)] = ["outsider", CALL, "not_selected"]
        feats = pd.DataFrame({"customer_id": frame["customer_id"], "as_of": pd.Timestamp(day),
                              "spend_last_90d": np.arange(len(frame), dtype=float),
                              f"events_kind{k}_last_30d": 1.0})
        outcomes = pd.DataFrame({"customer_id": frame["customer_id"], "churned": k})
        parts.append(fx.training_rows(frame.iloc[5:], feats, outcomes, day))
    rows, notes = fx.combine(parts)
    assert len(rows) == 2 * 95  # the not-selected customer is no training row
    assert rows["campaign"].value_counts().to_dict() == {"2025-04-01": 95, "2025-06-01": 95}
    assert fx.feature_columns(rows) == ["spend_last_90d"]  # a feature one list lacks is left out, with a note
    assert "not built for every list" in notes[0]
    assert rows.loc[rows["campaign"] == "2025-06-01", "churned"].eq(1).all()
    held = fx.held_out(pd.concat([rows["customer_id"], rows["customer_id"]]), seed=1)
    by_customer = pd.DataFrame({"c": pd.concat([rows["customer_id"]] * 2).to_numpy(), "h": held})
    assert by_customer.groupby("c")["h"].nunique().eq(1).all()  # a customer is on one side only


def test_registry_entry(tmp_path, monkeypatch, fitted):
    import mlflow

    from pipeline.training import tracking

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking.configure()
    try:
        meta = {"name": "churn-model-effects", "as_of": "2025-09-30", "horizon_days": 90, "lists": [],
                "actions": fitted.actions_, "fitted_rows": 1,
                "evaluation": {"customers": 10, "qini": {"coefficient": 0.01, "interval": [0.005, 0.02], "level": 0.9},
                               "qini_by_risk": {"coefficient": 0.0, "interval": [-0.01, 0.01], "level": 0.9}},
                "passed": True, "gate_reason": "above zero"}
        folder = save_effects(tmp_path / "e1", fitted, meta)
        _, version, alias = register_effects(folder, meta, passed=True)
        assert (version, alias) == ("1", "champion")
        loaded, why = load_registered_effects("churn-model-effects")
        assert why == "" and loaded.version == "1" and "champion" in loaded.label
        X, *_ = known_case(200, 5)
        pd.testing.assert_frame_equal(loaded.model.predict(X), fitted.predict(X))
        failed = {**meta, "passed": False}
        _, version, alias = register_effects(save_effects(tmp_path / "e2", fitted, failed), failed, passed=False)
        assert (version, alias) == ("2", "challenger")
        assert load_registered_effects("churn-model-effects")[0].version == "1"  # the champion stays
        assert load_registered_effects("other-effects")[0] is None
    finally:
        mlflow.set_tracking_uri(None)


def test_generated_campaigns_hold_their_truth():
    from pipeline.data.samples.campaigns import HOLDOUT_SHARE
    from pipeline.data.samples.retail import generate_chunk

    plain, _ = generate_chunk(1500, 7)
    tables, truth = generate_chunk(1500, 7, campaigns=2)
    t = truth.campaigns
    assert sorted(t["as_of"].unique()) == ["2025-08-01", "2025-09-30"]
    assert abs((t["contact_group"] == "holdout").mean() - HOLDOUT_SHARE) < 0.05
    assert not t.loc[t["contact_group"] == "holdout", ["saved", "pushed"]].any().any()  # the holdout is untouched
    assert (t["true_effect"] < 0).any() and (t["true_effect"] > 0.3).any()  # pushed away and persuadable alike
    assert t.loc[t["pushed"], "true_effect"].lt(0).all()
    # the campaigns change who churns, so the data differs from the same seed's data without campaigns
    assert len(tables["transactions"]) != len(plain["transactions"])
    assert generate_chunk(1500, 7)[0]["transactions"].equals(plain["transactions"])


@pytest.mark.slow
def test_the_learner_finds_the_customers_every_action_pushes_away_and_scoring_does_not_contact_them(tmp_path):
    """The generator's do-not-disturb segment (the most frequent buyers, whom the call and the offer both push
    away): on held-out customers the learner predicts most of them below zero for every action, and targeting by
    its predicted net saving contacts far fewer of them than targeting by churn probability x value."""
    from pipeline.data.samples import write_sample
    from pipeline.data.samples.retail import generate_chunk
    from pipeline.outcomes.learn.run import figures_inputs, learn_effects
    from pipeline.scoring.targeting import effect_net_saving

    customers, seed = 20_000, 42  # at 4,000 the learner finds under half of them: too few to tell
    write_sample(tmp_path / "data", customers, seed, campaigns=4)
    _, truth = generate_chunk(customers, seed * 100_003, campaigns=4)  # the one chunk write_sample wrote
    run = learn_effects(None, [tmp_path / "data" / "campaigns"], tmp_path / "data", register=False,
                        overrides=[f"seed={seed}"])
    held = run.test_rows.reset_index(drop=True).merge(
        truth.campaigns.rename(columns={"as_of": "campaign"})[["campaign", "customer_id", "do_not_disturb"]],
        on=["campaign", "customer_id"], how="left", validate="one_to_one")
    dnd = held["do_not_disturb"].to_numpy(bool)
    assert dnd.sum() >= 200  # the segment is there: about 4% of the listed
    predicted = run.model.predict(held[run.model.feature_names_])
    assert (predicted.to_numpy().max(axis=1) < 0)[dnd].mean() >= 0.8  # found: every action predicted to harm them

    risk, value, _ = figures_inputs(held, run.model, 90)
    costs = TargetingConfig(contact_cost=1.0, offer_cost=0.0, holdout_share=0.0)
    allowed = {a: np.ones(len(held), dtype=bool) for a in predicted.columns}
    _, effect, saving, _ = choose_by_effect(predicted, allowed, risk, value, costs)
    ids = held["customer_id"].astype(str) + "|" + held["campaign"]
    by_effect = contact_groups(ids.to_numpy(), saving, date(2025, 9, 30), costs, 0) == "treatment"
    average = effect_net_saving(np.full(len(held), 0.12) * risk, risk, value, costs)  # one average effect for all
    by_risk = contact_groups(ids.to_numpy(), average, date(2025, 9, 30), costs, 0) == "treatment"
    assert not by_effect[dnd & (effect < 0)].any()  # predicted do-not-disturb: never contacted
    assert by_effect[dnd].mean() <= 0.1 and by_effect[dnd].mean() < by_risk[dnd].mean()
