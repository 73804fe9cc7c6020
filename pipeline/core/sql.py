"""Small SQL helpers shared by every layer."""

from __future__ import annotations


def sql_string(text: str) -> str:
    """``text`` as an SQL string literal (a path, an id)."""
    return "'" + text.replace("'", "''") + "'"
