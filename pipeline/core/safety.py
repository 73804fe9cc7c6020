"""Neutralising text that spreadsheets would run as formulas (CSV/Excel injection)."""

from __future__ import annotations

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_text(value: object) -> object:
    """Prefix a quote to text a spreadsheet would read as a formula; leave everything else alone."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def restore_text(value: object) -> object:
    """Undo :func:`neutralise_text` (for reading this pipeline's own CSV back)."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def _map_text(df: pd.DataFrame, fn) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(fn)
    return out


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells cannot run as formulas; numeric columns stay numeric."""
    return _map_text(df, neutralise_text)


def restore_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with the neutralising quotes of :func:`neutralise_formulas` removed."""
    return _map_text(df, restore_text)
