import dataclasses
from pathlib import Path

import pytest

from pipeline.core.config import load_params
from pipeline.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_project_params_load_and_define_required_keys():
    p = load_params(ROOT / "params.yaml")
    assert p.seed == 42
    assert p.label.kind == "inactivity" and p.label.horizon_days > 0 and p.label.lookback_days > 0
    assert p.snapshots.count >= 1 and p.snapshots.step_days > 0
    assert p.features.windows_days and p.validation.on_bad_rows in ("fail", "quarantine")


def test_unknown_key_fails_naming_its_path(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("label:\n  horizon_dayz: 30\n")
    with pytest.raises(ConfigError, match=r"label\.horizon_dayz"):
        load_params(f)


def test_unknown_top_level_key_and_override(tmp_path):
    with pytest.raises(ConfigError, match="'sede'"):
        load_params(None, ["sede=1"])
    with pytest.raises(ConfigError, match=r"snapshots\.cout"):
        load_params(None, ["snapshots.cout=3"])


def test_overrides_are_typed_and_config_is_frozen():
    p = load_params(None, ["label.horizon_days=60", "features.windows_days=[30, 60]", "label.kind=cancellation"])
    assert p.label.horizon_days == 60 and p.features.windows_days == (30, 60) and p.label.kind == "cancellation"
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.label.horizon_days = 5  # type: ignore[misc]


@pytest.mark.parametrize("override, fragment", [
    ("label.horizon_days=soon", "'label.horizon_days' must be an integer"),
    ("label.kind=forever", "'label.kind' must be one of"),
    ("validation.on_bad_rows=ignore", "'validation.on_bad_rows' must be one of"),
    ("snapshots.count=0", "snapshots.count must be at least 1"),
    ("engine.shard_rows=0", "engine.shard_rows must be at least 1"),
    ("label", "dotted.key=value"),
])
def test_bad_values_fail_clearly(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_params(None, [override])


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("label: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_actions_take_a_text_a_conditional_form_or_a_list():
    p = load_params(ROOT / "params.yaml")
    sub = p.scoring.actions["subscription"][0]
    assert sub.text == "Retention offer before renewal"
    assert [(c.column, c.operator, c.value) for c in sub.when] == [("has_active_subscription", "==", 1)]
    service = p.scoring.actions["service"]  # a list tried in order: a senior agent at high risk, else a follow-up
    assert [(c.column, c.operator, c.value) for c in service[0].when] == [("complaints_last_90d", ">=", 1),
                                                                          ("risk_band", "==", "high")]
    assert service[2].text == "Follow up on their recent support requests"
    assert load_params(None, ["scoring.actions={recency: a}"]).scoring.actions["recency"][0].when == ()  # family: text
    p = load_params(None, ['scoring.actions={x: [{text: a, when: {n: {">=": 1, "<": 9}, s: [u, v]}}, b]}'])
    first, second = p.scoring.actions["x"]
    assert [(c.column, c.operator, c.value) for c in first.when] == [("n", ">=", 1), ("n", "<", 9), ("s", "in", ("u", "v"))]
    assert second.text == "b" and second.when == ()


@pytest.mark.parametrize(("value", "fragment"), [
    ("{x: {txt: a}}", r"unknown key 'scoring\.actions\.x\.txt'"),
    ("{x: {when: {n: 1}}}", r"'scoring\.actions\.x\.text' must be the action's text"),
    ("{x: [a, {text: b, when: {n: {'=>': 1}}}]}", r"unknown operator 'scoring\.actions\.x\[1\]\.when\.n\.=>'"),
    ("{x: {text: a, when: {n: {'>=': high}}}}", r"'scoring\.actions\.x\.when\.n\.>=' must be a number"),
    ("{x: {text: a, when: {n: []}}}", r"'scoring\.actions\.x\.when\.n' must be a non-empty list"),
    ("{x: {text: a, when: [n]}}", r"'scoring\.actions\.x\.when' must map a feature"),
    ("{x: 3}", r"'scoring\.actions\.x' must be an action text"),
    ("{x: []}", r"'scoring\.actions\.x' is an empty list"),
])
def test_bad_actions_fail_naming_the_key_path(value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_params(None, [f"scoring.actions={value}"])


@pytest.mark.parametrize(("assignment", "fragment"), [
    ("scoring.max_data_age_days=soon", r"'scoring\.max_data_age_days' must be an integer, got 'soon'"),
    ("targeting.capacity=2.5", r"'targeting\.capacity' must be an integer, got 2\.5"),
    ("input.date_format=[\"%d.%m.%Y\", 5]", r"'input\.date_format\[1\]' must be text, got 5"),
])
def test_a_setting_of_either_form_is_checked_as_the_form_it_is_meant_as(assignment, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_params(None, [assignment])


def test_empty_and_either_form_settings_are_taken():
    p = load_params(None, ["scoring.max_data_age_days=null", "targeting.capacity=10", "input.date_format=[\"%d.%m.%Y\"]"])
    assert p.scoring.max_data_age_days is None and p.targeting.capacity == 10
    assert p.input.date_format == ("%d.%m.%Y",)
    assert load_params(None, ["input.date_format=%d.%m.%Y"]).input.date_format == "%d.%m.%Y"
