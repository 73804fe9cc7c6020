"""Lines of the run summaries that depend on what a run did."""

from __future__ import annotations

import pytest

from pipeline.cli.training import tuning_line

SUMMARY = {"trials": 10, "complete": 6, "pruned": 4, "best_value": 0.91234}


@pytest.mark.parametrize(("resumed", "says"), [
    (0, "tuning: 6 complete / 10 trials (4 pruned), best fold-mean AUC 0.9123"),
    (3, "tuning: 6 complete / 10 trials (4 pruned, 3 resumed from an earlier run), best fold-mean AUC 0.9123"),
    (10, "tuning: 6 complete / 10 trials (4 pruned; all 10 from an earlier run on the same data, date and settings, "
         "none run now), best fold-mean AUC 0.9123"),
])
def test_tuning_line_says_which_trials_ran_now(resumed, says):
    assert tuning_line({**SUMMARY, "resumed_trials": resumed}) == says


def test_score_and_changes_say_bands_groups_and_families_in_the_reports_words(tmp_path, capsys):
    from types import SimpleNamespace

    import pandas as pd

    from pipeline.cli.common import out
    from pipeline.cli.scoring import print_changes, print_score_summary
    from pipeline.outputs.labels import band_rule_line

    risk = pd.DataFrame({"risk_band": ["high", "high", "low"], "contact_group": ["treatment", "holdout", "not_selected"],
                         "value_at_risk": [10.0, 20.0, 1.0]})
    rule = {"by": "probability", "bands": {"high": 0.6, "low": 0.0}, "thresholds": {"high": 0.6, "low": 0.0}}
    summary = {"band_rule": rule, "as_of": "2025-12-31", "bands": {"high": 2, "low": 1}, "customers": 3,
               "model_version": "v1", "value_at_risk": 31.0, "value_if_retained": 90.0, "value_rule": {"lifetime_months": 12},
               "lifetime_value": 200.0, "drifted_features": [{"feature": "spend_last_90d", "psi": 0.4}],
               "label": {"horizon_days": 90},
               "targeting": {"groups": {"treatment": 1, "holdout": 1, "not_selected": 1, "win_back": 2},
                             "capacity": None, "holdout_share": 0.5, "priority_in_treatment": 4.0, "contact_cost": 1.0,
                             "offer_cost": 0.0, "win_back_gaps": 3.0, "net_saving_contacted": 4.0,
                             "net_saving_selected": 5.5,
                             "profit": {"best_list_size": 2, "best_net_saving": 5.5, "capacity_list_size": 2,
                                        "capacity_net_saving": 5.5, "left_by_capacity": 0.0},
                             "win_back": {"customers": 2}, "effects": {"used": "defaults"}}}
    result = SimpleNamespace(summary=summary, risk_list=risk, global_families=pd.DataFrame(
        {"family": ["btyd", "recency", "engagement"], "mean_abs_effect_pp": [0.05, 0.02, 0.01],
         "actionable": [False, True, True]}))
    with out.capture() as captured:
        print_score_summary(result, tmp_path / "risk.parquet")
        print_changes({"previous_as_of": "2025-11-30", "previous_list": "risk_asof=2025-11-30.parquet", "comparable": True,
                       "newly_high": 4, "newly_high_entered": 1, "top_band": "high", "risk_up": 5, "risk_down": 2,
                       "entered": 3, "left": 1, "note": ""})
    text = captured.get()
    flat = " ".join(text.split())
    assert text.splitlines()[0] == band_rule_line(rule) == (
        "Risk bands: High risk: churn probability 60% or more; Low risk: churn probability under 60%")
    header = next([c.strip() for c in line.split("┃")[1:-1]] for line in text.splitlines() if line.count("┃") > 3)
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.count("│") > 3]
    assert header[0] == "risk band" and header[-2:] == ["Contact", "Hold out — do not contact"]
    assert [c[0] for c in cells] == ["High risk", "Low risk"] and cells[0][-2:] == ["1", "1"]
    assert "Contact: 1; Hold out — do not contact: 1; Not selected: 1; Win back: 2; expected net saving of the " \
        "contacts: 4.00 over the next 90 days, assuming the action effects set in targeting.action_effects, not yet " \
        "measured" in flat
    assert ("Calling the first 2 customers maximises expected profit: 5.50 over the next 90 days. Holding out 1 of "
            "them, to measure whether contacting works, sets aside 1.50 of it.") in flat
    assert "Win-back list: 2 customers. Customers with no purchase for longer than the 90-day horizon" in flat
    # why customers leave: behaviour a call can act on, not context such as the purchase model's expectations
    assert "why customers leave (behaviour a call can act on): Time since last purchase (2.0 pts), Engagement " \
        "(visits, e-mails) (1.0 pts)" in flat
    assert "features shifted since training: Spend, last 90 days (PSI 0.40)" in " ".join(capsys.readouterr().err.split())
    assert "changes since 2025-11-30 (risk_asof=2025-11-30.parquet): 4 newly in the high risk band (1 of them new)" in flat
