"""Every registered feature's reason at edge values follows the rules of a sentence an agent can say:
no missing data as a reason, no model output or static attribute, no negative amount, whole counts,
plurals right, no words that contradict higher risk (README "Drivers and reasons")."""

from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd
import pytest

from features.registry import MATERIAL_SHARE, Feature, material_change, money, plural, render
from models.explain import _sayable, context_facts, top_drivers
from pipeline.build.features import context_for, feature_spec
from pipeline.engine.duckdb import dataset_from_frames
from tests.conftest import AS_OF

EDGES = (0, 1, 2, None, float("nan"), -5.0, -0.4, 0.4, 1.6, 7.0, 1e7)
BANNED = ("no record yet", "nan", "unknown", "{", "}", "[", "]")


@pytest.fixture(scope="module")
def spec(sample_tables, params):
    ds = dataset_from_frames(sample_tables, params)
    return feature_spec(context_for(ds, params, AS_OF))[0]


def _templates(feat: Feature) -> list[str]:
    return [t for t in (feat.description, feat.missing, feat.zero, feat.negative) if t]


def _nouns(spec) -> set[tuple[str, str]]:
    """(singular, plural) of every noun the templates count."""
    out = set()
    for feat in spec.features:
        for template in _templates(feat):
            for _, _, fmt, _ in string.Formatter().parse(template.replace("[", "").replace("]", "")):
                fmt = (fmt or "").removeprefix("abs ")
                if fmt.startswith(("count:", "word:")):
                    word = fmt.split(":", 1)[1]
                    out.add((plural(word, 1), plural(word, 2)))
    return out


def broken_rules(text: str, nouns: set[tuple[str, str]]) -> list[str]:
    """The rules a reason's text breaks (empty when it is fine)."""
    low = text.lower()
    broken = [f"says {b!r}" for b in BANNED if re.search(rf"(?<![a-z]){re.escape(b)}(?![a-z])", low)]
    if "None" in text or "NaN" in text:
        broken.append("a missing value")
    if re.search(r"(?<![\w.])-\s?\d", text):
        broken.append("a negative number")
    if re.search(r"\d\.\d+e[+-]?\d", low):
        broken.append("a number in scientific notation")
    if re.search(r"\b(?:0 (?:days?|hours?) ago|(?:in|for) 0 (?:days?|hours?))\b", low):
        broken.append("zero days where words read better ('today')")
    for one, many in nouns:
        if one != many and re.search(rf"(?<![\d,.]){1} {re.escape(many)}\b", text):
            broken.append(f"'1 {many}'")
        if one != many and re.search(rf"(?<![\d,.])(?:0|[2-9]|[1-9][\d,]+) {re.escape(one)}\b", text):
            broken.append(f"a plural number of '{one}'")
    return broken


def test_templates_write_counts_as_whole_numbers(spec):
    # a count, a day or an hour is written with n / count: / word:, never with a float format that can say
    # "1 days" or "0.4 days"
    for feat in spec.features:
        for template in _templates(feat):
            assert ".0f}" not in template, (feat.name, template)
            if feat.unit in ("count", "days", "hours") and not feat.context:
                for _, name, fmt, _ in string.Formatter().parse(template.replace("[", "").replace("]", "")):
                    if name == "value":
                        assert (fmt or "").removeprefix("abs ").startswith(("n", "count:", "word:", "ago", "in", "every")), (
                            feat.name, fmt)


def test_every_reason_at_edge_values_is_sayable(spec):
    nouns = _nouns(spec)
    names = spec.names
    checked = 0
    for feat in spec.features:
        values = ("basic", "", None) if feat.kind == "categorical" else EDGES
        for value in values:
            for others in (0.0, 3.0, None, 1e6):
                row = {n: (others if spec[n].kind == "numeric" else "x") for n in names}
                row[feat.name] = value
                for currency in ("", "EUR", "€"):
                    text = feat.reason(value, row, currency)
                    if feat.context or feat.risk_direction == 0:
                        assert text is None, (feat.name, value, text)  # context is never a reason
                    if text is None:
                        continue
                    checked += 1
                    assert not broken_rules(text, nouns), (feat.name, value, others, text, broken_rules(text, nouns))
                    if value is None or (isinstance(value, float) and np.isnan(value)):
                        assert text == render(feat.missing, row, currency)  # missing data only in its own words
                    if re.search(r"{value:(abs )?money}", feat.template_for(value)) and currency:
                        assert currency in text, (feat.name, text)  # an amount carries the currency
    assert checked > 200


def test_values_on_the_safe_side_of_the_neutral_point_are_no_reason(spec):
    ratio = next(f for f in spec.features if f.name.startswith("spend_change_ratio_"))
    assert ratio.reason(5.52, {}) is None  # spend up to 552%: not a reason for risk
    assert ratio.reason(0.4, {}) == f"Spend in the last {ratio.name.split('_')[-1][:-1]} days fell to 40% of the " \
        f"{ratio.name.split('_')[-1][:-1]} days before"
    visits = spec["visits_last_30d"]
    assert visits.reason(9.0, {"visits_previous_30d": 2.0}) is None  # more visits than before
    assert visits.reason(2.0, {"visits_previous_30d": 9.0}) == "2 visits in the last 30 days, down from 9 in the 30 days before"
    assert visits.reason(1.0, {"visits_previous_30d": 9.0}).startswith("1 visit in the last 30 days")
    assert spec["complaints_last_90d"].reason(0.0, {}) is None
    assert spec["complaints_last_90d"].reason(1.0, {}) == "1 complaint in the last 90 days"
    # paying a day late is usual: lateness is a reason from a week on average (features.payments.LATE_DAYS)
    assert spec["average_days_late_last_365d"].reason(1.0, {}) is None
    assert spec["average_days_late_last_365d"].reason(8.0, {}) == "Paid invoices 8 days late on average in the last year"
    assert spec["cancelled_subscriptions_last_365d"].reason(1.0, {}) == "Cancelled 1 subscription in the last year"
    assert spec["latest_nps"].reason(9.0, {}) is None and spec["latest_nps"].reason(3.0, {}) is not None
    # a reason never carries another feature's figure from its safe side: "No purchase for 45 days, 0.5 times
    # their usual gap" named a normal rhythm as risk
    assert spec["days_since_last_purchase"].reason(45.0, {"gap_ratio_since_last_purchase": 0.5}) == "No purchase for 45 days"
    overdue = spec["gap_ratio_since_last_purchase"]
    assert overdue.reason(0.5, {"mean_days_between_purchases": 90.0}) is None
    assert overdue.reason(3.0, {"mean_days_between_purchases": 7.0, "days_since_last_purchase": 21.0,
                                "purchase_gaps_lifetime": 2.0}) is None  # a usual cycle needs three gaps
    assert overdue.reason(3.0, {"mean_days_between_purchases": 7.0, "days_since_last_purchase": 21.0,
                                "purchase_gaps_lifetime": 3.0}) == \
        "Last bought 21 days ago, though they usually buy every 7 days"
    points = spec["loyalty_points_earned_change_last_90d"]
    earned = {"loyalty_points_earned_last_90d": 0.0}
    assert points.reason(-1.0, earned) is None  # one point fewer is chance (features.registry.COUNT_UNITS)
    assert points.reason(-3.0, earned) == "Earned 3 fewer loyalty points in the last 90 days than in the 90 days before"
    assert points.reason(-257.0, earned) == "Earned 257 fewer loyalty points in the last 90 days than in the 90 days before"


def test_days_are_said_in_words_people_use(spec):
    # "Last return 0 days ago", "Next renewal in 0 days", "usually buy every 1 day" read as a machine's
    assert render("Last return {value:ago}", {"value": 0}) == "Last return today"
    assert render("Last return {value:ago}", {"value": 1.0}) == "Last return 1 day ago"
    assert render("Renews {value:in}", {"value": 0.4}) == "Renews today"
    assert render("Renews {value:in}", {"value": 5}) == "Renews in 5 days"
    assert render("Buys {value:every}", {"value": 1.2}) == "Buys every day"
    assert render("Buys {value:every}", {"value": 12}) == "Buys every 12 days"
    assert spec["days_since_last_return"].reason(0.0, {}) == "Last return today"
    assert spec["days_to_renewal"].reason(0.0, {}) == "Their subscription renews today"
    assert spec["gap_ratio_since_last_purchase"].reason(78.0, {"mean_days_between_purchases": 1.0,
                                                              "days_since_last_purchase": 78.0,
                                                              "purchase_gaps_lifetime": 5.0}) == \
        "Last bought 78 days ago, though they usually buy every day"
    assert spec["cv_days_between_purchases"].reason(3.0, {}) is None  # a trait, not a change to raise with them


def test_no_negative_spend_and_amounts_carry_the_currency(spec):
    spend, before = spec["spend_last_90d"], {"spend_previous_90d": 50.0}
    assert spend.reason(-163.14, before) == "Returned more than they bought in the last 90 days"
    assert spend.reason(0.0, {**before, "days_since_last_purchase": 95.0}) == \
        "Bought nothing in the last 90 days, after spending 50.00 in the 90 days before"
    # a purchase returned in full spends 0 but is no "bought nothing" (features.registry.Feature.zero_when)
    assert spend.reason(0.0, {**before, "days_since_last_purchase": 12.0}) is None
    assert spend.reason(40.0, before, "€") == "Spent €40.00 in the last 90 days, down from €50.00 in the 90 days before"
    assert spend.reason(80.0, before) is None  # spending more than before is no reason for risk
    assert spec["spend_last_180d"].reason(-5.0, {}) == "Returned more than they bought in the last 180 days"
    change = spec["spend_change_last_90d"]
    assert change.reason(-1234.5, {"spend_last_90d": 100.0}, "EUR") == \
        "Spent 1,234.50 EUR less in the last 90 days than in the 90 days before"
    assert change.reason(80.0, {"spend_last_90d": 100.0}, "EUR") is None
    assert money(12.5, "€") == "€12.50" and money(12.5, "") == "12.50"


def test_missing_data_is_no_reason_unless_its_absence_says_something(spec):
    for feat in spec.features:
        text = feat.reason(None, {})
        assert text is None or (feat.missing and text == render(feat.missing, {"value": None})), (feat.name, text)
    assert spec["latest_nps"].reason(None, {}) is None


def test_context_features_never_drive_but_stay_on_the_card(spec):
    context = spec.context
    assert {"btyd_probability_alive", "days_since_signup", "days_since_first_purchase", "orders_lifetime"} <= set(context)
    assert any(n.startswith("profile_") for n in context)
    n = 50
    rng = np.random.default_rng(0)
    features = pd.DataFrame({f.name: (rng.choice(["a", "b"], n) if f.kind == "categorical" else rng.uniform(0, 50, n))
                             for f in spec.features})
    effects = rng.normal(0, 0.01, (n, len(spec.features)))
    for i, f in enumerate(spec.features):
        if f.context:
            effects[:, i] = 1.0  # context would lead every customer if it could
    drivers = top_drivers(effects, features, spec, currency="EUR")
    named = {x for x in drivers.feature.ravel() if x is not None}
    assert named and not named & set(context)
    assert not {x for x in drivers.family.ravel() if x is not None} & {"btyd", "profile"}
    facts = context_facts(features.head(3), spec, currency="EUR")
    assert set(facts.columns) == set(context) and facts["days_since_signup"].str.startswith("Signed up").all()


def test_scoring_currency_reaches_the_excel_call_list():
    from pipeline.core.config import load_params
    from pipeline.outputs.labels import currency_of

    assert load_params(None).scoring.currency == ""
    assert currency_of(load_params(None, ["scoring.currency=EUR"])) == "EUR"


# A comparison of a recent value with an earlier one is a reason only for a material change: at least a fifth of
# the earlier value and at least one whole unit (a visit, an order, one of the currency). (recent, earlier) pairs:
TRIVIAL_FALLS = [(10.23, 10.24), (9.0, 9.0), (9.0, 10.0), (99.0, 100.0), (8.01, 10.0)]
TRIVIAL_RISES = [(10.24, 10.23), (9.0, 9.0), (11.0, 10.0), (12.0, 10.01)]
SUB_UNIT = [(0.5, 0.7), (0.0, 0.9)]  # a fifth or more, but less than one whole unit
MATERIAL_FALLS = [(8.0, 10.0), (2.0, 9.0), (0.0, 5.0), (1.0, 4.0), (150.0, 240.0)]
MATERIAL_RISES = [(1.0, 0.0), (12.0, 10.0), (5.0, 2.0), (30.0, 10.0)]
# counts of whole things also need two of them and their chance spread (features.registry.COUNT_UNITS): "4 visits,
# down from 5", "none, down from 1", "1 order fewer" are noise
COUNT_TRIVIAL_FALLS = [(4.0, 5.0), (0.0, 1.0), (8.0, 10.0), (25.0, 30.0)]
COUNT_TRIVIAL_RISES = [(1.0, 0.0), (2.0, 1.0), (12.0, 10.0)]


def _comparisons(spec) -> list[Feature]:
    return [f for f in spec.features if f.compares is not None]


def _customer(feat: Feature, spec, recent: float, earlier: float) -> tuple[float, dict[str, float]]:
    """(value, row) of a customer whose compared values are ``recent`` and ``earlier`` (the inverse of
    :meth:`Feature.compared`); every other feature of theirs is 3."""
    row = {n: 3.0 for n in spec.names if spec[n].kind == "numeric"}
    row["days_since_last_purchase"] = 400.0  # "Bought nothing in the last 90 days" needs no purchase in them
    recent_name, earlier_name = feat.compares
    if "value" in feat.compares:
        value = recent if recent_name == "value" else earlier
        row[earlier_name if recent_name == "value" else recent_name] = earlier if recent_name == "value" else recent
    else:
        value = (recent / earlier if earlier else float("nan")) if feat.unit == "ratio" else recent - earlier
        if earlier_name is not None:
            row[earlier_name] = earlier
        elif recent_name is not None:
            row[recent_name] = recent
    row[feat.name] = value
    return value, row


def test_the_shared_rule_of_a_material_change():
    assert not material_change(10.23, 10.24, -1)  # "Spent 10.23, down from 10.24": no reason to call anyone
    assert not material_change(9, 10, -1) and not material_change(9, 9, -1)
    assert material_change(8, 10, -1) and not material_change(8.01, 10, -1)  # a fifth is the line
    assert material_change(0, 1, -1) and not material_change(0, 0.9, -1)  # a whole unit at least
    assert material_change(1, 0, 1) and not material_change(11, 10, 1) and material_change(12, 10, 1)
    assert not material_change(8, 10, 1) and not material_change(12, 10, -1)  # the other way is no risk
    assert material_change(0.7, 1.0, -1, least=0.0) and not material_change(0.9, 1.0, -1, least=0.0)
    assert not material_change(float("nan"), 10, -1) and not material_change(5, None, -1)
    got = material_change(np.array([10.23, 8.0, np.nan, 2.0]), np.array([10.24, 10.0, 5.0, np.nan]), -1)
    assert got.tolist() == [False, True, False, False]
    assert MATERIAL_SHARE == 0.2


def test_every_family_that_compares_with_before_says_only_a_material_change(spec):
    """Every feature whose words compare a recent value with an earlier one (down from, up from, fewer, more
    than, against their usual gap) declares it (``compares``), so the one shared rule decides: a trivial change
    (10.24 -> 10.23, 10 -> 9 visits, 9 -> 9) never yields a comparison reason, a material one does."""
    comparisons = _comparisons(spec)
    named = {f.name for f in comparisons}
    assert {"spend_last_30d", "spend_last_90d", "visits_last_30d", "visits_last_90d", "visit_change_ratio_90d",
            "spend_change_ratio_90d", "spend_change_last_90d", "orders_change_last_90d",
            "average_order_value_change_ratio_90d", "loyalty_points_earned_change_last_90d",
            "complaints_change_last_90d", "gap_ratio_since_last_purchase", "active_days_change_30d"} <= named, named
    assert any(n.endswith("_events_change_30d") for n in named)  # activity per event type
    words = re.compile(r"down from|up from|fewer|more in the|less in the|fell to|usually")
    for feat in spec.features:  # no comparison in words without the rule
        if feat.can_drive and any(words.search(t) for t in _templates(feat)):
            assert feat.compares is not None, (feat.name, feat.description)
    for feat in comparisons:
        falls = feat.risk_direction < 0
        trivial = (TRIVIAL_FALLS if falls else TRIVIAL_RISES) + (SUB_UNIT if falls and feat.compares != (None, None)
                                                                 else [])
        if feat.counts:
            trivial = trivial + (COUNT_TRIVIAL_FALLS if falls else COUNT_TRIVIAL_RISES)
        for recent, earlier in trivial:
            value, row = _customer(feat, spec, recent, earlier)
            assert feat.reason(value, row, "EUR") is None, (feat.name, recent, earlier, feat.reason(value, row))
        for recent, earlier in MATERIAL_FALLS if falls else MATERIAL_RISES:
            if feat.counts and (recent, earlier) in trivial:
                continue
            value, row = _customer(feat, spec, recent, earlier)
            if feat.unit == "ratio" and not earlier:
                continue  # no ratio to an earlier 0
            if isinstance(feat.neutral, int | float) and not (value - feat.neutral) * feat.risk_direction > 0:
                continue  # short of a stricter point of the family's own (twice the usual gap of an activity habit)
            text = feat.reason(value, row, "EUR")
            assert text is not None, (feat.name, recent, earlier)
            assert not broken_rules(text, _nouns(spec)), (feat.name, text)


def test_the_monetary_fall_of_a_cent_is_no_reason(spec):
    spend = spec["spend_last_30d"]
    assert spend.reason(10.23, {"spend_previous_30d": 10.24}, "EUR") is None
    assert spend.reason(0.0, {"spend_previous_30d": 0.6}, "EUR") is None  # "Bought nothing, after spending 0.60"
    assert spend.reason(8.0, {"spend_previous_30d": 10.24}, "EUR") == \
        "Spent 8.00 EUR in the last 30 days, down from 10.24 EUR in the 30 days before"
    assert spec["visits_last_30d"].reason(9.0, {"visits_previous_30d": 9.0}) is None
    assert spec["visits_last_30d"].reason(9.0, {"visits_previous_30d": 10.0}) is None
    assert spec["visits_last_30d"].reason(0.0, {"visits_previous_30d": 1.0}) is None  # "down from 1": chance
    assert spec["visits_last_30d"].reason(4.0, {"visits_previous_30d": 5.0}) is None
    assert spec["visits_last_30d"].reason(0.0, {"visits_previous_30d": 3.0}) == \
        "No visits in the last 30 days, down from 3 in the 30 days before"


def test_drivers_apply_the_same_rule_as_the_sentences(spec):
    """The vectorised checks that choose drivers agree with :meth:`Feature.reason` on every comparison."""
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame({f.name: (np.array(["a"] * n, dtype=object) if f.kind == "categorical"
                                   else rng.choice([0.0, 1.0, 2.0, 9.0, 10.0, 10.23, 10.24, 0.8, 0.95, -3.0], n))
                          for f in spec.features})
    rows = frame.to_dict("records")
    for feat in _comparisons(spec):
        risky = np.array([feat.on_risky_side(r[feat.name], r) for r in rows])
        chosen = _sayable(feat, frame)
        signed = frame[feat.name].to_numpy() >= 0  # a negative value has a rule of its own
        assert (chosen[signed] == risky[signed]).all(), feat.name
        # and a sentence is said only where the drivers' check lets it through (some more fail to render: a
        # negative count of the window before in these random rows)
        said = np.array([feat.reason(r[feat.name], r) is not None for r in rows])
        assert not (said & ~chosen)[signed].any(), feat.name


def _last_row_ages(tables: dict[str, pd.DataFrame], as_of) -> pd.Series:
    """Per customer, whole days from their last row of any kind (a purchase, a return, an event, an invoice issued
    or paid, a subscription started or ended, a signup) to ``as_of``, from the raw tables."""
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    dates = {"transactions": ("timestamp",), "events": ("timestamp",), "invoices": ("issued_at", "paid_at"),
             "subscriptions": ("start_date", "end_date"), "customers": ("signup_date",)}
    stamps = [pd.DataFrame({"customer_id": tables[t]["customer_id"], "at": tables[t][c]})
              for t, columns in dates.items() for c in columns]
    rows = pd.concat(stamps).dropna()
    rows = rows[rows["at"] < end]
    return (pd.Timestamp(as_of) - rows.groupby("customer_id")["at"].max().dt.normalize()).dt.days


def test_not_active_is_never_said_of_a_customer_with_any_row_in_those_days(sample_tables, params):
    """"Not active in the last 30 days" (docs/explanations.md, issue 29): for every customer of a generated base, the
    sentence can be said only when none of their rows of any table falls in those days; a return, an invoice paid,
    a subscription started, a subscription ended or a signup in them each keeps it unsaid (planted into customers it
    was said of). The subscription's and the invoices' conditions read condition-only features (no model inputs)."""
    from pipeline.build.features import build_features
    from tests.conftest import copy_tables

    def sayable(tables):
        features = build_features(dataset_from_frames(tables, params), params, AS_OF)
        spec = feature_spec(context_for(dataset_from_frames(tables, params), params, AS_OF))[0]
        feat = spec["active_days_last_30d"]
        said = _sayable(feat, features) & (features[feat.name] == 0).to_numpy()
        # the sentence the drivers would render agrees with the vectorised check
        row = features.iloc[int(np.flatnonzero(said)[0])].to_dict()
        assert feat.reason(row[feat.name], row) == "Not active in the last 30 days"
        return pd.Series(said, index=features["customer_id"])

    before = sayable(sample_tables)
    ages = _last_row_ages(sample_tables, AS_OF).reindex(before.index)
    assert before.sum() >= 10  # the check runs on customers it is said of, not on none
    assert not (before & (ages < 30)).any(), before[before & (ages < 30)].index.tolist()[:5]

    at = pd.Timestamp(AS_OF) - pd.Timedelta(days=10) + pd.Timedelta(hours=12)
    ids = [c for c in before[before].index if c in set(sample_tables["customers"]["customer_id"])][:5]
    assert len(ids) == 5
    tables = copy_tables(sample_tables)
    tx, inv, subs, cust = (tables[t] for t in ("transactions", "invoices", "subscriptions", "customers"))
    returned = tx[tx["customer_id"] == ids[0]].iloc[[0]].assign(timestamp=at, amount=-5.0, is_return=True,
                                                                  order_id="planted-return")
    paid = pd.DataFrame({"customer_id": [ids[1]], "invoice_id": ["planted-invoice"],
                         "issued_at": [at - pd.Timedelta(days=40)], "due_date": [at - pd.Timedelta(days=26)],
                         "paid_at": [at], "amount": [9.99]}).astype(inv.dtypes.to_dict())
    started = pd.DataFrame({"customer_id": [ids[2]], "start_date": [at], "end_date": [pd.NaT],
                            "plan": ["basic"], "price": [9.99]}).astype(subs.dtypes.to_dict())
    ended = pd.DataFrame({"customer_id": [ids[4]], "start_date": [at - pd.Timedelta(days=200)], "end_date": [at],
                          "plan": ["basic"], "price": [9.99]}).astype(subs.dtypes.to_dict())
    tables["transactions"] = pd.concat([tx, returned], ignore_index=True)
    tables["invoices"] = pd.concat([inv, paid], ignore_index=True)
    tables["subscriptions"] = pd.concat([subs, started, ended], ignore_index=True)
    tables["customers"] = cust.assign(signup_date=cust["signup_date"].mask(cust["customer_id"] == ids[3], at))
    after = sayable(tables)
    assert not after[ids].any(), after[ids]
    ages = _last_row_ages(tables, AS_OF).reindex(after.index)
    assert not (after & (ages < 30)).any()
    assert (after.drop(ids) == before.drop(ids)).all()  # nobody else changes


def test_a_condition_on_days_since_a_row_the_customer_never_had_holds_only_when_it_says_so():
    from features.registry import said_when_holds

    days = np.array([3.0, 30.0, np.nan])
    assert said_when_holds(days, ">=", 30).tolist() == [False, True, False]  # missing never holds ...
    assert said_when_holds(days, ">= or missing", 30).tolist() == [False, True, True]  # ... unless it says so
    assert said_when_holds(days, "<= or missing", 3).tolist() == [True, False, True]
    assert said_when_holds(None, ">= or missing", 30) and not said_when_holds(None, ">=", 30)
    with pytest.raises(ValueError, match="'>= or missing'"):
        Feature("x", "f", "days", "x", 1, said_when=(("y", "> or missing", 1),))
