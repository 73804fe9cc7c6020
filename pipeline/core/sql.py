"""Small SQL helpers shared by every layer."""

from __future__ import annotations


def sql_string(text: str) -> str:
    """``text`` as an SQL string literal (a path, an id)."""
    return "'" + text.replace("'", "''") + "'"


# Aggregates whose FILTER clause can be a CASE on their argument: each ignores the rows where that argument is NULL
# (arg_min and arg_max those where either argument is), which is what the FILTER left out.
_CASE_AGGREGATES = frozenset({"count", "sum", "min", "max", "avg", "bit_or", "bool_or", "bool_and", "arg_min",
                              "arg_max"})
_FILTER = " FILTER (WHERE "


def _parentheses(sql: str) -> dict[int, int]:
    """The position of each ``)`` of ``sql`` mapped to that of its ``(`` (and each ``(`` to its ``)``), outside
    string literals."""
    pairs, open_at, quoted = {}, [], False
    for i, c in enumerate(sql):
        if c == "'":
            quoted = not quoted  # a doubled quote inside a literal toggles twice
        elif quoted:
            continue
        elif c == "(":
            open_at.append(i)
        elif c == ")":
            j = open_at.pop()
            pairs[i], pairs[j] = j, i
    return pairs


def _top_level_split(args: str) -> list[str]:
    """``args`` split at its commas outside parentheses and string literals."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, c in enumerate(args):
        if c == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(args[start:i])
            start = i + 1
    return [*parts, args[start:]]


def filters_as_cases(sql: str) -> str:
    """``sql`` with each ``AGG(args) FILTER (WHERE cond)`` of the aggregates that allow it written as the same
    aggregate of ``CASE WHEN cond THEN args END`` (``count(*)``: of ``CASE WHEN cond THEN 1 END``), which gives the
    same value. DuckDB evaluates a FILTER per aggregate and updates the groups through a selection of the rows; the
    CASE is an expression over the whole chunk, and the grouped aggregation over the million customers' 109M events
    (about 60 aggregates per customer, 40 of them filtered) took 18 s instead of 23.5 s (docs/benchmarks.md). The
    feature families write FILTER, which reads better; their aggregate queries run as rewritten here. A FILTER on any
    other aggregate is left as it is."""
    done = 0  # FILTER clauses before this position are left as they are
    while (k := sql.find(_FILTER, done)) >= 0:
        pairs = _parentheses(sql)
        close = k - 1
        if sql[close] != ")" or close not in pairs:
            done = k + len(_FILTER)
            continue
        opened = pairs[close]
        name_start = opened
        while name_start > 0 and (sql[name_start - 1].isalnum() or sql[name_start - 1] == "_"):
            name_start -= 1
        name, args = sql[name_start:opened].lower(), sql[opened + 1:close]
        filter_open = k + len(" FILTER ")
        condition = sql[filter_open + len("(WHERE "):pairs[filter_open]]
        if name not in _CASE_AGGREGATES:
            done = k + len(_FILTER)
            continue
        distinct = "DISTINCT " if args.upper().startswith("DISTINCT ") else ""
        args = args[len(distinct):]
        if args == "*":
            rewritten = f"{name}({distinct}CASE WHEN {condition} THEN 1 END)"
        elif name in ("arg_min", "arg_max"):  # the row's ordering value is the one dropped
            parts = _top_level_split(args)
            if len(parts) != 2:  # arg_max(arg, val, n) and the like: left as they are
                done = k + len(_FILTER)
                continue
            rewritten = f"{name}({parts[0]}, CASE WHEN {condition} THEN {parts[1].strip()} END)"
        else:
            rewritten = f"{name}({distinct}CASE WHEN {condition} THEN {args} END)"
        sql = sql[:name_start] + rewritten + sql[pairs[filter_open] + 1:]
        done = name_start + len(rewritten)
    return sql
