"""One currency style everywhere: a symbol before the amount with no space, a code after it with a space, in the
reasons, the report, Excel and the command line (pipeline.core.money)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.money import MISSING, excel_format, is_code, money

CODES = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3)
SYMBOLS = st.sampled_from(["£", "€", "$", "¥", "₹", "US$", "R$", "A$"])
AMOUNTS = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


def number_of(text: str) -> float:
    return float(text.replace(",", ""))


@settings(max_examples=300, deadline=None)
@given(AMOUNTS, CODES, st.integers(0, 3))
def test_a_code_goes_after_the_amount_with_a_space(amount, code, decimals):
    text = money(amount, code, decimals)
    number, space, after = text.rpartition(" ")
    assert space and after == code and is_code(code)
    assert re.fullmatch(r"-?\d{1,3}(,\d{3})*" + (rf"\.\d{{{decimals}}}" if decimals else ""), number)
    assert abs(number_of(number) - amount) <= 0.5 * 10 ** -decimals + 1e-6 * abs(amount)
    assert not re.fullmatch(r"-0(\.0*)?", number)  # an amount that rounds to zero is not negative


@settings(max_examples=300, deadline=None)
@given(AMOUNTS, SYMBOLS, st.integers(0, 3))
def test_a_symbol_goes_before_the_amount_with_no_space_and_the_sign_before_it(amount, symbol, decimals):
    text = money(amount, symbol, decimals)
    sign = "-" if text.startswith("-") else ""
    assert text.startswith(sign + symbol) and " " not in text and not is_code(symbol)
    number = text[len(sign + symbol):]
    assert number[:1].isdigit()
    value = number_of(number) * (-1 if sign else 1)
    assert abs(value - amount) <= 0.5 * 10 ** -decimals + 1e-6 * abs(amount)
    assert money(amount, "", decimals) == sign + number  # without a currency: the number alone


def test_examples_and_missing_amounts():
    assert money(1174077, "£", 0) == "£1,174,077" and money(-12.5, "£") == "-£12.50"
    assert money(1174077, "EUR", 0) == "1,174,077 EUR" and money(-12.5, " EUR ") == "-12.50 EUR"
    assert money(-0.001, "£") == "£0.00" and money(1234.5, "") == "1,234.50"
    assert money(float("nan"), "EUR") == money(None) == money(float("inf")) == MISSING


def test_excel_format_follows_the_same_rule():
    assert excel_format("£") == '"£"#,##0.00' and excel_format("US$") == '"US$"#,##0.00'
    assert excel_format("EUR") == '#,##0.00 "EUR"' and excel_format("") == "#,##0.00"
    assert excel_format("EUR", 0) == '#,##0 "EUR"'
    assert excel_format(' "£\\ ') == '"£"#,##0.00'  # quotes and backslashes cannot break the format


def test_reasons_report_excel_and_cli_write_the_same_style(tmp_path):
    from openpyxl import load_workbook

    from features.registry import money as reason_money
    from features.registry import render
    from pipeline.cli.common import out
    from pipeline.cli.outcomes import _amount
    from pipeline.cli.scoring import print_score_summary
    from pipeline.outputs.excel import money_format
    from pipeline.outputs.labels import money_words
    from pipeline.outputs.report.html import money as report_money
    from pipeline.outputs.sets import write_excel

    for currency, before, after in (("£", "£", ""), ("EUR", "", " EUR")):
        assert reason_money(3978.99, currency) == f"{before}3,978.99{after}"
        assert render("Spent {value:money} in the last 90 days", {"value": 3978.99}, currency) == \
            f"Spent {before}3,978.99{after} in the last 90 days"
        assert money_words(1174077.4, currency) == f"{before}1,174,077{after}"  # sentences of the report and Excel
        assert report_money(1174077.4, currency) == f"{before}1,174,077{after}"
        assert money_format(currency) == excel_format(currency)
        assert _amount(5671.7, currency) == f"{before}5,671.70{after}"  # churn outcomes

        frame = pd.DataFrame({"customer_id": ["1"], "churn_probability": [0.5], "value_at_risk": [5671.7],
                              "priority": [1.0], "contact_group": ["treatment"]})
        path = write_excel(frame, tmp_path / "risk.xlsx", currency=currency)
        ws = load_workbook(path)["call list"]
        cell = ws.cell(row=2, column=[c.value for c in ws[1]].index(f"Value at risk ({currency})") + 1)
        assert cell.value == 5671.7 and cell.number_format == (f'"{before}"#,##0.00' if before else '#,##0.00 "EUR"')

        risk = pd.DataFrame({"risk_band": ["high"], "contact_group": ["treatment"], "value_at_risk": [5671.7]})
        summary = {"band_rule": {"by": "probability", "bands": {"high": 0.0}}, "as_of": "2025-12-31",
                   "bands": {"high": 1}, "customers": 1, "model_version": "v1", "value_at_risk": 5671.7,
                   "value_if_retained": 9000.0, "value_rule": {"lifetime_months": 12}, "lifetime_value": 20000.0,
                   "drifted_features": [], "label": {"horizon_days": 90},
                   "targeting": {"groups": {"treatment": 1}, "capacity": None, "holdout_share": 0.1,
                                 "contact_cost": 1.0, "offer_cost": 0.0, "net_saving_contacted": 4.0,
                                 "win_back_gaps": 3.0, "win_back": {"customers": 0}}}
        result = SimpleNamespace(summary=summary, risk_list=risk, global_families=pd.DataFrame(
            {"family": ["recency"], "mean_abs_effect_pp": [0.02]}))
        with out.capture() as captured:
            print_score_summary(result, tmp_path / "risk.parquet", currency)
        flat = " ".join(captured.get().split())
        assert f"total value at risk: {before}5,671.70{after} (churn probability x value if retained, " \
               f"{before}9,000.00{after} in all)" in flat
        assert f"a contact costs {before}1.00{after}" in flat and f"contacts: {before}4.00{after}" in flat
        assert f"{before}5,671.70{after}" in captured.get().split("\n", 2)[2]  # the table's value at risk
