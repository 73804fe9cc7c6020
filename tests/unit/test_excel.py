"""The Excel call list: sheets, order, formats, text safety, older lists, truncation and linear work."""

from __future__ import annotations

import sys
import zipfile
from datetime import datetime

import numpy as np
import pandas as pd
from openpyxl import load_workbook

from pipeline.core.config import Params, load_params
from pipeline.outputs.excel import HELD_OUT_SHEET_NAME, SHEETS, WIN_BACK_SHEET, call_order, money_format
from pipeline.outputs.labels import (
    CONTACT_GROUPS,
    HELD_OUT_SHEET,
    HELD_OUT_WHY,
    band_label,
    band_rule_words,
    column_header,
    groups_meaning,
    tier_label,
)
from pipeline.outputs.sets import write_excel

HOSTILE_ID = '=HYPERLINK("http://evil","x")'
LONG_REASON = "No purchase for 94 days, 3.1 times their usual gap, longer than peers"  # 68 characters
SUMMARY = {
    "as_of": "2025-12-31", "model_version": "v7", "label": {"kind": "inactivity", "horizon_days": 90},
    "band_rule": {"by": "probability", "bands": {"high": 0.6, "medium": 0.3, "low": 0.0}},
    "targeting": {"holdout_share": 0.1, "capacity": 500},
}
CALL_LIST_HEADERS = ["Customer", "Risk band", "Churn probability", "Value at risk (EUR, next 90 days)", "Reason 1",
                     "Reason 2", "Reason 3", "Suggested action", "Priority rank"]


def risk_list(n: int = 12, seed: int = 3, new_columns: bool = True) -> pd.DataFrame:
    """A risk list in score order (by probability), not in call order; ``new_columns`` adds priority and
    the targeting columns that older lists lack."""
    rng = np.random.default_rng(seed)
    p = np.sort(rng.uniform(0.05, 0.95, n))[::-1]
    value = rng.uniform(10, 900, n)
    frame = pd.DataFrame({
        "customer_id": [f"{i:05d}" for i in range(n)], "as_of": pd.Timestamp("2025-12-31"), "churn_probability": p,
        "risk_band": np.where(p >= 0.6, "high", np.where(p >= 0.3, "medium", "low")),
        "loyalty_score": rng.uniform(0, 100, n), "loyalty_tier": "steady", "expected_value": value,
    })
    if new_columns:
        frame["value_if_retained"] = value * 1.2
    frame["value_at_risk"] = p * value
    if new_columns:
        frame["lifetime_value"] = value * 3
    frame["action"] = "Service recovery call from a senior agent"
    if new_columns:
        frame["action_effect"] = rng.uniform(0.05, 0.25, n)
        frame["priority"] = p * value * 1.2 * frame["action_effect"]
        frame["contact_group"] = rng.choice(["treatment", "holdout", "not_selected"], n)
    frame["model_version"] = "v7"
    for k in (1, 2, 3):
        frame[f"driver_{k}_feature"] = "days_since_last_purchase"
        frame[f"driver_{k}_family"] = "recency"
        frame[f"driver_{k}_value"] = -2.5
        frame[f"driver_{k}_effect"] = 0.1
        frame[f"driver_{k}_reason"] = LONG_REASON
    return frame


def written(tmp_path, frame: pd.DataFrame, **kwargs):
    path = write_excel(frame, tmp_path / "risk.xlsx", **kwargs)
    return path, load_workbook(path)


def column(ws, header: str) -> int:
    return [c.value for c in ws[1]].index(header) + 1


def width(ws, col: int) -> float:
    """A column's width (adjacent columns of one width are stored as one range)."""
    return next(d.width for d in ws.column_dimensions.values() if d.min <= col <= d.max)


def contacted(frame: pd.DataFrame) -> pd.DataFrame:
    """The customers of the call list (contact group "treatment"), in the order to call."""
    return frame[frame["contact_group"] == "treatment"].sort_values(
        ["priority", "churn_probability", "customer_id"], ascending=[False, False, True])


def ids(ws) -> list:
    return [ws.cell(row=r, column=1).value for r in range(2, ws.max_row + 1)]


def test_sheets_in_order_with_call_list_first(tmp_path):
    _, wb = written(tmp_path, risk_list(), summary=SUMMARY, currency="EUR")
    assert list(SHEETS) == ["call list", "all columns", "definitions"]
    assert wb.sheetnames == ["call list", HELD_OUT_SHEET_NAME, "all columns", "definitions"]
    assert wb.active.title == "call list"
    assert [c.value for c in wb["call list"][1]] == CALL_LIST_HEADERS
    frame = risk_list()
    frame["contact_group"] = "treatment"  # nobody held out: no held-out sheet
    _, wb = written(tmp_path, frame, summary=SUMMARY, currency="EUR")
    assert wb.sheetnames == list(SHEETS)


def test_call_list_is_in_priority_order(tmp_path):
    frame = risk_list(n=30)
    frame.loc[5, "priority"] = frame.loc[6, "priority"]  # a tie falls back to probability
    frame.loc[5:6, "contact_group"] = "treatment"
    _, wb = written(tmp_path, frame)
    ws = wb["call list"]
    expected = contacted(frame)["customer_id"].tolist()
    assert ids(ws) == expected and len(expected) < len(frame)  # only the customers to contact
    ranks = [ws.cell(row=r, column=column(ws, "Priority rank")).value for r in range(2, ws.max_row + 1)]
    assert ranks == list(range(1, len(expected) + 1))  # no gaps where held-out customers were
    # the analysts' sheet has every customer, in the same order
    everyone = frame.sort_values(["priority", "churn_probability", "customer_id"], ascending=[False, False, True])
    assert ids(wb["all columns"]) == everyone["customer_id"].tolist()


def test_call_order_breaks_ties_by_probability_then_id():
    frame = pd.DataFrame({"customer_id": ["b", "a", "c", "d"], "priority": [1.0, 1.0, 1.0, np.nan],
                          "churn_probability": [0.5, 0.5, 0.9, 0.99], "value_at_risk": [9.0, 1.0, 1.0, 1.0]})
    assert frame["customer_id"].iloc[call_order(frame)].tolist() == ["c", "a", "b", "d"]


def test_probability_and_value_are_numbers_with_formats(tmp_path):
    _, wb = written(tmp_path, risk_list(), currency="EUR")
    ws = wb["call list"]
    prob = ws.cell(row=2, column=column(ws, "Churn probability"))
    assert prob.data_type == "n" and 0 < prob.value < 1 and prob.number_format == "0%"
    value = ws.cell(row=2, column=column(ws, "Value at risk (EUR)"))  # no summary: no period known
    assert value.data_type == "n" and value.value > 0 and value.number_format == '#,##0.00 "EUR"'
    _, wb = written(tmp_path, risk_list(), currency="£")  # a symbol goes before the amount
    assert wb["call list"].cell(row=2, column=4).number_format == '"£"#,##0.00'
    _, wb = written(tmp_path, risk_list())  # no currency: a plain amount
    assert wb["call list"].cell(row=2, column=4).number_format == "#,##0.00"


def test_value_headers_carry_currency_and_period(tmp_path):
    summary = {**SUMMARY, "targeting": {**SUMMARY["targeting"], "contact_cost": 1.0},
               "value_rule": {"lifetime_months": 12}}
    _, wb = written(tmp_path, risk_list(), summary=summary, currency="EUR")
    headers = [c.value for c in wb["call list"][1]]
    assert "Value at risk (EUR, next 90 days)" in headers and "Expected net saving (EUR, next 90 days)" in headers
    analysts = [c.value for c in wb["all columns"][1]]
    assert {"Value if retained (EUR, next 90 days)", "Lifetime value (EUR, next 12 months)"} <= set(analysts)
    _, wb = written(tmp_path, risk_list(), summary=summary)  # without a currency: the period alone
    assert "Value at risk (next 90 days)" in [c.value for c in wb["call list"][1]]


def test_money_format_cannot_be_broken_by_the_currency_text():
    assert money_format(' "EUR\\ ') == '#,##0.00 "EUR"'
    assert money_format("£") == '"£"#,##0.00' and money_format("US$") == '"US$"#,##0.00'
    assert money_format("") == "#,##0.00"


def test_header_bold_frozen_and_filtered(tmp_path):
    _, wb = written(tmp_path, risk_list(n=12))
    for name in ("call list", "all columns"):
        ws = wb[name]
        assert all(c.font.b for c in ws[1])
        assert ws.freeze_panes == "A2"
        last = ws.cell(row=1, column=ws.max_column).column_letter
        assert ws.auto_filter.ref == f"A1:{last}{ws.max_row}"
    assert wb["all columns"].max_row == 13


def test_reasons_are_wrapped_and_readable(tmp_path):
    _, wb = written(tmp_path, risk_list())
    ws = wb["call list"]
    for k in (1, 2, 3):
        col = column(ws, f"Reason {k}")
        cell = ws.cell(row=2, column=col)
        assert cell.value == LONG_REASON and cell.alignment.wrap_text
        wide = width(ws, col)
        assert 40 <= wide <= 70 and 2 * wide >= len(LONG_REASON)  # two lines at most
    customer = width(ws, 1)
    assert len("Customer") <= customer <= 20  # fitted, not a fixed default


def test_dates_have_no_times_and_probabilities_are_numbers_in_all_columns(tmp_path):
    frame = risk_list()
    frame["as_of"] = pd.Timestamp("2025-12-31 17:45")  # a time that must not show
    _, wb = written(tmp_path, frame)
    ws = wb["all columns"]
    assert [c.value for c in ws[1]] == [column_header(c) for c in frame.columns]
    as_of = ws.cell(row=2, column=column(ws, "As of"))
    assert as_of.number_format == "yyyy-mm-dd" and as_of.value == datetime(2025, 12, 31)
    prob = ws.cell(row=2, column=column(ws, "Churn probability"))
    assert prob.data_type == "n" and 0 < prob.value < 1


def test_dates_read_back_from_csv_as_text_are_dates(tmp_path):
    frame = risk_list()
    frame["as_of"] = "2025-12-31"  # what a CSV risk list gives back
    _, wb = written(tmp_path, frame)
    cell = wb["all columns"].cell(row=2, column=2)
    assert cell.is_date and cell.value == datetime(2025, 12, 31)


def test_hostile_text_stays_text_and_numbers_stay_numbers(tmp_path):
    frame = risk_list(n=6)
    frame["contact_group"] = "treatment"
    frame.loc[0, "priority"] = 1e9  # first on the list
    frame.loc[0, "customer_id"] = HOSTILE_ID
    frame.loc[1, "action"] = "+1+2"
    frame.loc[2, "driver_1_reason"] = "@SUM(A1)"
    frame.loc[3, "risk_band"] = "#N/A"  # an error code as text, not an error
    frame.loc[3, "driver_2_reason"] = "#N/A"
    frame.loc[4, "loyalty_tier"] = "-3"
    path, wb = written(tmp_path, frame)
    for ws, band in ((wb["call list"], "#N/A risk"), (wb["all columns"], "#N/A risk")):  # bands in words
        texts = [c for row in ws.iter_rows(min_row=2) for c in row if isinstance(c.value, str)]
        assert texts and all(c.data_type == "s" for c in texts)
        assert ws.cell(row=2, column=1).value == HOSTILE_ID
        values = {c.value for c in texts}
        assert {"+1+2", "@SUM(A1)", "#N/A", band} <= values
    ws = wb["all columns"]
    assert ws.cell(row=2, column=column(ws, "Reason 1: the customer's value")).value == -2.5
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in z.read(name).decode() and "<hyperlink" not in z.read(name).decode()


def test_text_that_looks_like_an_excel_escape_is_kept_as_written(tmp_path):
    frame = risk_list(n=2)
    frame["contact_group"] = "treatment"
    frame["customer_id"] = ["A_x0041_", "B\x01"]  # Excel would read _x0041_ as "A"; \x01 is not allowed in XML
    path, wb = written(tmp_path, frame)
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "A_x005F_x0041_" in sheet and "\x01" not in sheet
    assert {wb["call list"].cell(row=r, column=1).value for r in (2, 3)} == {"A_x005F_x0041_", "B"}
    # a reader that follows the standard (openpyxl does not undo the escape) reads the text as it was written
    assert {row[0] for row in cells_by_calamine(path)["call list"][1:]} == {"A_x0041_", "B"}


def cells_by_openpyxl(path) -> dict:
    """Every sheet's cells as openpyxl reads them: values, missing as None."""
    wb = load_workbook(path)
    return {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in wb}


def cells_by_calamine(path) -> dict:
    """Every sheet's cells as a second reader (calamine, a Rust reader, through pandas) reads them."""
    sheets = pd.read_excel(path, sheet_name=None, header=None, engine="calamine")
    return {name: [[None if isinstance(v, float) and v != v else v for v in row] for row in frame.itertuples(index=False)]
            for name, frame in sheets.items()}


def test_a_second_reader_sees_the_same_cells(tmp_path):
    frame = risk_list(n=40)
    frame.loc[0, "customer_id"] = HOSTILE_ID
    frame.loc[1, "action"] = "+1+2"
    frame.loc[2, "driver_1_reason"] = "=SUM(A1)"
    frame.loc[3, "driver_2_reason"] = None
    frame.loc[4, "lifetime_value"] = np.nan
    frame.loc[5, "driver_3_reason"] = "http://example.com/x"  # a link as text, not a hyperlink
    frame["as_of"] = pd.Timestamp("2025-12-31 17:45")
    frame.loc[6:9, "contact_group"] = "win_back"
    path = write_excel(frame, tmp_path / "risk.xlsx", summary=SUMMARY, currency="£")
    first, second = cells_by_openpyxl(path), cells_by_calamine(path)
    assert list(first) == list(second) == ["call list", HELD_OUT_SHEET_NAME, WIN_BACK_SHEET, "all columns",
                                           "definitions"]
    for name, rows in first.items():
        assert len(rows) == len(second[name]), name
        for r, (a, b) in enumerate(zip(rows, second[name], strict=True)):
            assert len(a) == len(b) and all(x == y for x, y in zip(a, b, strict=True)), (name, r, a, b)
    assert any(HOSTILE_ID in row for row in second["call list"] + second[HELD_OUT_SHEET_NAME])
    assert second["all columns"][1][1] == datetime(2025, 12, 31)


def test_rows_made_whole_are_what_xlsxwriter_writes_cell_by_cell(tmp_path, monkeypatch):
    from xlsxwriter.worksheet import Worksheet

    import pipeline.outputs.excel as excel

    frame = risk_list(n=30)
    frame.loc[0, "customer_id"] = " <a&b> "  # markup and spaces at both ends
    frame.loc[1, "action"] = "A_x0041_ and \x01 and \ufffe"  # Excel's escapes and characters it cannot hold
    frame.loc[2, "driver_1_reason"] = "line one\nline two"
    frame.loc[3, "loyalty_score"] = 1e-20
    frame.loc[4, "lifetime_value"] = -1234567890.123456789
    frame.loc[5, "driver_1_value"] = np.nan
    frame.loc[6, "driver_2_reason"] = "x" * 40_000  # cut to Excel's 32,767 characters
    frame["flag"] = [True, False, None] * 10  # booleans
    frame["mixed"] = [1, "x", 2.5] * 10
    fast = write_excel(frame, tmp_path / "fast.xlsx", summary=SUMMARY, currency="£").read_bytes()
    monkeypatch.setattr(excel, "WORKSHEET_CLASS", Worksheet)
    general = write_excel(frame, tmp_path / "general.xlsx", summary=SUMMARY, currency="£").read_bytes()
    assert fast == general


def test_text_like_xlsxwriters_rich_string_markup_stays_text(tmp_path):
    # XlsxWriter's own constant-memory path writes "<r>...</r>" unescaped, as rich-string XML: here it is text
    frame = risk_list(n=2)
    frame["contact_group"] = "treatment"
    frame["customer_id"] = ["<r><t>x</t></r>", "<r>&</r>"]
    path = write_excel(frame, tmp_path / "risk.xlsx")
    written = sorted(["<r><t>x</t></r>", "<r>&</r>"])
    assert sorted(row[0] for row in cells_by_openpyxl(path)["call list"][1:]) == written
    assert sorted(row[0] for row in cells_by_calamine(path)["call list"][1:]) == written


def test_missing_values_are_empty_cells_and_ids_keep_leading_zeros(tmp_path):
    frame = risk_list(n=4)
    frame["priority"] = [4.0, 3.0, 2.0, 1.0]
    frame["contact_group"] = "treatment"
    frame.loc[0, "driver_3_reason"] = None
    frame.loc[0, "driver_3_value"] = np.nan
    frame.loc[0, "lifetime_value"] = np.inf
    _, wb = written(tmp_path, frame)
    ws = wb["call list"]
    assert ws.cell(row=2, column=1).value == "00000" and ws.cell(row=2, column=1).data_type == "s"
    assert ws.cell(row=2, column=column(ws, "Reason 3")).value is None
    ws = wb["all columns"]
    assert ws.cell(row=2, column=column(ws, "Reason 3: the customer's value")).value is None
    assert ws.cell(row=2, column=column(ws, "Lifetime value")).value is None


def test_held_out_customers_have_their_own_sheet_and_the_call_list_only_those_to_contact(tmp_path):
    frame = risk_list(n=8)
    frame["priority"] = [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
    frame["contact_group"] = ["treatment", "holdout", "treatment", "not_selected", "holdout", "treatment",
                              "not_selected", "treatment"]
    _, wb = written(tmp_path, frame, summary=SUMMARY)
    calls, held = wb["call list"], wb[HELD_OUT_SHEET_NAME]
    assert ids(calls) == ["00000", "00002", "00005", "00007"]
    assert [calls.cell(row=r, column=column(calls, "Priority rank")).value for r in range(2, 6)] == [1, 2, 3, 4]
    assert "Contact group" not in [c.value for c in calls[1]]  # everyone on it is to be contacted
    assert ids(held) == ["00001", "00004"]
    cells = [held.cell(row=r, column=column(held, "Contact group")) for r in (2, 3)]
    assert {c.value for c in cells} == {CONTACT_GROUPS["holdout"]}  # the report's words
    assert all(c.font.b and c.fill.fgColor.rgb.endswith("FFC7CE") for c in cells)  # unmistakable
    assert "Priority rank" not in [c.value for c in held[1]]  # not an order to call in
    assert held.freeze_panes == "A2" and held.auto_filter.ref
    # customers not selected are only on the analysts' sheet, with every other customer
    assert sorted(ids(wb["all columns"])) == sorted(frame["customer_id"])
    groups = wb["all columns"]
    words = [groups.cell(row=r, column=column(groups, "Contact group")).value for r in range(2, 10)]
    assert set(words) == {CONTACT_GROUPS[g] for g in ("treatment", "holdout", "not_selected")}
    definitions = {r[0].value: r[1].value for r in wb["definitions"].iter_rows(min_row=1)}
    assert definitions[HELD_OUT_SHEET] == HELD_OUT_WHY and "do not call" in HELD_OUT_WHY
    assert definitions["Hold out — do not contact"] == "2 customers"


def test_win_back_customers_have_their_own_sheet_not_the_top_of_the_call_list(tmp_path):
    frame = risk_list(n=6)
    frame["priority"] = [9.0, 8.0, 3.0, 2.0, 1.0, -0.5]  # the two long gone have the highest expected saving
    frame["contact_group"] = ["win_back", "win_back", "treatment", "holdout", "treatment", "not_selected"]
    summary = {**SUMMARY, "targeting": {**SUMMARY["targeting"], "contact_cost": 1.0, "offer_cost": 0.0,
                                         "win_back_gaps": 3.0,
                                         "profit": {"best_list_size": 3, "best_net_saving": 6.0,
                                                    "capacity_list_size": 3, "capacity_net_saving": 6.0,
                                                    "left_by_capacity": 0.0}}}
    _, wb = written(tmp_path, frame, summary=summary)
    assert wb.sheetnames == ["call list", HELD_OUT_SHEET_NAME, WIN_BACK_SHEET, "all columns", "definitions"]
    calls, gone = wb["call list"], wb[WIN_BACK_SHEET]
    assert ids(calls) == ["00002", "00004"]
    assert ids(wb[HELD_OUT_SHEET_NAME]) == ["00003"]
    assert ids(gone) == ["00000", "00001"]
    assert [gone.cell(row=r, column=column(gone, "Priority rank")).value for r in (2, 3)] == [1, 2]
    saving = "Expected net saving (next 90 days)"
    assert [calls.cell(row=r, column=column(calls, saving)).value for r in (2, 3)] == [3.0, 1.0]
    assert wb["all columns"].max_row == 7  # every customer, every list
    definitions = {r[0].value: r[1].value for r in wb["definitions"].iter_rows(min_row=1)}
    assert definitions["List size"].startswith("Calling the first 3 customers maximises expected profit: 6.00 over "
                                               "the next 90 days")
    assert "3 of their usual gaps" in definitions["Win-back list"]
    assert definitions["Win back"] == "2 customers"


def test_bands_tiers_and_groups_are_named_as_the_report_names_them(tmp_path):
    frame = risk_list(n=12)
    frame["contact_group"] = "treatment"
    frame["loyalty_tier"] = ["at_risk", "champion"] * 6
    _, wb = written(tmp_path, frame)
    ws = wb["call list"]
    shown = [ws.cell(row=r, column=column(ws, "Risk band")).value for r in range(2, 14)]
    expected = frame.set_index("customer_id").loc[ids(ws), "risk_band"]
    assert shown == [band_label(b) for b in expected] and set(shown) <= {band_label(b) for b in ("high", "medium", "low")}
    analysts = wb["all columns"]
    by_id = frame.set_index("customer_id")
    for r in range(2, 14):
        customer = analysts.cell(row=r, column=1).value
        assert analysts.cell(row=r, column=column(analysts, "Risk band")).value == band_label(by_id.at[customer,
                                                                                                     "risk_band"])
        tier = analysts.cell(row=r, column=column(analysts, column_header("loyalty_tier"))).value
        assert tier == tier_label(by_id.at[customer, "loyalty_tier"]) and tier != "at_risk"
        assert analysts.cell(row=r, column=column(analysts, "Contact group")).value == CONTACT_GROUPS["treatment"]


def test_analysts_sheet_is_readable_with_formatted_numbers(tmp_path):
    frame = risk_list(n=12)
    frame["loyalty_score"] = 41.93000000000001  # a float that must not show 15 decimals
    _, wb = written(tmp_path, frame, summary=SUMMARY, currency="£")
    ws = wb["all columns"]
    headers = [c.value for c in ws[1]]
    assert not [h for h in headers if "_" in h]  # no raw column names
    assert headers[:4] == ["Customer", "As of", "Churn probability", "Risk band"]
    assert "Reason 1: feature" in headers and "Reason 1: effect on churn probability" in headers

    def cell(header):
        return ws.cell(row=2, column=column(ws, header))

    assert cell("Churn probability").number_format == "0.0%"
    assert cell("Reason 1: effect on churn probability").number_format == "0.0%"
    assert cell("Value at risk (£, next 90 days)").number_format == '"£"#,##0.00'
    assert cell("Priority (£, next 90 days)").number_format == '"£"#,##0.00'
    assert cell("Loyalty score (0-100)").number_format == "#,##0.00"
    assert cell("Reason 1: the customer's value").number_format == "#,##0.00"
    assert cell("Reason 1: feature").value == "Days since last purchase"
    assert cell("Reason 1: family").value != "recency"  # the family's declared label
    numbers = [c for row in ws.iter_rows(min_row=2) for c in row if isinstance(c.value, float)]
    assert numbers and all(c.number_format != "General" for c in numbers)  # every fraction shows formatted


def test_older_list_without_priority_or_contact_group(tmp_path):
    frame = risk_list(n=20, new_columns=False)
    _, wb = written(tmp_path, frame, summary={})
    ws = wb["call list"]
    headers = [c.value for c in ws[1]]
    assert "Contact group" not in headers and headers[-1] == "Priority rank"
    expected = frame.sort_values(["value_at_risk", "churn_probability"], ascending=False)["customer_id"].tolist()
    assert [ws.cell(row=r, column=1).value for r in range(2, 22)] == expected
    meanings = dict(wb["definitions"].iter_rows(min_row=2, values_only=True))
    assert meanings["Value at risk"] == "Value at risk = churn probability x expected value"
    assert "by value at risk" in meanings["Priority rank"]


def test_definitions_sheet_explains_the_run(tmp_path):
    _, wb = written(tmp_path, risk_list(n=12), summary=SUMMARY, currency="EUR")
    rows = dict(wb["definitions"].iter_rows(min_row=2, values_only=True))
    assert rows["As of"] == "2025-12-31 (data up to the end of this day)"
    assert rows["Churn means"] == "No purchase in the 90 days after the as-of date"
    assert rows["Model"] == "v7"
    assert rows["Risk bands"] == ("High risk: churn probability 60% or more; Medium risk: churn probability 30% to "
                                  "under 60%; Low risk: churn probability under 30%") == band_rule_words(SUMMARY["band_rule"])
    assert rows["Holdout share"] == ('10% of the customers selected for contact are marked "Hold out — do not contact": '
                                     "kept out of contact on purpose, to measure whether contacting works")
    assert rows["Capacity"].startswith("500")
    assert rows["Currency"] == "EUR" and rows["Customers"] == "12"
    counts = risk_list(n=12)["contact_group"].value_counts()
    assert rows["Contact"] == f"{counts['treatment']} customers"
    assert rows["Hold out — do not contact"] == f"{counts['holdout']} customers"
    assert rows["Value at risk (EUR, next 90 days)"] == ("Value at risk = churn probability x value if retained over the "
                                                         "next 90 days")
    assert "probability x value if retained x expected effect of the action" in rows["Priority rank"]
    assert rows["Contact group"] == groups_meaning() and "Hold out — do not contact = " in rows["Contact group"]
    assert rows["Risk band"] == "Band of churn risk (see Risk bands above)"
    assert "Note" not in rows


def test_beyond_the_row_limit_the_top_by_priority_is_kept_and_said(tmp_path):
    frame = risk_list(n=50)
    _, wb = written(tmp_path, frame, max_rows=10)
    top = frame.sort_values("priority", ascending=False)["customer_id"].head(10).tolist()
    assert wb["all columns"].max_row == 11 and ids(wb["all columns"]) == top
    assert ids(wb["call list"]) == contacted(frame)["customer_id"].head(10).tolist()
    rows = dict(wb["definitions"].iter_rows(min_row=2, values_only=True))
    assert "the top 10 of 50" in rows["Note"]
    assert rows["Customers"] == "50"


def test_same_inputs_give_the_same_bytes(tmp_path):
    frame = risk_list()
    a = write_excel(frame, tmp_path / "a.xlsx", summary=SUMMARY).read_bytes()
    b = write_excel(frame, tmp_path / "b.xlsx", summary=SUMMARY).read_bytes()
    assert a == b


def test_input_frame_is_not_changed(tmp_path):
    frame = risk_list()
    before = frame.copy()
    write_excel(frame, tmp_path / "risk.xlsx", summary=SUMMARY)
    pd.testing.assert_frame_equal(frame, before)


def test_empty_list_writes_headers_only(tmp_path):
    _, wb = written(tmp_path, risk_list().iloc[0:0], summary=SUMMARY, currency="EUR")
    assert wb["call list"].max_row == 1 and [c.value for c in wb["call list"][1]] == CALL_LIST_HEADERS


def python_calls(frame: pd.DataFrame, path) -> int:
    """Python function calls made while writing ``frame``: counted work, not time."""
    calls = 0

    def count(frame_, event, arg):
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(count)
    try:
        write_excel(frame, path)
    finally:
        sys.setprofile(None)
    return calls


def test_work_grows_linearly_with_rows(tmp_path):
    # Writing 4x the rows must add about 3x the work that 2x the rows adds (linear: 3; quadratic: 5),
    # which takes the fixed cost of a workbook out of the comparison.
    n = 400
    w1, w2, w4 = (python_calls(risk_list(n=k * n), tmp_path / f"risk{k}.xlsx") for k in (1, 2, 4))
    assert w4 > w2 > w1
    assert (w4 - w1) / (w2 - w1) < 3.3


def test_currency_comes_from_params_when_set():
    from pipeline.outputs.labels import currency_of

    assert currency_of(Params()) == ""
    assert currency_of(load_params(None, ["scoring.currency= EUR "])) == "EUR"
