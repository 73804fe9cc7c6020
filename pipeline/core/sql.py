"""Small SQL helpers shared by every layer."""

from __future__ import annotations

import re


def sql_string(text: str) -> str:
    """``text`` as an SQL string literal (a path, an id)."""
    return "'" + text.replace("'", "''") + "'"


# Aggregates whose FILTER clause can be a CASE on their argument: each ignores the rows where that argument is NULL
# (arg_min and arg_max those where either argument is), which is what the FILTER left out.
_CASE_AGGREGATES = frozenset({"count", "sum", "min", "max", "avg", "bit_or", "bool_or", "bool_and", "arg_min",
                              "arg_max"})
_FILTER = " FILTER (WHERE "


def _unquoted(text: str) -> tuple[list[tuple[int, str]], bool]:
    """The characters of ``text`` outside string literals and quoted names, with their positions (the quotes left
    out), and whether every quote closes. A doubled quote inside a literal or name closes it and opens it again."""
    chars, quote = [], ""
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        else:
            chars.append((i, c))
    return chars, not quote


def _parentheses(sql: str) -> dict[int, int] | None:
    """The position of each ``)`` of ``sql`` mapped to that of its ``(`` (and each ``(`` to its ``)``), outside
    string literals and quoted names; None where the text has comments or does not pair up (then nothing is
    rewritten)."""
    chars, closed = _unquoted(sql)
    if not closed:
        return None
    pairs: dict[int, int] = {}
    open_at: list[int] = []
    for i, c in chars:
        if sql.startswith(("--", "/*"), i):
            return None
        if c == "(":
            open_at.append(i)
        elif c == ")":
            if not open_at:
                return None
            j = open_at.pop()
            pairs[i], pairs[j] = j, i
    return None if open_at else pairs


def _top_level_split(args: str) -> list[str]:
    """``args`` split at its commas outside parentheses and quotes (``args`` pairs up: it is one call's)."""
    parts, depth, start = [], 0, 0
    for i, c in _unquoted(args)[0]:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(args[start:i])
            start = i + 1
    return [*parts, args[start:]]


_PLAIN_ARGUMENT = re.compile(r"\s*(?!(?:distinct|all)\b)\S", re.IGNORECASE)
_ORDERED = re.compile(r"\border\s+by\b", re.IGNORECASE)


def _as_case(name: str, args: str, condition: str) -> str | None:
    """The aggregate call ``name(args)`` filtered by ``condition`` written as a CASE, or None where it cannot be
    (another aggregate, an ORDER BY or ALL inside the call, more or fewer arguments than the plain form)."""
    if name not in _CASE_AGGREGATES:
        return None
    distinct = ""
    found = re.match(r"\s*distinct\s+", args, re.IGNORECASE)
    if found:
        distinct, args = "DISTINCT ", args[found.end():]
    parts = [part.strip() for part in _top_level_split(args)]
    if any(not part or _ORDERED.search(part) or not _PLAIN_ARGUMENT.match(part) for part in parts):
        return None
    if parts == ["*"]:
        return None if distinct or name != "count" else f"count(CASE WHEN {condition} THEN 1 END)"
    if name in ("arg_min", "arg_max"):  # the row's ordering value is the one dropped
        return None if distinct or len(parts) != 2 else \
            f"{name}({parts[0]}, CASE WHEN {condition} THEN {parts[1]} END)"
    if len(parts) != 1 or parts[0].endswith("*"):
        return None
    return f"{name}({distinct}CASE WHEN {condition} THEN {parts[0]} END)"


def filters_as_cases(sql: str) -> str:
    """``sql`` with each ``AGG(args) FILTER (WHERE cond)`` of the aggregates that allow it written as the same
    aggregate of ``CASE WHEN cond THEN args END`` (``count(*)``: of ``CASE WHEN cond THEN 1 END``), which gives the
    same value. DuckDB evaluates a FILTER per aggregate and updates the groups through a selection of the rows; the
    CASE is an expression over the whole chunk, and the grouped aggregation over the million customers' 109M events
    (about 60 aggregates per customer, 40 of them filtered) took 18 s instead of 23.5 s (docs/benchmarks.md). The
    feature families write FILTER, which reads better; their aggregate queries run as rewritten here (and so do the
    families a user adds, ``features.extra_modules``). Anything else is left as it is: another aggregate, an ORDER BY,
    ALL or a star of a table in the call, a method call (``v.max()``), a call holding another FILTER, or a query
    with comments. One scan of the text, then each call replaced from the right."""
    pairs = _parentheses(sql)
    if pairs is None or _FILTER not in sql:
        return sql
    found, at = [], sql.find(_FILTER)
    while at >= 0:
        found.append(at)
        at = sql.find(_FILTER, at + 1)
    calls = []  # (start of the call, end of its FILTER clause, where its FILTER is, the CASE form)
    for k in found:
        close, filter_open = k - 1, k + len(" FILTER ")
        if sql[close] != ")" or close not in pairs or filter_open not in pairs:
            continue  # inside a literal or a name, or not after a call
        opened = name_start = pairs[close]
        while name_start > 0 and (sql[name_start - 1].isalnum() or sql[name_start - 1] == "_"):
            name_start -= 1
        if name_start > 0 and sql[name_start - 1] in '."':
            continue  # a method call, or a quoted name
        condition = sql[filter_open + len("(WHERE "):pairs[filter_open]]
        rewritten = _as_case(sql[name_start:opened].lower(), sql[opened + 1:close], condition)
        if rewritten is not None:
            calls.append((name_start, pairs[filter_open] + 1, k, rewritten))
    # Right to left, so the positions found stay valid; a call holding another FILTER is left as written.
    for start, end, own, rewritten in reversed(calls):
        if any(start <= k < end for k in found if k != own):
            continue
        sql = sql[:start] + rewritten + sql[end:]
    return sql
