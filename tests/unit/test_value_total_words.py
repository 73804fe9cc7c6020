"""The report's sentence on how far value totals may be off (labels.value_total_error_words)."""

from pipeline.outputs.labels import value_total_error_words


def test_states_the_last_checked_error_of_the_total_and_its_direction():
    text = value_total_error_words({"total_error": -0.174, "checked_on": "2024-12-31"})
    assert "17% below" in text and "2024-12-31" in text
    assert "5% above" in value_total_error_words({"total_error": 0.05})


def test_says_nothing_when_the_run_did_not_measure_it():
    assert value_total_error_words({"total_error": None}) == ""
    assert value_total_error_words({"lifetime_months": 12}) == ""
    assert value_total_error_words(None) == ""
    assert value_total_error_words({"total_error": float("nan")}) == ""


def test_an_error_measured_on_a_season_the_model_never_learned_is_not_offered_as_a_guide():
    rule = {"total_error": -0.66, "checked_on": "2024-10-04", "checked_season_seen": False}
    text = value_total_error_words(rule)
    assert "66% below" in text and "no guide" in text and "expect totals" not in text
    # seen, or not recorded (a model saved before the flag): the error is the expectation
    for seen in (True, None):
        assert "expect totals" in value_total_error_words({**rule, "checked_season_seen": seen})
