"""The risk list as an Excel workbook built for the people who use it.

Three sheets: a *call list* in the order to call (only what an agent needs, readable headers, percentages
and amounts formatted, reasons wrapped, the holdout unmistakable), *all columns* of the risk list for
analysts, and the run's *definitions* (churn definition, bands, holdout, what each column means). A list with
customers long gone has a fourth, the *win-back* list (their own campaign, not the retention call list), after
the call list.

The workbook is streamed as SpreadsheetML, a chunk of rows at a time, so the time is linear in rows and
memory is bounded by the chunk: openpyxl's normal mode re-scans the sheet per row (quadratic), and its
write-only mode, though linear, serialises each cell through a pure-Python XML writer (about 80,000 cells
a second here, 50 s for 100,000 customers). Text is always written as an inline string (``t="inlineStr"``),
never as a formula, whatever it starts with; numbers stay numbers; missing values are empty cells.

Writing bytes to a path is left to :func:`pipeline.outputs.sets.write_excel`, which makes it atomic.
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from openpyxl.utils import get_column_letter

from pipeline.core.errors import DataError
from pipeline.outputs.labels import (
    ACTION_CHOICE,
    ACTION_CHOICE_BY_EFFECT,
    CONTACT_GROUPS,
    EFFECT_GROUP,
    EFFECT_GROUP_MEANINGS,
    EFFECT_GROUPS,
    EFFECTS_SECTION,
    NET_SAVING,
    TERMS,
    WHY_THIS_ACTION,
    WIN_BACK_LIST,
    as_of_words,
    band_label,
    band_rule_words,
    churn_words,
    contact_label,
    currency_words,
    effect_reason,
    effects_not_used_words,
    effects_used_words,
    groups_meaning,
    holdout_share_words,
    in_sentence,
    net_saving_words,
    targeting_profit_sentence,
    win_back_words,
)

EXCEL_MAX_ROWS = 1_048_575  # data rows below the header row (Excel: 1,048,576 rows per sheet)
EXCEL_MAX_COLUMNS = 16_384
MAX_TEXT = 32_767  # characters in one cell
WIDTH_CAP = 60  # characters; longer text wraps
CHUNK_ROWS = 5_000  # rows converted and written at a time: bounds memory, keeps the time linear

SHEETS = ("call list", "all columns", "definitions")
WIN_BACK_SHEET = "win-back"  # after the call list, when the list has customers long gone
DATE_TEXT_COLUMNS = ("as_of",)  # dates that a CSV risk list gives back as text

_EXCEL_ESCAPE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0
_EPOCH = np.datetime64("1899-12-30", "D")  # day 0 of Excel's 1900 date system (after its 1900 leap-year bug)
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entry times: the same inputs give the same file

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def write_workbook(frame: pd.DataFrame, out: str | Path | IO[bytes], summary: dict | None = None, currency: str = "",
                   max_rows: int = EXCEL_MAX_ROWS) -> None:
    """Write the risk list as an .xlsx workbook of three sheets: call list, all columns, definitions.

    Args:
        frame: The risk list, one row per customer (any order; columns that a list lacks are left out).
        out: Path or binary file to write the workbook to (:func:`pipeline.outputs.sets.write_excel` makes it atomic).
        summary: The risk list's summary sidecar (as-of date, label, band rule, targeting), if there is one.
        currency: Currency code or symbol shown with amounts, e.g. ``"EUR"``; empty for plain numbers.
        max_rows: Data rows a sheet may hold; beyond it the sheets keep the top customers by priority and
            the definitions sheet says so. Excel's own limit is the default.

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
    order = call_order(frame)
    shown = frame.iloc[order[:max_rows]]
    gone = (frame["contact_group"].astype("string") == "win_back").fillna(False).to_numpy(dtype=bool) \
        if "contact_group" in frame.columns else np.zeros(len(frame), dtype=bool)
    targeting = summary.get("targeting") if isinstance(summary.get("targeting"), dict) else {}
    net = "contact_cost" in targeting  # a list whose priority is the expected net saving (older: value saved)
    styles = _Styles()
    retention = frame.iloc[order[~gone[order]][:max_rows]]
    call_list = _call_list_columns(retention, np.arange(1, len(retention) + 1), currency, styles, net_saving=net)
    all_columns = [_data_column(str(name), shown[name], styles, name=str(name)) for name in frame.columns]
    definitions = _definitions(frame, summary, currency, call_list, len(shown), max_rows)
    definition_columns = [
        _Column("Definition", [label for label, _ in definitions], "text", styles.id(bold=True, top=True)),
        _Column("Value", [value for _, value in definitions], "text", styles.id(wrap=True, top=True),
                cap=100),
    ]
    sheets = [(SHEETS[0], call_list, True), (SHEETS[1], all_columns, True), (SHEETS[2], definition_columns, False)]
    if gone.any():
        win_back = frame.iloc[order[gone[order]][:max_rows]]
        sheets.insert(1, (WIN_BACK_SHEET, _call_list_columns(win_back, np.arange(1, len(win_back) + 1), currency,
                                                             styles, net_saving=net), True))
    header_style = styles.id(bold=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        _put(zf, "[Content_Types].xml", _content_types(len(sheets)))
        _put(zf, "_rels/.rels", _XML_HEAD + f'<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" Type="{_REL}/'
             'officeDocument" Target="xl/workbook.xml"/></Relationships>')
        _put(zf, "xl/workbook.xml", _workbook_xml(sheets))
        _put(zf, "xl/_rels/workbook.xml.rels", _workbook_rels(len(sheets)))
        for k, (_, columns, filtered) in enumerate(sheets, start=1):
            n = len(columns[0].values) if columns else 0
            # Zip64 only when a sheet may pass 2 GiB: some readers of small files do not expect it
            large = sum(n * (60 + 2 * c.longest()) for c in columns) > 1_500_000_000
            with zf.open(_entry(f"xl/worksheets/sheet{k}.xml"), "w", force_zip64=large) as f:
                _write_sheet(f, columns, n, header_style, selected=k == 1, filtered=filtered)
        _put(zf, "xl/styles.xml", styles.xml())


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


@dataclass
class _Column:
    """One column of a sheet: its header, its values (a list of Python values or a Series) and how they show."""

    header: str
    values: Sequence[Any] | pd.Series
    kind: str  # number, bool, date, text, mixed
    style: int = 0
    cap: int = WIDTH_CAP
    width: float | None = None
    alert_style: int | None = None  # the style of a holdout cell (contact group column)
    _longest: int | None = field(default=None, init=False, repr=False)

    def longest(self) -> int:
        """Characters of the longest value as shown (numbers as ``1,234.56``, dates as ``yyyy-mm-dd``); cached."""
        if self._longest is None:
            if self.kind == "date":
                self._longest = 10
            elif self.kind == "number":
                numbers = [abs(v) for v in _python_numbers(self.values) if v is not None and math.isfinite(v)]
                self._longest = len(f"{max(numbers):,.2f}") + 1 if numbers else 0
            else:
                items = (self.values.to_numpy(dtype=object, na_value=None) if isinstance(self.values, pd.Series)
                         else self.values)
                self._longest = max((len(str(v)) for v in items if v is not None and v == v), default=0)
        return self._longest

    def fitted_width(self) -> float:
        """Characters wide: the longest of header and values, plus padding, capped (numbers at 14)."""
        if self.width is not None:
            return self.width
        longest = min(self.longest(), 12) if self.kind == "number" else self.longest()
        return float(min(max(len(self.header), longest, 6) + 2, self.cap))


class _Styles:
    """The workbook's cell formats, each registered once and referred to by index (a cell's ``s``)."""

    def __init__(self) -> None:
        self._keys: list[tuple[bool, bool, str, bool, bool]] = [(False, False, "General", False, False)]
        self._formats: dict[str, int] = {}

    def id(self, *, bold: bool = False, alert: bool = False, number_format: str = "General", wrap: bool = False,
           top: bool = False) -> int:
        """Index of a cell format: bold, alert (dark red on light red), number format, wrapped, top-aligned."""
        key = (bold, alert, number_format, wrap, top)
        if key not in self._keys:
            self._keys.append(key)
        if number_format not in ("General", "0%", "@") and number_format not in self._formats:
            self._formats[number_format] = 164 + len(self._formats)  # ids below 164 are Excel's built-in ones
        return self._keys.index(key)

    def xml(self) -> str:
        """styles.xml: number formats, fonts (regular, bold, bold dark red), fills and the cell formats."""
        builtin = {"General": 0, "0%": 9, "@": 49}
        formats = "".join(f'<numFmt numFmtId="{i}" formatCode="{_attr(code)}"/>' for code, i in self._formats.items())
        font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
        fonts = f'<font>{font}</font><font><b/>{font}</font><font><b/><color rgb="FF9C0006"/>{font}</font>'
        fills = ('<fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
                 '<fill><patternFill patternType="solid"><fgColor rgb="FFFFC7CE"/><bgColor indexed="64"/></patternFill>'
                 '</fill>')
        xfs = []
        for bold, alert, number_format, wrap, top in self._keys:
            num = builtin.get(number_format, self._formats.get(number_format, 0))
            font_id, fill_id = (2, 2) if alert else (int(bold), 0)
            attrs = (f'numFmtId="{num}" fontId="{font_id}" fillId="{fill_id}" borderId="0" xfId="0"'
                     + (' applyNumberFormat="1"' if num else "") + (' applyFont="1"' if font_id else "")
                     + (' applyFill="1"' if fill_id else "") + (' applyAlignment="1"' if wrap or top else ""))
            align = ("<alignment" + (' vertical="top"' if top else "") + (' wrapText="1"' if wrap else "") + "/>"
                     if wrap or top else "")
            xfs.append(f"<xf {attrs}>{align}</xf>" if align else f"<xf {attrs}/>")
        return (_XML_HEAD + f'<styleSheet xmlns="{_MAIN}">'
                + (f'<numFmts count="{len(self._formats)}">{formats}</numFmts>' if self._formats else "")
                + f'<fonts count="3">{fonts}</fonts><fills count="3">{fills}</fills>'
                '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
                f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
                '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')


def money_format(currency: str) -> str:
    """Excel number format of an amount: ``#,##0.00 "EUR"`` with a currency, ``#,##0.00`` without."""
    code = re.sub(r'["\\]', "", currency).strip()
    return f'#,##0.00 "{code}"' if code else "#,##0.00"


def _call_list_columns(shown: pd.DataFrame, ranks: np.ndarray, currency: str, styles: _Styles,
                       net_saving: bool = False) -> list[_Column]:
    """The call list: what an agent needs, in readable words, each column only when the list has its source
    (``net_saving``: the priority is the expected net saving, shown as an amount)."""
    text = styles.id(top=True)
    wrapped = styles.id(wrap=True, top=True)
    columns: list[_Column] = []
    if "customer_id" in shown.columns:
        columns.append(_data_column("Customer", shown["customer_id"], styles, name="customer_id", style=styles.id(
            number_format="@", top=True)))
    if "risk_band" in shown.columns:
        columns.append(_Column(TERMS["risk_band"], _labelled(shown["risk_band"], band_label), "text", text))
    if "churn_probability" in shown.columns:
        columns.append(_data_column("Churn probability", shown["churn_probability"], styles, kind="number",
                                    style=styles.id(number_format="0%", top=True)))
    if "value_at_risk" in shown.columns:
        money = money_format(currency)
        column = _data_column("Value at risk", shown["value_at_risk"], styles, kind="number",
                              style=styles.id(number_format=money, top=True))
        column.width = column.fitted_width() + len(currency.strip()) + 1
        columns.append(column)
    if net_saving and "priority" in shown.columns:
        column = _data_column(NET_SAVING, shown["priority"], styles, kind="number",
                              style=styles.id(number_format=money_format(currency), top=True))
        column.width = column.fitted_width() + len(currency.strip()) + 1
        columns.append(column)
    for k in (1, 2, 3):
        if f"driver_{k}_reason" in shown.columns:
            columns.append(_data_column(f"Reason {k}", shown[f"driver_{k}_reason"], styles, kind="text", style=wrapped))
    if "action" in shown.columns:
        columns.append(_data_column("Suggested action", shown["action"], styles, kind="text", style=wrapped))
    if "effect_group" in shown.columns and shown["effect_group"].notna().any():  # targeted by a learned effect model
        columns.append(_Column(EFFECT_GROUP, _labelled(shown["effect_group"], lambda g: EFFECT_GROUPS.get(g, g)),
                               "text", text))
        reasons = [effect_reason(a, e, p, g, currency) or None for a, e, p, g in zip(
            shown["action"], shown.get("predicted_effect", pd.Series(np.nan, index=shown.index)),
            shown.get("priority", pd.Series(np.nan, index=shown.index)), shown["effect_group"], strict=True)]
        columns.append(_Column(WHY_THIS_ACTION, reasons, "text", wrapped))
    if "contact_group" in shown.columns:
        columns.append(_Column(TERMS["contact_group"], _labelled(shown["contact_group"], contact_label), "text", text,
                               alert_style=styles.id(alert=True, top=True)))
    columns.append(_Column("Priority rank", ranks.tolist(), "number", styles.id(top=True)))
    return columns


def _labelled(codes: pd.Series, label) -> list[str | None]:
    """A column of codes (``high``, ``holdout``) in the words people read (``pipeline.outputs.labels``)."""
    return [None if c is None else label(c) for c in codes.astype("string").to_numpy(dtype=object, na_value=None)]


def _data_column(header: str, values: pd.Series, styles: _Styles, *, name: str = "", kind: str | None = None,
                 style: int | None = None) -> _Column:
    """A frame column as a sheet column: its kind from its dtype, dates as dates without times."""
    if name == "customer_id":  # an id is text, leading zeros and all, whatever type it was read as
        if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
            values = values.astype("Int64")  # whole-number ids that a missing one made floats: 7, not 7.0
        return _Column(header, values.astype("string"), "text", style or 0)
    if kind is None:
        kind, values = _kind_of(values, name)
    if kind == "date" and style is None:
        style = styles.id(number_format="yyyy-mm-dd")
    if kind == "number" and not pd.api.types.is_numeric_dtype(values):
        values = pd.to_numeric(values, errors="coerce")
    return _Column(header, values, kind, style or 0)


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


def _chunk_bodies(column: _Column, start: int, stop: int) -> list[str | None]:
    """The cells of rows ``start:stop`` of a column as XML after their reference (``<c r="A2"`` + body)."""
    values = column.values.iloc[start:stop] if isinstance(column.values, pd.Series) else column.values[start:stop]
    style = f' s="{column.style}"' if column.style else ""
    if column.kind == "number":
        return _number_bodies(_python_numbers(values), style)
    if column.kind == "date":
        return _number_bodies(_excel_days(values), style)
    if column.kind == "bool":
        flags = values.astype("boolean").to_numpy(dtype=object, na_value=None)
        return [None if v is None else f'{style} t="b"><v>{int(v)}</v></c>' for v in flags]
    items = values.to_numpy(dtype=object, na_value=None) if isinstance(values, pd.Series) else values
    if column.kind == "text":
        alert = f' s="{column.alert_style}"' if column.alert_style is not None else None
        holdout = CONTACT_GROUPS["holdout"]
        return [None if v is None or v != v or v == "" else _text_body(alert if alert and v == holdout else style, str(v))
                for v in items]
    return [_mixed_body(v, style) for v in items]


def _python_numbers(values: Sequence[Any] | pd.Series) -> list[Any]:
    """Numbers as Python ints and floats (NaN for missing), whatever the dtype they come in."""
    if not isinstance(values, pd.Series):
        return list(values)
    if pd.api.types.is_integer_dtype(values) and not values.hasnans:
        return values.to_numpy(dtype=np.int64).tolist()
    return values.to_numpy(dtype=float, na_value=np.nan).tolist()


def _excel_days(values: pd.Series) -> list[Any]:
    """Dates as Excel day numbers, times dropped (a timezone-aware date is taken in its own zone)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    days = values.to_numpy().astype("datetime64[D]")
    missing = np.isnat(days)
    offsets = (days - _EPOCH).astype(np.int64)
    return [None if gone else int(v) for v, gone in zip(offsets.tolist(), missing.tolist(), strict=True)]


def _number_bodies(numbers: list[Any], style: str) -> list[str | None]:
    isfinite = math.isfinite
    return [f"{style}><v>{v!r}</v></c>" if v is not None and isfinite(v) else None for v in numbers]


def _text_body(style: str, text: str) -> str:
    """An inline string: always text, never a formula, whatever it starts with."""
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if "_x" in text:  # Excel reads _xHHHH_ as a character code: escape the underscore to keep the text as it is
        text = _EXCEL_ESCAPE.sub("_x005F_", text)
    if _ILLEGAL.search(text):
        text = _ILLEGAL.sub("", text)
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'{style} t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _mixed_body(v: Any, style: str) -> str | None:
    """One value of a column of mixed types, by its own type."""
    if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool):
        return f'{style} t="b"><v>{int(v)}</v></c>'
    if isinstance(v, int | float):
        return f"{style}><v>{v!r}</v></c>" if math.isfinite(v) else None
    return _text_body(style, str(v))


def _write_sheet(f: IO[bytes], columns: list[_Column], n: int, header_style: int, *, selected: bool, filtered: bool) -> None:
    """Stream one worksheet: the header row (frozen and filtered when ``filtered``), then the data rows a chunk at a time."""
    letters = [get_column_letter(i) for i in range(1, len(columns) + 1)]
    last = f"{letters[-1]}{n + 1}" if letters else "A1"
    pane = ('<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>' if filtered else "")
    tab = ' tabSelected="1"' if selected else ""
    widths = "".join(f'<col min="{i}" max="{i}" width="{c.fitted_width():.1f}" customWidth="1"/>'
                     for i, c in enumerate(columns, start=1))
    f.write((_XML_HEAD + f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><dimension ref="A1:{last}"/>'
             f'<sheetViews><sheetView{tab} workbookViewId="0">'
             f'{pane}</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
             + (f"<cols>{widths}</cols>" if widths else "") + "<sheetData>").encode("utf-8", "replace"))
    bold = f' s="{header_style}"'
    header = "".join(f'<c r="{letter}1"{_text_body(bold, c.header)}' for letter, c in zip(letters, columns, strict=True))
    f.write(f'<row r="1">{header}</row>'.encode("utf-8", "replace"))
    for start in range(0, n, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n)
        bodies = [_chunk_bodies(c, start, stop) for c in columns]
        rows = _rows_xml(letters, bodies, start + 2)
        f.write("".join(rows).encode("utf-8", "replace"))
    tail = f'<autoFilter ref="A1:{last}"/>' if filtered and letters else ""
    f.write(f"</sheetData>{tail}</worksheet>".encode())


def _rows_xml(letters: list[str], bodies: list[list[str | None]], first_row: int) -> Iterator[str]:
    """``<row>`` elements from cell bodies given column by column; an empty value writes no cell."""
    for r, cells in enumerate(zip(*bodies, strict=True), start=first_row):
        cells_xml = "".join([f'<c r="{x}{r}"{b}' for x, b in zip(letters, cells, strict=True) if b is not None])
        yield f'<row r="{r}">{cells_xml}</row>'


def _definitions(frame: pd.DataFrame, summary: dict, currency: str, call_list: list[_Column], shown: int,
                 max_rows: int) -> list[tuple[str, str]]:
    """The definitions sheet as (label, value) rows: the run's settings, then what each call-list column means."""
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
            horizon = (summary.get("label") or {}).get("horizon_days")
            rows.append(("List size", targeting_profit_sentence(targeting, horizon, currency)))
        effects = targeting.get("effects")
        if isinstance(effects, dict) and "used" in effects:
            rows.append((EFFECTS_SECTION, " ".join(filter(None, (
                effects_used_words(effects),
                "" if effects["used"] == "effect_model" else effects_not_used_words(effects.get("note")))))))
        rule = win_back_words(targeting.get("win_back_gaps"), (summary.get("label") or {}).get("horizon_days"))
        if rule:
            rows.append((WIN_BACK_LIST, rule))
    rows.append((TERMS["currency"], currency_words(currency)))
    rows.append(("Customers", f"{len(frame):,}"))
    if "contact_group" in frame.columns:
        counts = frame["contact_group"].value_counts()
        for group in CONTACT_GROUPS:
            if group in ("treatment", "holdout") or counts.get(group, 0):
                rows.append((contact_label(group), f"{int(counts.get(group, 0)):,} customers"))
    if shown < len(frame):
        limit = "Excel's limit" if max_rows == EXCEL_MAX_ROWS else "the limit set for this export"
        rows.append(("Note", f"Truncated: a sheet holds at most {max_rows:,} customers ({limit}), so the call list and "
                             f"the all columns sheet show the top {shown:,} of {len(frame):,} customers by priority. "
                             "The full list is in the risk list file (.parquet or .csv)."))
    rows.append(("", ""))
    rows.append(("Call list columns", "What each column means"))
    meanings = _meanings(frame, churn)
    rows.extend((c.header, meanings[c.header]) for c in call_list if c.header in meanings)
    return rows


def _meanings(frame: pd.DataFrame, churn: str) -> dict[str, str]:
    has = set(frame.columns)
    value = "value if retained" if "value_if_retained" in has else "expected value"
    churn_text = f" ({in_sentence(churn)})" if churn else ""
    learned = "effect_model_version" in has and bool(frame["effect_model_version"].notna().any())
    priority = ("Order to call in, 1 first: by priority (the expected net saving, or in lists before it, churn "
                "probability x value if retained x expected effect of the action)" if "priority" in has else
                "Order to call in, 1 first: by value at risk, then churn probability")
    return {
        "Customer": "The customer's id as in the source data (text, leading zeros kept)",
        TERMS["risk_band"]: f"Band of churn risk (see {TERMS['risk_bands']} above)",
        "Churn probability": f"Chance that the customer churns{churn_text}, from the model",
        "Value at risk": f"Value at risk = churn probability x {value}",
        "Reason 1": "The behaviour that raises this customer's risk most, in words an agent can use",
        "Reason 2": "The second reason, when there is one",
        "Reason 3": "The third reason, when there is one",
        "Suggested action": ACTION_CHOICE_BY_EFFECT if learned else ACTION_CHOICE,
        NET_SAVING: "What contacting the customer is expected to save over the horizon, after the contact's cost "
                    f"(see {NET_SAVING} above)",
        TERMS["contact_group"]: groups_meaning(),
        EFFECT_GROUP: "Whom the contact is predicted to help, by the learned effect model: "
                      + "; ".join(f"{EFFECT_GROUPS[g]}: {m}" for g, m in EFFECT_GROUP_MEANINGS.items()),
        WHY_THIS_ACTION: "Why the suggested action, in words: its predicted effect on the customer's churn probability "
                         "and expected net saving, against the other actions that fit them",
        "Priority rank": priority,
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


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _put(zf: zipfile.ZipFile, name: str, text: str) -> None:
    zf.writestr(_entry(name), text.encode())


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _content_types(n_sheets: int) -> str:
    sheet = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    sheets = "".join(f'<Override PartName="/xl/worksheets/sheet{k}.xml" ContentType="{sheet}"/>'
                     for k in range(1, n_sheets + 1))
    return (_XML_HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            f'{sheets}<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>')


def _workbook_xml(sheets: Iterable[tuple[str, list[_Column], bool]]) -> str:
    entries, names = [], []
    for k, (name, columns, filtered) in enumerate(sheets, start=1):
        entries.append(f'<sheet name="{_attr(name)}" sheetId="{k}" r:id="rId{k}"/>')
        if filtered and columns:
            n = len(columns[0].values)
            ref = f"'{name}'!$A$1:${get_column_letter(len(columns))}${n + 1}"
            names.append(f'<definedName name="_xlnm._FilterDatabase" localSheetId="{k - 1}" hidden="1">{_attr(ref)}'
                         "</definedName>")
    defined = f"<definedNames>{''.join(names)}</definedNames>" if names else ""
    return (_XML_HEAD + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><bookViews><workbookView activeTab="0"/>'
            f"</bookViews><sheets>{''.join(entries)}</sheets>{defined}</workbook>")


def _workbook_rels(n_sheets: int) -> str:
    rels = "".join(f'<Relationship Id="rId{k}" Type="{_REL}/worksheet" Target="worksheets/sheet{k}.xml"/>'
                   for k in range(1, n_sheets + 1))
    styles = f'<Relationship Id="rId{n_sheets + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
    return _XML_HEAD + f'<Relationships xmlns="{_PKG_REL}">{rels}{styles}</Relationships>'

