"""The problem a model was trained for is stored with it and applied by params_for_problem."""

from __future__ import annotations

import pytest

from pipeline.build.problem import (
    churn_definition,
    describe,
    labels_end,
    params_for_problem,
    population_rule,
    problem_of,
    stored_problem,
)
from pipeline.core.config import load_params
from pipeline.core.errors import ConfigError


@pytest.fixture()
def trained_problem():
    return problem_of(load_params(None, ["label.horizon_days=60", "features.windows_days=[30, 90]",
                                         "columns.transactions={customer_id: cust_no}", "value.lifetime_months=24"]))


def test_the_stored_problem_applies_without_repeating_the_sets(trained_problem, tmp_path):
    params_file = tmp_path / "params.yaml"
    params_file.write_text("label:\n  horizon_days: 90\nscoring:\n  report_top_n: 7\n")
    cfg, notes = params_for_problem(params_file, [], trained_problem)
    assert cfg.label.horizon_days == 60 and cfg.features.windows_days == (30, 90)
    assert cfg.columns.transactions == {"customer_id": "cust_no"} and cfg.value.lifetime_months == 24
    assert cfg.scoring.report_top_n == 7  # not part of the problem: params.yaml applies
    assert "label.horizon_days: the model was trained with 60, params say 90; the model's applies" in notes


def test_a_set_that_contradicts_the_model_is_refused_naming_both_values(trained_problem):
    with pytest.raises(ConfigError, match=r"--set label.horizon_days=90 contradicts the model, which was trained with "
                                          r"label.horizon_days=60") as err:
        params_for_problem(None, ["label.horizon_days=90"], trained_problem)
    assert err.value.exit_code == 2
    with pytest.raises(ConfigError, match=r"features.windows_days=\[7, 30\] contradicts .* features.windows_days=\[30, 90\]"):
        params_for_problem(None, ["features.windows_days=[7, 30]"], trained_problem)


def test_a_set_that_cannot_change_the_result_is_ignored_with_a_note(trained_problem):
    cfg, notes = params_for_problem(None, ["label.horizon_days=60", "model.max_rounds=5", "scoring.report_top_n=3"],
                                    trained_problem)
    assert cfg.label.horizon_days == 60 and cfg.scoring.report_top_n == 3
    assert "--set label.horizon_days: the model was trained with 60 already" in notes
    assert any(n.startswith("--set model.max_rounds is ignored: model settings shape training") for n in notes)


def test_a_model_saved_before_problems_were_stored_gives_its_label(trained_problem):
    old = {"label": {"kind": "inactivity", "horizon_days": 45, "lookback_days": 365, "min_purchases_in_lookback": 1},
           "validation_cutoff": "2025-06-01"}
    assert stored_problem(old) == {"label": old["label"]}
    cfg, _ = params_for_problem(None, ["features.windows_days=[7]"], stored_problem(old))
    assert cfg.label.horizon_days == 45 and cfg.features.windows_days == (7,)
    assert str(labels_end(old)) == "2025-07-16"  # the latest it can be: the validation cutoff's horizon
    assert str(labels_end({**old, "labels_end": "2025-06-01"})) == "2025-06-01"


def test_describe_says_what_churn_means_and_who_is_scored(trained_problem):
    assert describe(trained_problem) == ("churn = no purchase in the 60 days after the as-of date; population: "
                                         "customers with an order in the 365 days up to the as-of date")
    cancellation = problem_of(load_params(None, ["label.kind=cancellation", "features.exclude=[returns]"]))
    assert describe(cancellation) == ("churn = a subscription active on the as-of date ends within the next 90 days and "
                                      "none is active at the end; population: customers with a subscription active at "
                                      "the end of the as-of date; features switched off: returns")


def test_churn_definition_and_population_rule_in_words():
    assert churn_definition({"kind": "inactivity", "horizon_days": 90}) == "no purchase in the 90 days after the as-of date"
    assert churn_definition({"kind": "inactivity"}) == "no purchase in the horizon after the as-of date"
    assert churn_definition({"kind": "cancellation", "horizon_days": 30}) == (
        "a subscription active on the as-of date ends within the next 30 days and none is active at the end")
    assert churn_definition({"kind": "downgrade", "horizon_days": 30}) == "downgrade within 30 days"
    assert churn_definition(None) == ""
    assert population_rule("inactivity", 365, 1) == (
        "customers with an order in the 365 days up to the as-of date",
        "no order in the 365 days before the as-of date (already churned)")
    assert population_rule("inactivity", 180, 2) == (
        "customers with at least 2 orders in the 180 days up to the as-of date",
        "fewer than 2 orders in the 180 days before the as-of date")
    assert population_rule("cancellation", 365, 1) == (
        "customers with a subscription active at the end of the as-of date", "no active subscription at the as-of date")


def test_a_stored_problem_never_names_code_to_load():
    """A model records its modules by name and content hash, never as a setting to load: a problem stored with
    modules (a model folder anyone could hand over, or one saved before) never puts them in the params used."""
    from pipeline.build.problem import params_for_problem, problem_of, registered_name
    from pipeline.core.config import load_params

    stored = problem_of(load_params(None, ["features.extra_modules=[examples/my_features.py]",
                                           "registry.model_name=subscription-churn"]))
    assert "extra_modules" not in stored["features"]
    assert stored["registry"] == {"model_name": "subscription-churn"}
    assert registered_name({"problem": stored}) == "subscription-churn"
    problem = {"features": {"extra_modules": ["evil.py"]}}
    cfg, _ = params_for_problem(None, [], problem)
    assert list(cfg.features.extra_modules) == []
    cfg, _ = params_for_problem(None, ["features.extra_modules=[examples/my_features.py]"], problem)
    assert list(cfg.features.extra_modules) == ["examples/my_features.py"]
