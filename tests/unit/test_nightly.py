"""What a job run every night needs: as-of dates in words, the run record's numbers and warning codes, log lines with
the time and progress when there is no terminal, a missing table named as such, and drift that does not alarm on
features that turn with the calendar."""

from __future__ import annotations

import io
import re
import sys
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features.registry import Feature, FeatureSpec
from models.bundle import bin_shares, feature_reference
from pipeline.build.run import check_model_tables, parse_date
from pipeline.core.config import load_params
from pipeline.core.errors import DataError
from pipeline.core.runlog import WARNING_CODES
from pipeline.core.runrecord import RECORD_VERSION, RunRecord
from pipeline.scoring.score import drift_counts, population_stability, stability_index

ROOT = Path(__file__).resolve().parents[2]
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ")


# -- --as-of in words -----------------------------------------------------------------------------------------------

def test_as_of_words_are_the_run_date_and_the_day_before_and_data_end_waits_for_the_data():
    today = date(2026, 3, 1)
    assert parse_date("today", today=today) == today
    assert parse_date("yesterday", today=today) == date(2026, 2, 28)
    assert parse_date(" Yesterday ", today=today) == date(2026, 2, 28)
    assert parse_date("data-end", today=today) is None  # the data's last day, known once it is open
    assert parse_date("2025-12-31") == date(2025, 12, 31)
    with pytest.raises(DataError, match="use YYYY-MM-DD .*data-end, today, yesterday"):
        parse_date("tomorrow")


def test_stale_scoring_data_stops_by_default():
    assert load_params(None).scoring.max_data_age_days == 30
    assert load_params(ROOT / "params.yaml").scoring.max_data_age_days == 30


# -- the run record -------------------------------------------------------------------------------------------------

def test_the_run_record_holds_numbers_an_operator_alerts_on():
    record = RunRecord("score", ["score"])
    record.warn("the data is stale", code="stale_data")
    record.warn("the data is stale", code="stale_data")  # said twice, kept once
    record.warn("something else")
    with record.phase("scoring"):
        sum(range(10_000))
    with record.phase("scoring"):
        pass
    record.data_dates(date(2024, 1, 1), date(2025, 12, 31), date(2025, 12, 31), date(2026, 1, 3))
    doc = record.to_dict()
    assert doc["record_version"] == RECORD_VERSION == 2
    assert doc["warnings"] == [{"code": "stale_data", "message": "the data is stale"},
                               {"code": "other", "message": "something else"}]
    assert doc["warning_codes"] == ["other", "stale_data"]
    assert list(doc["timings"]) == ["scoring"] and doc["timings"]["scoring"] >= 0
    assert doc["data"] == {"first_day": "2024-01-01", "last_day": "2025-12-31", "age_days": 3,
                           "as_of_after_end_days": 0}
    assert 10 < doc["peak_memory_mib"] < 100_000  # MiB, not KiB or bytes
    for key in ("customers_scored", "bands", "drift", "as_of"):
        assert key in doc


def test_every_warning_code_said_in_the_code_is_in_the_catalogue():
    said = set()
    for path in [*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "models").rglob("*.py")]:
        said |= set(re.findall(r"""code=["']([a-z_]+)["']""", path.read_text()))
    assert said, "no warning codes found"
    assert said <= set(WARNING_CODES), sorted(said - set(WARNING_CODES))
    assert {"stale_data", "as_of_after_data", "data_drift", "data_problem", "library"} <= said


# -- what a log file shows ------------------------------------------------------------------------------------------

def test_without_a_terminal_every_diagnostic_line_starts_with_the_time(monkeypatch):
    from pipeline.cli import common

    sink = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", sink)
    stamped = common._Stamped()
    stamped.write("first line\nsecond ")
    stamped.write("half\n")
    stamped.write("\n")
    lines = sink.getvalue().split("\n")
    assert STAMP.match(lines[0]) and lines[0].endswith(" first line")
    assert STAMP.match(lines[1]) and lines[1].endswith(" second half") and lines[1].count("T") == 1
    assert lines[-1] == ""


def test_without_a_terminal_long_steps_say_how_far_they_got(monkeypatch):
    from pipeline.cli import common

    sink = io.StringIO()
    monkeypatch.setattr(sys, "stderr", sink)
    monkeypatch.setattr(common, "PROGRESS_EVERY_S", 0.0)
    log = common.ConsoleLog()
    with log.steps() as add:
        advance = add("tuning (Optuna)", 3)
        for trial in range(3):
            advance(1, f"tuning: trial {trial} best AUC 0.8")
    with log.status("building features...") as update:
        update("customer shard 1/2 done")
    text = sink.getvalue()
    assert "tuning (Optuna): 0/3" in text
    for trial in range(3):
        assert f"tuning: trial {trial} best AUC 0.8: {trial + 1}/3" in text
    assert "customer shard 1/2 done" in text and "building features: done in" in text
    assert all(STAMP.match(line) for line in text.splitlines())

    sink.seek(0), sink.truncate()
    monkeypatch.setattr(common, "PROGRESS_EVERY_S", 3600.0)  # throttled: the first and the last step only
    with log.steps() as add:
        advance = add("building snapshots", 5)
        for k in range(5):
            advance(1, f"snapshot {k}")
    assert [line.split(" ", 1)[1] for line in sink.getvalue().splitlines()] == [
        "building snapshots: 0/5", "snapshot 0: 1/5 (0 s)", "snapshot 4: 5/5 (0 s)"]


# -- a missing table ------------------------------------------------------------------------------------------------

def test_a_table_the_model_needs_is_named_not_its_features_listed():
    spec = FeatureSpec(tuple(
        [Feature(f"visits_{k}", "activity", "count", "{value}", -1) for k in range(40)]
        + [Feature("days_since_last_purchase", "recency", "days", "{value}", 1)]))
    ds = SimpleNamespace(tables={"transactions": None, "customers": None})
    with pytest.raises(DataError) as caught:
        check_model_tables(ds, spec, "exports/today")
    message = str(caught.value)
    assert "exports/today does not have: the events table (40 features of the Activity" in message
    assert "events.csv or events/ (Parquet)" in message and "visits_3" not in message and len(message) < 400
    check_model_tables(SimpleNamespace(tables={"transactions": None, "events": None}), spec, "exports/today")


# -- drift of a feature that turns with the calendar ----------------------------------------------------------------

def _days_to_renewal(renewal_day: np.ndarray, as_of: date) -> np.ndarray:
    """Days from ``as_of`` to each customer's next renewal on their day of the month (NaN: no subscription)."""
    out = np.full(len(renewal_day), np.nan)
    for i, day in enumerate(renewal_day):
        if day > 0:
            nxt = as_of.replace(day=int(day))
            if nxt < as_of:
                nxt = (as_of.replace(day=1) + timedelta(days=32)).replace(day=int(day))
            out[i] = (nxt - as_of).days
    return out


def test_days_to_renewal_turning_with_the_month_is_not_drift_but_renewals_bunching_up_are():
    spec = FeatureSpec((Feature("days_to_renewal", "subscription", "days", "Renews {value:in}", -1, cycle_days=31),))
    rng = np.random.default_rng(4)
    # a third of subscribers renew on the 1st (they signed up when the service opened), the rest any day to the 28th
    renewal = np.where(rng.random(3000) < 0.33, 1, rng.integers(1, 29, 3000))
    renewal[rng.random(3000) < 0.15] = 0
    train = pd.DataFrame({"days_to_renewal": _days_to_renewal(renewal, date(2025, 10, 2))})
    reference = feature_reference(train, spec)
    bundle = SimpleNamespace(spec=spec, drift_reference=reference, drift_reference_for=lambda as_of: (reference, None))
    assert bundle.drift_reference["days_to_renewal"]["kind"] == "cyclic"

    for as_of in (date(2025, 12, 31), date(2025, 12, 15), date(2026, 1, 20)):
        now = pd.DataFrame({"days_to_renewal": _days_to_renewal(renewal[:800], as_of)})
        drift = population_stability(drift_counts(now, bundle), len(now), bundle, 0.2).iloc[0]
        # the deciles training would have stored put the lump in another bin: an alarm every night before
        values = train["days_to_renewal"].to_numpy()
        edges = np.unique(np.nanquantile(values, np.linspace(0, 1, 11)[1:-1]))
        deciles = stability_index(bin_shares(values, edges), bin_shares(now["days_to_renewal"].to_numpy(), edges))
        assert deciles > 0.5, (as_of, deciles)
        assert drift["psi"] < 0.1 and not drift["flagged"], (as_of, drift["psi"])

    spread = np.where(renewal > 0, rng.integers(1, 29, 3000), 0)  # the lump on the 1st gone
    now = pd.DataFrame({"days_to_renewal": _days_to_renewal(spread, date(2025, 12, 15))})
    assert population_stability(drift_counts(now, bundle), len(now), bundle, 0.2).iloc[0]["flagged"]
    lapsed = np.where(rng.random(3000) < 0.4, 0, renewal)  # many more customers without a subscription
    now = pd.DataFrame({"days_to_renewal": _days_to_renewal(lapsed, date(2025, 12, 15))})
    assert population_stability(drift_counts(now, bundle), len(now), bundle, 0.2).iloc[0]["flagged"]


def test_days_to_renewal_is_declared_to_turn_with_the_calendar():
    from features.registry import FAMILIES, Context
    from pipeline.core.config import TABLES

    ctx = Context(as_of=date(2025, 1, 1), tables=frozenset(TABLES))
    cyclic = {f.name: f.cycle_days for fam in FAMILIES.values() for f in fam.features(ctx) if f.cycle_days}
    assert cyclic == {"days_to_renewal": 31}
