"""The risk list as an Excel workbook built for the people who use it.

Sheets, in order (a sheet without customers is left out):

- *call list*: only the customers to contact (contact group "treatment"), in the order to call, ranked 1..n with
  no gaps; only what an agent needs, in readable words, percentages and amounts formatted, reasons wrapped. A list
  written before contact groups existed keeps every customer here.
- *held out*: the customers kept out of contact on purpose, to measure whether contacting works; the definitions
  say why they must not be contacted.
- *win-back*: customers long gone, for their own campaign (not the retention call list).
- *all columns*: every column of the risk list for analysts, with readable headers, formatted numbers and codes
  in words; every customer, those not selected included.
- *definitions*: the run's settings (churn definition, bands, holdout, list size) and what each column means.

Words come from :mod:`pipeline.outputs.labels` (the report and the command line use the same) and amounts follow
:mod:`pipeline.core.money` (a symbol before the amount, a code after it).

The workbook is written by XlsxWriter in constant-memory mode: each sheet is written row by row, in order, from
values converted a chunk of rows at a time, so memory is bounded by the chunk and the time is linear in rows.
Text is always written as a string, never a formula or a link, whatever it starts with; numbers stay numbers;
dates are dates; missing values are empty cells.

Writing bytes to a path is left to :func:`pipeline.outputs.sets.write_excel`, which makes it atomic.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.utility import _preserve_whitespace, _utf16_len, _utf16_truncate, xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from pipeline.core.errors import DataError
from pipeline.core.money import currency_text, excel_format
from pipeline.outputs.labels import (
    ACTION_CHOICE,
    ACTION_CHOICE_BY_EFFECT,
    CONTACT_GROUPS,
    EFFECT_GROUP,
    EFFECT_GROUP_MEANINGS,
    EFFECT_GROUPS,
    EFFECTS_SECTION,
    HELD_OUT_SHEET,
    HELD_OUT_WHY,
    NET_SAVING,
    SHEET_NAMES,
    TERMS,
    WHY_THIS_ACTION,
    WIN_BACK_LIST,
    amount_header,
    as_of_words,
    band_label,
    band_rule_words,
    churn_words,
    code_words,
    column_header,
    contact_label,
    currency_words,
    effect_reason,
    effects_not_used_words,
    effects_used_words,
    groups_meaning,
    holdout_share_words,
    in_sentence,
    net_saving_words,
    period_words,
    targeting_profit_sentence,
    win_back_words,
)

EXCEL_MAX_ROWS = 1_048_575  # data rows below the header row (Excel: 1,048,576 rows per sheet)
EXCEL_MAX_COLUMNS = 16_384
MAX_TEXT = 32_767  # characters in one cell
WIDTH_CAP = 60  # characters; longer text wraps
CHUNK_ROWS = 5_000  # rows converted at a time: bounds memory, keeps the time linear

SHEETS = (SHEET_NAMES["call_list"], SHEET_NAMES["all_columns"], SHEET_NAMES["definitions"])  # always there
HELD_OUT_SHEET_NAME = SHEET_NAMES["held_out"]  # after the call list, when customers are held out
WIN_BACK_SHEET = SHEET_NAMES["win_back"]  # after the held-out sheet, when the list has customers long gone
DATE_TEXT_COLUMNS = ("as_of",)  # dates that a CSV risk list gives back as text
# The analysts' sheet: how each kind of column's numbers show
PROBABILITIES = ("churn_probability", "previous_probability")
POINTS = ("action_effect", "predicted_effect", "probability_change")  # shares and changes of probability
DRIVER_EFFECT = re.compile(r"driver_\d+_effect")
AMOUNTS = ("expected_value", "value_if_retained", "value_at_risk", "lifetime_value", "priority")
FIXED_CREATED = datetime(2000, 1, 1)  # the workbook's "created" property: the same inputs give the same bytes

_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # control characters: not text people read
_EPOCH = np.datetime64("1899-12-30", "D")  # day 0 of Excel's 1900 date system (after its 1900 leap-year bug)
_ALERT = {"bold": True, "font_color": "#9C0006", "bg_color": "#FFC7CE"}
_NEEDS_EXCEL_ESCAPE = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
_NEEDS_XML_ESCAPE = re.compile(r"[&<>]")


@functools.lru_cache(maxsize=1 << 16)  # labels, actions and reasons repeat: each escaped once
def _inline_text(value: str) -> str:
    """The ``<is>`` content of an inline string as XlsxWriter's constant-memory mode writes it: cut to Excel's
    32,767 characters, Excel's ``_xHHHH_`` escapes, whitespace at either end preserved, XML's ``&<>`` escaped.
    Text that looks like XlsxWriter's rich-string markup (``<r>...</r>``) is escaped as text too."""
    if len(value) > MAX_TEXT // 2 and _utf16_len(value) > MAX_TEXT:
        value = _utf16_truncate(value, MAX_TEXT)
    if _NEEDS_EXCEL_ESCAPE.search(value):
        value = Worksheet._escape_control_characters(value)
    preserve = ' xml:space="preserve"' if _preserve_whitespace(value) else ""
    if _NEEDS_XML_ESCAPE.search(value):
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<t{preserve}>{value}</t>"


class FastRowsWorksheet(Worksheet):
    """XlsxWriter's worksheet with one more method, :meth:`write_rows_xml`: rows whose XML the caller made a
    chunk at a time (:func:`_rows_xml`, the same XML as XlsxWriter's constant-memory mode writes cell by cell; a
    test compares the files byte for byte), without a call, a check and a cell record per cell, which made
    100,000 customers 5.6 times as slow (docs/outputs.md)."""

    def write_rows_xml(self, first_row: int, next_row: int, xml: str, last_cell: tuple[int, int] | None) -> bool:
        """Append ``xml``, the ``<row>`` elements of rows ``first_row`` up to ``next_row`` (0-based, in order,
        none written before), whose last cell is at ``last_cell`` (row, column; None: no cell); False, having
        written nothing, where this sheet cannot take them so (the caller then writes them cell by cell)."""
        if (not self.constant_memory or self.excel_version != 2007 or self.row_info or self.comments
                or self.default_row_height != self.original_row_height or first_row < self.previous_row
                or (first_row == self.previous_row and self.table.get(first_row))
                or next_row > self.xls_rowmax
                or (last_cell is not None and last_cell[1] >= self.xls_colmax)):
            return False
        self._write_single_row(first_row)  # the rows before, held by XlsxWriter until now
        if last_cell is not None:
            self._check_dimensions(first_row, 0)
            self._check_dimensions(*last_cell)
            self.fh.write(xml)
        self._write_single_row(next_row)  # nothing held: the next row starts after these
        return True


WORKSHEET_CLASS: type[Worksheet] = FastRowsWorksheet  # XlsxWriter's own Worksheet writes the same bytes, slower


def write_workbook(frame: pd.DataFrame, out: str | Path, summary: dict | None = None, currency: str = "",
                   max_rows: int = EXCEL_MAX_ROWS) -> None:
    """Write the risk list as an .xlsx workbook: call list, held out, win-back, all columns, definitions.

    Args:
        frame: The risk list, one row per customer (any order; columns that a list lacks are left out).
        out: Path to write the workbook to (:func:`pipeline.outputs.sets.write_excel` makes it atomic).
        summary: The risk list's summary sidecar (as-of date, label, band rule, targeting), if there is one.
        currency: Currency code or symbol shown with amounts, e.g. ``"EUR"`` or ``"£"``; empty for plain numbers.
        max_rows: Data rows a sheet may hold; beyond it each sheet keeps its top customers by priority and the
            definitions sheet says so. Excel's own limit is the default.

    Raises:
        DataError: The frame has more columns than a sheet can hold.
        ValueError: ``max_rows`` is below 1.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    if frame.shape[1] > EXCEL_MAX_COLUMNS:
        raise DataError(f"the risk list has {frame.shape[1]:,} columns; an Excel sheet holds at most "
                        f"{EXCEL_MAX_COLUMNS:,}. Fix: export it as Parquet or CSV instead")
    summary = summary or {}
    currency = currency_text(currency)
    targeting = summary.get("targeting") if isinstance(summary.get("targeting"), dict) else {}
    label = summary.get("label") if isinstance(summary.get("label"), dict) else {}
    value_rule = summary.get("value_rule") if isinstance(summary.get("value_rule"), dict) else {}
    words = _Words(currency, label.get("horizon_days"), value_rule.get("lifetime_months"),
                   net_saving="contact_cost" in targeting)  # a list whose priority is the expected net saving
    order = call_order(frame)
    groups = (frame["contact_group"].astype("string").to_numpy(dtype=object, na_value="")
              if "contact_group" in frame.columns else None)

    def part(group: str) -> pd.DataFrame:
        return frame.iloc[order[groups[order] == group][:max_rows]]

    with xlsxwriter.Workbook(str(out), {"constant_memory": True, "strings_to_formulas": False,
                                        "strings_to_urls": False, "strings_to_numbers": False}) as wb:
        wb.set_properties({"created": FIXED_CREATED})
        formats = _Formats(wb)
        calls = frame.iloc[order[:max_rows]] if groups is None else part("treatment")
        held = part("holdout") if groups is not None else frame.iloc[:0]
        gone = part("win_back") if groups is not None else frame.iloc[:0]
        shown = frame.iloc[order[:max_rows]]
        call_list = _call_list_columns(calls, words, formats, ranked=True)
        sheets = [(SHEETS[0], call_list, True)]
        if len(held):
            sheets.append((HELD_OUT_SHEET_NAME, _call_list_columns(held, words, formats, ranked=False,
                                                                   group=True), True))
        if len(gone):
            sheets.append((WIN_BACK_SHEET, _call_list_columns(gone, words, formats, ranked=True), True))
        described = [c for _, columns, _ in sheets for c in columns]  # the agents' sheets' columns, in order
        all_columns = [_analyst_column(str(name), shown[name], words, formats) for name in frame.columns]
        sheets.append((SHEETS[1], all_columns, True))
        definitions = _definitions(frame, summary, words, described, max_rows, {
            "calls": len(calls), "held": len(held), "gone": len(gone), "shown": len(shown)})
        sheets.append((SHEETS[2], [
            _Column("Definition", [k or None for k, _ in definitions], "text", formats.get(bold=True, top=True)),
            _Column("Value", [v or None for _, v in definitions], "text", formats.get(wrap=True, top=True), cap=100),
        ], False))
        header = formats.get(bold=True)
        formats.number()
        for name, columns, filtered in sheets:
            _write_sheet(wb.add_worksheet(name, worksheet_class=WORKSHEET_CLASS), columns, header,
                         filtered=filtered)


def call_order(frame: pd.DataFrame) -> np.ndarray:
    """Row positions in the order to call: priority (or, in older lists, value at risk), highest first; then
    churn probability, highest first; then customer id. Stable; missing values last.

    Args:
        frame: The risk list.

    Returns:
        Positions into ``frame``, first to call first.
    """
    primary = "priority" if "priority" in frame.columns else "value_at_risk"
    keys: dict[str, Any] = {}
    ascending: list[bool] = []
    for i, (column, up) in enumerate(((primary, False), ("churn_probability", False), ("customer_id", True))):
        if column in frame.columns:
            values = frame[column]
            keys[f"k{i}"] = (values.astype("string").to_numpy(dtype=object, na_value=None) if up
                             else pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan))
            ascending.append(up)
    if not keys:
        return np.arange(len(frame))
    table = pd.DataFrame(keys)  # a RangeIndex: the sorted index is the positions
    return table.sort_values(list(keys), ascending=ascending, kind="stable", na_position="last").index.to_numpy()


def money_format(currency: str) -> str:
    """Excel number format of an amount (:func:`pipeline.core.money.excel_format`): ``"£"#,##0.00`` for a
    symbol, ``#,##0.00 "EUR"`` for a code, ``#,##0.00`` without a currency."""
    return excel_format(currency, 2)


@dataclass(frozen=True)
class _Words:
    """What headers of amounts say: the currency and the periods (horizon, lifetime) from the summary."""

    currency: str
    horizon_days: Any = None
    lifetime_months: Any = None
    net_saving: bool = False

    def header(self, column: str) -> str:
        return column_header(column, self.currency, self.horizon_days, self.lifetime_months, self.net_saving)

    def amount(self, term: str) -> str:
        return amount_header(term, self.currency, period_words(self.horizon_days))


class _Formats:
    """The workbook's cell formats, each made once: XlsxWriter writes one style per distinct format object."""

    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        self._wb = wb
        self._made: dict[tuple, Any] = {}

    def get(self, *, bold: bool = False, alert: bool = False, number_format: str = "", wrap: bool = False,
            top: bool = False) -> Any:
        key = (bold, alert, number_format, wrap, top)
        if key not in self._made:
            spec: dict[str, Any] = dict(_ALERT) if alert else {}
            if bold:
                spec["bold"] = True
            if number_format:
                spec["num_format"] = number_format
            if wrap:
                spec["text_wrap"] = True
            if top:
                spec["valign"] = "top"
            self._made[key] = self._wb.add_format(spec) if spec else None
        return self._made[key]

    def number(self) -> None:
        """Give every format its number in the workbook now, in the order made: XlsxWriter numbers a format
        when a cell first uses it, so whole rows and single cells would otherwise number them differently."""
        for made in self._made.values():
            if made is not None:
                made._get_xf_index()


@dataclass
class _Column:
    """One column of a sheet: its header, its values (a list of Python values or a Series) and how they show.

    ``kind``: number, bool, date, text or mixed. ``alert``: (a value, its format) that stands out (the holdout).
    ``key``: the risk-list column it shows, for the definitions."""

    header: str
    values: Sequence[Any] | pd.Series
    kind: str
    fmt: Any = None
    cap: int = WIDTH_CAP
    width: float | None = None
    alert: tuple[str, Any] | None = None
    key: str = ""
    _longest: int | None = field(default=None, init=False, repr=False)

    def __len__(self) -> int:
        return len(self.values)

    def longest(self) -> int:
        """Characters of the longest value as shown (numbers as ``1,234.56``, dates as ``yyyy-mm-dd``); cached."""
        if self._longest is None:
            if self.kind == "date":
                self._longest = 10
            elif self.kind == "number":
                numbers = pd.to_numeric(pd.Series(self.values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                numbers = np.abs(numbers[np.isfinite(numbers)])
                self._longest = len(f"{numbers.max():,.2f}") + 1 if numbers.size else 0
            else:
                lengths = pd.Series(self.values, dtype=object).dropna().astype(str).str.len()
                self._longest = int(lengths.max()) if len(lengths) else 0
        return self._longest

    def fitted_width(self) -> float:
        """Characters wide: the longest of header and values, plus padding, capped (numbers at 14)."""
        if self.width is not None:
            return self.width
        longest = min(self.longest(), 12) if self.kind == "number" else self.longest()
        return float(min(max(len(self.header), longest, 6) + 2, self.cap))


def _call_list_columns(shown: pd.DataFrame, words: _Words, formats: _Formats, *, ranked: bool,
                       group: bool = False) -> list[_Column]:
    """The columns an agent needs, in readable words, each only when the list has its source (``ranked``: with
    the order to call in; ``group``: with the contact group, which stands out)."""
    text = formats.get(top=True)
    wrapped = formats.get(wrap=True, top=True)
    money = formats.get(number_format=money_format(words.currency), top=True)
    extra = len(words.currency) + 1  # an amount's width with its currency
    columns: list[_Column] = []
    if "customer_id" in shown.columns:
        columns.append(_id_column("Customer", shown["customer_id"], formats.get(number_format="@", top=True)))
    if "risk_band" in shown.columns:
        columns.append(_Column(TERMS["risk_band"], _labelled(shown["risk_band"], band_label), "text", text,
                               key="risk_band"))
    if "churn_probability" in shown.columns:
        columns.append(_Column("Churn probability", _numbers(shown["churn_probability"]), "number",
                               formats.get(number_format="0%", top=True), key="churn_probability"))
    if "value_at_risk" in shown.columns:
        column = _Column(words.header("value_at_risk"), _numbers(shown["value_at_risk"]), "number", money,
                         key="value_at_risk")
        column.width = column.fitted_width() + extra
        columns.append(column)
    if words.net_saving and "priority" in shown.columns:
        column = _Column(words.amount(NET_SAVING), _numbers(shown["priority"]), "number", money, key="net_saving")
        column.width = column.fitted_width() + extra
        columns.append(column)
    for k in (1, 2, 3):
        if f"driver_{k}_reason" in shown.columns:
            columns.append(_Column(f"Reason {k}", _text(shown[f"driver_{k}_reason"]), "text", wrapped,
                                   key=f"reason_{k}"))
    if "action" in shown.columns:
        columns.append(_Column("Suggested action", _text(shown["action"]), "text", wrapped, key="action"))
    if "effect_group" in shown.columns and shown["effect_group"].notna().any():  # targeted by a learned effect model
        columns.append(_Column(EFFECT_GROUP, _labelled(shown["effect_group"], code_words("effect_group")), "text", text,
                               key="effect_group"))
        reasons = [effect_reason(a, e, p, g, words.currency) or None for a, e, p, g in zip(
            shown["action"], shown.get("predicted_effect", pd.Series(np.nan, index=shown.index)),
            shown.get("priority", pd.Series(np.nan, index=shown.index)), shown["effect_group"], strict=True)]
        columns.append(_Column(WHY_THIS_ACTION, reasons, "text", wrapped, key="why_this_action"))
    if group and "contact_group" in shown.columns:
        alert = formats.get(alert=True, top=True)
        columns.append(_Column(TERMS["contact_group"], _labelled(shown["contact_group"], contact_label), "text", text,
                               alert=(CONTACT_GROUPS["holdout"], alert), key="contact_group"))
    if ranked:
        columns.append(_Column("Priority rank", list(range(1, len(shown) + 1)), "number", text, key="rank"))
    return columns


def _analyst_column(name: str, values: pd.Series, words: _Words, formats: _Formats) -> _Column:
    """A risk-list column on the analysts' sheet: a readable header, codes in words, numbers formatted
    (probabilities as percent, amounts with the currency, other fractions to 2 decimals), dates as dates."""
    header = words.header(name)
    if name == "customer_id":
        return _id_column(header, values, formats.get(number_format="@"))
    label = code_words(name)
    if label is not None and not pd.api.types.is_numeric_dtype(values):
        column = _Column(header, _labelled(values, label), "text", key=name)
        if name == "contact_group":
            column.alert = (CONTACT_GROUPS["holdout"], formats.get(alert=True))
        return column
    kind, values = _kind_of(values, name)
    if kind == "date":
        return _Column(header, values, kind, formats.get(number_format="yyyy-mm-dd"), key=name)
    if kind != "number":
        return _Column(header, values if kind != "text" else _text(values), kind, key=name)
    if name in PROBABILITIES:
        number_format = "0.0%"
    elif name in POINTS or DRIVER_EFFECT.fullmatch(name):
        number_format = "0.0%"
    elif name in AMOUNTS:
        number_format = money_format(words.currency)
    elif pd.api.types.is_integer_dtype(values):
        number_format = "#,##0"
    else:
        number_format = "#,##0.00"
    column = _Column(header, _numbers(values), "number", formats.get(number_format=number_format), key=name)
    if name in AMOUNTS:
        column.width = column.fitted_width() + len(words.currency) + 1
    return column


def _id_column(header: str, values: pd.Series, fmt: Any) -> _Column:
    """An id as text, leading zeros and all, whatever type it was read as."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")  # whole-number ids that a missing one made floats: 7, not 7.0
    return _Column(header, _text(values.astype("string")), "text", fmt, key="customer_id")


def _labelled(codes: pd.Series, label: Callable[[object], str]) -> list[str | None]:
    """A column of codes (``high``, ``holdout``) in the words people read (``pipeline.outputs.labels``), each
    distinct code worded once."""
    items = codes.astype("string").to_numpy(dtype=object, na_value=None)
    said: dict[str, str] = {}
    out: list[str | None] = []
    for c in items.tolist():
        if c is None:
            out.append(None)
        else:
            if c not in said:
                said[c] = _clean(label(c))
            out.append(said[c])
    return out


def _text(values: pd.Series) -> list[str | None]:
    """Text cells: None for missing or empty, control characters (not allowed in a sheet's XML) left out."""
    items = values.astype("string")
    if items.str.contains(_ILLEGAL, regex=True, na=False).any():
        items = items.str.replace(_ILLEGAL, "", regex=True)
    return [v if v else None for v in items.to_numpy(dtype=object, na_value=None).tolist()]


def _clean(text: str) -> str:
    return _ILLEGAL.sub("", text) if _ILLEGAL.search(text) else text


def _numbers(values: pd.Series) -> list[Any]:
    """Numbers as Python ints and floats, None where missing or not finite, whatever the dtype they come in."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        values = pd.to_numeric(values, errors="coerce")
    if pd.api.types.is_integer_dtype(values) and not values.hasnans:
        return values.to_numpy(dtype=np.int64).tolist()
    array = values.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(array)
    if finite.all():
        return array.tolist()
    out = array.astype(object)
    out[~finite] = None
    return out.tolist()


def _kind_of(values: pd.Series, name: str) -> tuple[str, pd.Series]:
    """How a column is written (number, bool, date, text or mixed), and its values ready for that."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_bool_dtype(values):
        return "bool", values
    if pd.api.types.is_numeric_dtype(values):
        return "number", values
    if pd.api.types.is_datetime64_any_dtype(values):
        return "date", values
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred in ("string", "empty"):
        if name in DATE_TEXT_COLUMNS and inferred == "string":
            parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
            if parsed.notna().sum() == values.notna().sum():
                return "date", parsed
        return "text", values
    if inferred in ("datetime64", "datetime", "date"):
        try:
            parsed = pd.to_datetime(values, errors="coerce")
        except (ValueError, TypeError):  # mixed time zones: each value is written by its own type
            parsed = values
        if pd.api.types.is_datetime64_any_dtype(parsed):
            return "date", parsed
    return "mixed", values


def _excel_days(values: pd.Series) -> list[Any]:
    """Dates as Excel day numbers, times dropped (a timezone-aware date is taken in its own zone)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    days = values.to_numpy().astype("datetime64[D]")
    missing = np.isnat(days)
    offsets = (days - _EPOCH).astype(np.int64)
    return [None if gone else int(v) for v, gone in zip(offsets.tolist(), missing.tolist(), strict=True)]


def _chunk(column: _Column, start: int, stop: int) -> list[Any]:
    """The values of rows ``start:stop`` of a column, ready for its writer (None: an empty cell)."""
    values = column.values.iloc[start:stop] if isinstance(column.values, pd.Series) else column.values[start:stop]
    if column.kind == "date":
        return _excel_days(values)
    if column.kind == "bool":
        return values.astype("boolean").to_numpy(dtype=object, na_value=None).tolist()
    if column.kind == "number" and isinstance(values, pd.Series):
        return _numbers(values)
    if column.kind == "text" and isinstance(values, pd.Series):
        return _text(values)
    if column.kind == "mixed":
        items = values.to_numpy(dtype=object, na_value=None) if isinstance(values, pd.Series) else values
        return [_mixed(v) for v in items]
    return list(values)


def _mixed(v: Any) -> Any:
    """One value of a column of mixed types, by its own type: (None), a bool, a finite number, else text."""
    if v is None or v is pd.NaT or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v if math.isfinite(v) else None
    return _clean(str(v)) or None


def _write_sheet(ws: Any, columns: list[_Column], header: Any, *, filtered: bool) -> None:
    """One worksheet, row by row in order (constant-memory mode writes each row once it is left): the header
    (frozen and filtered when ``filtered``), then the data rows from values converted a chunk at a time; on a
    :class:`FastRowsWorksheet` each chunk's rows are made as XML column by column and handed over whole."""
    n = len(columns[0]) if columns else 0
    for c, column in enumerate(columns):
        ws.set_column(c, c, column.fitted_width())
    if filtered and columns:
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, n, len(columns) - 1)
    for c, column in enumerate(columns):
        ws.write_string(0, c, column.header, header)
    fast = getattr(ws, "write_rows_xml", None)
    for start in range(0, n, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n)
        values = [_chunk(column, start, stop) for column in columns]
        if fast is not None:
            xml, last = _rows_xml(columns, values, start + 1)
            if fast(start + 1, stop + 1, xml, None if last < 0 else (last, len(columns) - 1)):
                continue
        for i, row in enumerate(range(start + 1, stop + 1)):
            for c, column in enumerate(columns):
                v = values[c][i]
                if v is not None:
                    alert = column.alert
                    _write_value(ws, row, c, v, alert[1] if alert is not None and v == alert[0] else column.fmt)


def _rows_xml(columns: list[_Column], values: list[list[Any]], first_row: int) -> tuple[str, int]:
    """The ``<row>`` elements of data rows from ``first_row`` (0-based), made column by column (a list
    comprehension per column: the fast way in Python), as XlsxWriter writes them; and the last row with a cell
    (-1 for none). An empty value writes no cell, a row without cells no row."""
    rows = range(first_row + 1, first_row + 1 + len(values[0]) if values else first_row + 1)
    cells = [_cells_xml(xl_col_to_name(c), rows, v, column) for c, (column, v) in enumerate(zip(columns, values,
                                                                                                    strict=True))]
    out, last = [], -1
    for r, parts in zip(rows, zip(*cells, strict=True), strict=True):
        body = "".join(parts)
        if body:
            out.append(f'<row r="{r}">{body}</row>')
            last = r - 1
    return "".join(out), last


def _cells_xml(letter: str, rows: range, values: list[Any], column: _Column) -> list[str]:
    """One column's cells of a chunk as XML ("" where empty): numbers, inline strings, booleans, each with the
    column's format (or, for the alert value, the alert's)."""
    style = "" if column.fmt is None else f' s="{column.fmt._get_xf_index()}"'
    if column.kind in ("number", "date"):
        return ["" if v is None else f'<c r="{letter}{r}"{style}><v>{v:.16G}</v></c>'
                for r, v in zip(rows, values, strict=True)]
    if column.kind == "text" and column.alert is None:
        return ["" if v is None else f'<c r="{letter}{r}"{style} t="inlineStr"><is>{_inline_text(v)}</is></c>'
                for r, v in zip(rows, values, strict=True)]
    flagged, flag_style = column.alert if column.alert is not None else (None, None)
    alert = "" if flag_style is None else f' s="{flag_style._get_xf_index()}"'
    return [_cell_xml(letter, r, v, alert if flagged is not None and v == flagged else style)
            for r, v in zip(rows, values, strict=True)]


def _cell_xml(letter: str, r: int, v: Any, style: str) -> str:
    """One cell as XML by its value's type: a bool, a finite number, else text; "" for None."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return f'<c r="{letter}{r}"{style} t="b"><v>{int(v)}</v></c>'
    if isinstance(v, int | float):
        return f'<c r="{letter}{r}"{style}><v>{v:.16G}</v></c>' if math.isfinite(v) else ""
    return f'<c r="{letter}{r}"{style} t="inlineStr"><is>{_inline_text(str(v))}</is></c>'


def _write_value(ws: Any, row: int, col: int, v: Any, fmt: Any) -> None:
    """One cell by its value's type: a bool, a number, else text (never a formula or a link)."""
    if isinstance(v, bool):
        ws.write_boolean(row, col, v, fmt)
    elif isinstance(v, int | float):
        ws.write_number(row, col, v, fmt)
    else:
        ws.write_string(row, col, str(v), fmt)


def _definitions(frame: pd.DataFrame, summary: dict, words: _Words, described: list[_Column], max_rows: int,
                 counts: dict[str, int]) -> list[tuple[str, str]]:
    """The definitions sheet as (label, value) rows: the run's settings, then what each column of the call list
    (and of the held-out and win-back sheets) means, each once."""
    currency = words.currency
    rows: list[tuple[str, str]] = []
    as_of = summary.get("as_of") or _first_date(frame)
    if as_of:
        rows.append((TERMS["as_of"], as_of_words(as_of)))
    churn = churn_words(summary.get("label"))
    if churn:
        rows.append((TERMS["churn"], churn))
    version = summary.get("model_version") or _distinct(frame, "model_version")
    if version:
        rows.append((TERMS["model"], str(version)))
    bands = band_rule_words(summary.get("band_rule"))
    if bands:
        rows.append((TERMS["risk_bands"], bands))
    targeting = summary.get("targeting")
    if isinstance(targeting, dict):
        share = targeting.get("holdout_share")
        if isinstance(share, int | float):
            rows.append(("Holdout share", holdout_share_words(share)))
        if "capacity" in targeting:
            capacity = targeting["capacity"]
            everyone = ("everyone with a positive expected net saving" if "contact_cost" in targeting
                        else "every eligible customer")
            rows.append(("Capacity", everyone if capacity is None
                         else f"{capacity:,} customers can be contacted this run" if isinstance(capacity, int)
                         else str(capacity)))
        if isinstance(targeting.get("contact_cost"), int | float):
            rows.append((NET_SAVING, net_saving_words(targeting["contact_cost"], targeting.get("offer_cost") or 0,
                                                      currency)))
        if isinstance(targeting.get("profit"), dict):
            rows.append(("List size", targeting_profit_sentence(targeting, words.horizon_days, currency)))
        effects = targeting.get("effects")
        if isinstance(effects, dict) and "used" in effects:
            rows.append((EFFECTS_SECTION, " ".join(filter(None, (
                effects_used_words(effects),
                "" if effects["used"] == "effect_model" else effects_not_used_words(effects.get("note")))))))
        rule = win_back_words(targeting.get("win_back_gaps"), words.horizon_days)
        if rule:
            rows.append((WIN_BACK_LIST, rule))
    if counts["held"]:
        rows.append((HELD_OUT_SHEET, HELD_OUT_WHY))
    rows.append((TERMS["currency"], currency_words(currency)))
    rows.append(("Customers", f"{len(frame):,}"))
    if "contact_group" in frame.columns:
        group_counts = frame["contact_group"].value_counts()
        for group in CONTACT_GROUPS:
            if group in ("treatment", "holdout") or group_counts.get(group, 0):
                rows.append((contact_label(group), f"{int(group_counts.get(group, 0)):,} customers"))
    if counts["shown"] < len(frame):
        limit = "Excel's limit" if max_rows == EXCEL_MAX_ROWS else "the limit set for this export"
        rows.append(("Note", f"Truncated: a sheet holds at most {max_rows:,} customers ({limit}), so each sheet shows "
                             f"its top {max_rows:,} customers by priority (the all columns sheet the top "
                             f"{counts['shown']:,} of {len(frame):,}). The full list is in the risk list file "
                             "(.parquet or .csv)."))
    rows.append(("", ""))
    rows.append(("Call list columns", "What each column means"))
    meanings = _meanings(frame, churn, words)
    seen: set[str] = set()
    for c in described:
        if c.key in meanings and c.key not in seen:
            seen.add(c.key)
            rows.append((c.header, meanings[c.key]))
    return rows


def _meanings(frame: pd.DataFrame, churn: str, words: _Words) -> dict[str, str]:
    """What each call-list column means, by its key."""
    has = set(frame.columns)
    value = "value if retained" if "value_if_retained" in has else "expected value"
    churn_text = f" ({in_sentence(churn)})" if churn else ""
    period = period_words(words.horizon_days)
    over = f" over the {period}" if period else ""
    learned = "effect_model_version" in has and bool(frame["effect_model_version"].notna().any())
    priority = ("Order to call in, 1 first: by priority (the expected net saving, or in lists before it, churn "
                "probability x value if retained x expected effect of the action)" if "priority" in has else
                "Order to call in, 1 first: by value at risk, then churn probability")
    return {
        "customer_id": "The customer's id as in the source data (text, leading zeros kept)",
        "risk_band": f"Band of churn risk (see {TERMS['risk_bands']} above)",
        "churn_probability": f"Chance that the customer churns{churn_text}, from the model",
        "value_at_risk": f"Value at risk = churn probability x {value}{over}",
        "reason_1": "The behaviour that raises this customer's risk most, in words an agent can use",
        "reason_2": "The second reason, when there is one",
        "reason_3": "The third reason, when there is one",
        "action": ACTION_CHOICE_BY_EFFECT if learned else ACTION_CHOICE,
        "net_saving": f"What contacting the customer is expected to save{over or ' over the horizon'}, after the "
                      f"contact's cost (see {NET_SAVING} above)",
        "contact_group": groups_meaning(),
        "effect_group": "Whom the contact is predicted to help, by the learned effect model: "
                        + "; ".join(f"{EFFECT_GROUPS[g]}: {m}" for g, m in EFFECT_GROUP_MEANINGS.items()),
        "why_this_action": "Why the suggested action, in words: its predicted effect on the customer's churn "
                           "probability and expected net saving, against the other actions that fit them",
        "rank": priority,
    }


def _first_date(frame: pd.DataFrame) -> str:
    if "as_of" not in frame.columns or frame.empty:
        return ""
    value = frame["as_of"].dropna()
    return str(pd.Timestamp(value.iloc[0]).date()) if len(value) else ""


def _distinct(frame: pd.DataFrame, column: str) -> str:
    if column not in frame.columns:
        return ""
    return ", ".join(str(v) for v in frame[column].dropna().unique()[:5])
