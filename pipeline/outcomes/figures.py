"""Outcomes of a risk list once its horizon has passed: was the list right, did it point at the value
that was lost, and did the actions keep customers (treatment against holdout)?

How it works, and why: docs/outputs.md, section "pipeline/outcomes/figures.py".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from models.metrics import churn_metrics, top_positions
from pipeline.core.config import LabelConfig, Params, section_from_dict
from pipeline.core.errors import ConfigError, DataError
from pipeline.scoring.changes import list_as_of
from pipeline.scoring.targeting import GROUPS, HOLDOUT, NOT_SELECTED, TREATMENT

Z_95 = 1.959963984540054  # standard normal quantile for a two-sided 95% interval
SHRINKAGE_PSEUDO_COUNT = 100.0  # the prior effect weighs as much as this many holdout customers
CAPTURE_SHARES = (0.1, 0.2)
# Rankings compared by the share of lost value their top customers hold; churn probability alone is the reference.
RANKINGS = ("value_at_risk", "priority", "churn_probability")
LABEL_KEYS = tuple(f.name for f in dataclasses.fields(LabelConfig))


# ---------------------------------------------------------------------------------------------------------------
# The list's own settings


def list_label(summary: Mapping[str, Any], fallback: LabelConfig) -> tuple[LabelConfig, list[str]]:
    """The label rule the list was scored under: its summary's ``label`` section, completed from ``fallback``
    (the params' ``label``) where the summary or a key of it is missing, with a note saying so.

    Args:
        summary: the risk list's ``<stem>_summary.json`` (empty when there is none).
        fallback: the params' label settings.

    Returns:
        The label settings and the notes on what came from the params.
    """
    given = summary.get("label") if isinstance(summary, Mapping) else None
    settings = "kind {kind}, horizon {horizon_days} days, lookback {lookback_days} days, at least " \
               "{min_purchases_in_lookback} purchase(s) in it"
    if not isinstance(given, Mapping):
        why = "the list has no summary beside it" if not summary else "its summary has no 'label' section"
        return fallback, [f"{why} (written before label settings were recorded): outcomes use the params' label "
                          f"settings ({settings.format(**dataclasses.asdict(fallback))}). Pass --params/--set if the "
                          "list was scored with others."]
    missing = [k for k in LABEL_KEYS if k not in given]
    values = {k: given.get(k, getattr(fallback, k)) for k in LABEL_KEYS}
    try:  # checked as params.yaml's label section is
        label = section_from_dict("label", values)
        if label.horizon_days <= 0:
            raise ConfigError("params: 'label.horizon_days' must be positive")
    except ConfigError as exc:
        raise DataError(f"the risk list's summary holds label settings params would not accept ({dict(given)}: "
                        f"{str(exc).removeprefix('params: ')}). Fix: score again with `churn score` to rewrite it, or "
                        "remove the summary to use the params' label settings") from None
    notes = [f"the list's summary lacks label.{', label.'.join(missing)}: taken from the params"] if missing else []
    return label, notes


def horizon_end(as_of: date, horizon_days: int) -> date:
    """The last day of the list's outcome window (as_of, as_of + horizon]."""
    return as_of + timedelta(days=horizon_days)


def require_horizon_observed(as_of: date, horizon_days: int, last_data_day: date) -> None:
    """Stop (``DataError``) when the data does not reach the end of the list's horizon yet: customers would
    look churned only because their purchases are not in the data yet.

    Args:
        as_of: the list's as-of date.
        horizon_days: the list's label horizon.
        last_data_day: the date of the data's last transaction.
    """
    end = horizon_end(as_of, horizon_days)
    if last_data_day < end:
        raise DataError(
            f"too early for outcomes: the risk list as of {as_of} follows its customers for {horizon_days} days, up to "
            f"{end}, but the data's last transaction is on {last_data_day}. Run `churn outcomes` from "
            f"{end + timedelta(days=1)} on, with data that reaches {end}.")


# A week of the horizon holding less than this share of the usual weekly transactions (the median week of the
# COVERAGE_WEEKS before the as-of date) is a week the data does not cover: an export cut short, perhaps with a stray
# later row, would otherwise make every customer after the cut look churned.
THIN_WEEK_SHARE = 0.1
COVERAGE_WEEKS = 12


def weekly_rows(ds, as_of: date, horizon_days: int) -> dict[int, int]:
    """Transactions per week counted from the day after ``as_of`` (week 0 holds its first 7 days; weeks before it
    are negative), over the ``COVERAGE_WEEKS`` weeks before and the horizon."""
    start = as_of + timedelta(days=1)
    rows = ds.grouped_totals(
        f"SELECT CAST(floor(date_diff('day', DATE '{start}', CAST(timestamp AS DATE)) / 7) AS INTEGER) AS week, "
        f"count(*) AS n FROM clean_transactions WHERE timestamp >= DATE '{start - timedelta(weeks=COVERAGE_WEEKS)}' "
        f"AND timestamp < DATE '{start + timedelta(days=horizon_days)}' GROUP BY 1",
        "SELECT week, sum(n) FROM parts GROUP BY week")
    return {int(w): int(n) for w, n in rows}


def uncovered_week(weekly: Mapping[int, int], horizon_days: int) -> tuple[int, float, int] | None:
    """The first week of the horizon the data does not cover (see ``THIN_WEEK_SHARE``): (week, the usual rows a
    week, its rows), a last short week judged on its days; None when every week is covered or there is no usual
    week to judge by."""
    before = sorted(weekly.get(w, 0) for w in range(-COVERAGE_WEEKS, 0))
    usual = float(np.median(before)) if before else 0.0
    if usual <= 0:
        return None
    for week in range(math.ceil(horizon_days / 7)):
        days = min(7, horizon_days - 7 * week)
        if weekly.get(week, 0) < THIN_WEEK_SHARE * usual * days / 7:
            return week, usual, weekly.get(week, 0)
    return None


def require_horizon_covered(as_of: date, horizon_days: int, weekly: Mapping[int, int]) -> None:
    """Stop (``DataError``) when the data reaches the horizon's end only with a few rows: some week of the
    horizon holds almost none of the usual transactions, so the data was cut short before it (a stray later row
    does not make it whole), and customers would look churned only because their purchases are missing."""
    found = uncovered_week(weekly, horizon_days)
    if found is None:
        return
    week, usual, rows = found
    start = as_of + timedelta(days=1 + 7 * week)
    later = sum(n for w, n in weekly.items() if w > week)
    raise DataError(
        f"the data does not cover the risk list's horizon ({as_of + timedelta(days=1)} to "
        f"{horizon_end(as_of, horizon_days)}): the week from {start} holds {rows:,} transactions against "
        f"{usual:,.0f} in a usual week before the as-of date, and the rest of the horizon {later:,}; customers would "
        f"look churned only because their purchases are missing. Fix: pass data exported after "
        f"{horizon_end(as_of, horizon_days)} that holds every transaction up to it")


# Per customer: the list's customers in ranges of their ids (byte order), each range held to the rule above on its own
# transactions. A later export holding only some customers' rows (a file or part per range of customers, as exports
# written customer by customer are) leaves a range's weeks empty while the whole data looks covered.
MAX_ID_RANGES = 20
RANGE_USUAL_ROWS = 20  # transactions in a usual week a range needs to be judged (fewer, wider ranges on small data)
# A range is judged on the rest of the horizon from each week on, at least this many days of it (a sum of weeks, not
# one week: a range holds few rows, and one quiet week of a few customers is chance, not a missing export)
RANGE_MIN_DAYS = 14


def uncovered_from(weekly: Mapping[int, int], horizon_days: int) -> tuple[int, float, int] | None:
    """The first week of the horizon from which on the data holds almost none of the usual transactions (less than
    ``THIN_WEEK_SHARE`` of the usual week's, over the rest of the horizon of at least ``RANGE_MIN_DAYS``): (week, the
    usual rows a week, the rows from it to the end); None when there is none or no usual week to judge by."""
    before = sorted(weekly.get(w, 0) for w in range(-COVERAGE_WEEKS, 0))
    usual = float(np.median(before)) if before else 0.0
    if usual <= 0:
        return None
    for week in range(math.ceil(horizon_days / 7)):
        days = horizon_days - 7 * week
        if days < RANGE_MIN_DAYS:
            break
        rest = sum(n for w, n in weekly.items() if w >= week)
        if rest < THIN_WEEK_SHARE * usual * days / 7:
            return week, usual, rest
    return None


def id_ranges(customer_ids: Iterable[str], usual_rows: float) -> list[tuple[str, str, int]]:
    """The list's customers split into ranges of consecutive ids of about equal size: (first id, last id, customers)
    each; as many ranges as give each about ``RANGE_USUAL_ROWS`` transactions in a usual week (``usual_rows`` for all),
    at most ``MAX_ID_RANGES``, none when there are fewer than two."""
    ids = sorted({str(i) for i in customer_ids}, key=lambda i: i.encode())
    count = min(MAX_ID_RANGES, int(usual_rows // RANGE_USUAL_ROWS), len(ids))
    if count < 2:
        return []
    cuts = [len(ids) * k // count for k in range(count + 1)]
    return [(ids[a], ids[b - 1], b - a) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def weekly_rows_by_range(ds, as_of: date, horizon_days: int, ranges: list[tuple[str, str, int]]
                         ) -> dict[int, dict[int, int]]:
    """``weekly_rows`` of each id range (by its index): the transactions of customers whose id lies in it and who had
    bought by the as-of date."""
    from pipeline.core.sql import sql_string

    if not ranges:
        return {}
    start = as_of + timedelta(days=1)
    which = " ".join(f"WHEN customer_id BETWEEN {sql_string(lo)} AND {sql_string(hi)} THEN {k}"
                     for k, (lo, hi, _) in enumerate(ranges))
    rows = ds.grouped_totals(
        f"SELECT CASE {which} END AS id_range, "
        f"CAST(floor(date_diff('day', DATE '{start}', CAST(timestamp AS DATE)) / 7) AS INTEGER) AS week, count(*) AS n "
        f"FROM clean_transactions WHERE timestamp >= DATE '{start - timedelta(weeks=COVERAGE_WEEKS)}' "
        f"AND timestamp < DATE '{start + timedelta(days=horizon_days)}' "
        # customers known at the as-of date: one who first buys later has ids in a range but no place on the list
        f"AND customer_id IN (SELECT customer_id FROM clean_transactions WHERE timestamp < DATE '{start}') "
        f"GROUP BY 1, 2",
        "SELECT id_range, week, sum(n) FROM parts GROUP BY id_range, week")
    out: dict[int, dict[int, int]] = {k: {} for k in range(len(ranges))}
    for k, week, n in rows:
        if k is not None:
            out[int(k)][int(week)] = int(n)
    return out


def require_customers_covered(ds, as_of: date, horizon_days: int, customer_ids: Iterable[str],
                              weekly: Mapping[int, int]) -> None:
    """Stop (``DataError``) when the data covers the horizon overall but not for some of the list's customers: a range
    of their ids (``id_ranges``) holds almost none of its usual transactions from some week of the horizon on
    (``uncovered_from``), so the later data holds only some customers' rows, or is cut short for some; those customers
    would look churned only because their purchases are missing. ``weekly``: the whole data's (``weekly_rows``)."""
    before = sorted(weekly.get(w, 0) for w in range(-COVERAGE_WEEKS, 0))
    ranges = id_ranges(customer_ids, float(np.median(before)) if before else 0.0)
    by_range = weekly_rows_by_range(ds, as_of, horizon_days, ranges)
    for k, (lo, hi, customers) in enumerate(ranges):
        found = uncovered_from(by_range.get(k, {}), horizon_days)
        if found is None:
            continue
        week, usual, rows = found
        start = as_of + timedelta(days=1 + 7 * week)
        total = sum(n for _, _, n in ranges)
        raise DataError(
            f"the data does not cover the risk list's horizon ({as_of + timedelta(days=1)} to "
            f"{horizon_end(as_of, horizon_days)}) for every customer: the {customers:,} listed customers with ids from "
            f"{lo!r} to {hi!r} (of {total:,}, in {len(ranges)} ranges of ids) have {rows:,} "
            f"transaction{'s' if rows != 1 else ''} from {start} to the horizon's end against {usual:,.0f} in their "
            f"usual week before the as-of date, while the data as a whole covers it: a later export that holds only "
            f"some customers' rows, or one cut short for them. They would "
            f"look churned only because their purchases are missing. Fix: pass data exported after "
            f"{horizon_end(as_of, horizon_days)} that holds every customer's transactions up to it")


def in_sample_note(summary: Mapping[str, Any], as_of: date) -> str:
    """The caveat for a list scored by a model whose training labels reach past its as-of date ("" if none):
    the model had seen the outcomes being measured, so its figures are in-sample, not a forecast's."""
    end = summary.get("labels_end") if isinstance(summary, Mapping) else None
    if not end or date.fromisoformat(str(end)[:10]) <= as_of:
        return ""
    return (f"in-sample: the list's model was trained on labels up to {str(end)[:10]}, after the list's as-of date "
            f"{as_of}, so it had seen these outcomes; the figures flatter it and do not say how well it forecasts. "
            "Score a list with a model trained as of its as-of date or earlier to measure that")


# ---------------------------------------------------------------------------------------------------------------
# Realised outcomes


def realised_outcomes(ds, params: Params, label: LabelConfig, as_of: date, customer_ids: Iterable[str]) -> pd.DataFrame:
    """Each listed customer's realised outcome over (as_of, as_of + horizon], from the pipeline's own labels.

    Builds the population and labels at ``as_of`` under ``label`` (the list's rule, so the population is the
    list's) with only the cheap ``recency`` family. A listed customer without a label row has no rows at all
    in this data before the horizon's end: they count as churned with revenue 0, as the inactivity rule
    would have it, and ``in_data`` says which they are.

    Args:
        ds: the validated dataset (``pipeline.engine.duckdb.Dataset``), reaching the horizon's end.
        params: the run's params; their label section is replaced by ``label``.
        label: the list's label settings.
        as_of: the list's as-of date.
        customer_ids: the list's customers.

    Returns:
        One row per listed customer: ``customer_id``, ``churned`` (0/1), ``revenue``, ``in_data``.
    """
    from pipeline.build.features import build_features

    labelled = build_features(ds, dataclasses.replace(params, label=label), as_of, with_labels=True,
                              families=("recency",))
    listed = pd.DataFrame({"customer_id": pd.Series(list(customer_ids), dtype="str")})
    found = labelled[["customer_id", "churned", "future_value"]].astype({"customer_id": "str"})
    joined = listed.merge(found, on="customer_id", how="left", validate="one_to_one")
    in_data = joined["churned"].notna()
    if len(joined) and not in_data.any():
        raise DataError(f"none of the risk list's {len(joined):,} customers is in this data's population at {as_of} "
                        f"(label kind {label.kind}). Fix: pass the data the list was scored from, with the rows since "
                        "added (not another extract or a copy cut at the as-of date)")
    return pd.DataFrame({
        "customer_id": joined["customer_id"],
        "churned": joined["churned"].fillna(1).astype("int64"),
        "revenue": joined["future_value"].fillna(0.0).astype("float64").clip(lower=0.0),
        "in_data": in_data.to_numpy(),
    })


# ---------------------------------------------------------------------------------------------------------------
# Intervals


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n`` (NaN, NaN when n is 0).

    Unlike the normal approximation it stays inside [0, 1] and keeps its coverage for small n and rates
    near 0 or 1, which holdout groups often are.
    """
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference_interval(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> tuple[float, float]:
    """Newcombe's hybrid score interval (his method 10) for the difference of proportions x1/n1 - x2/n2.

    Built from each rate's Wilson interval (l, u): lower = d - sqrt((p1 - l1)^2 + (u2 - p2)^2) and upper =
    d + sqrt((u1 - p1)^2 + (p2 - l2)^2). It keeps its coverage where the Wald interval is too narrow (small
    groups, rates near 0 or 1).
    """
    if n1 <= 0 or n2 <= 0:
        return math.nan, math.nan
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def effect_interval(treated_churned: int, treated: int, holdout_churned: int, holdout: int,
                    z: float = Z_95) -> tuple[float, float]:
    """Interval for the measured effect 1 - (treatment rate / holdout rate), from the log relative risk's
    normal interval (Katz): se = sqrt(1/x_t - 1/n_t + 1/x_h - 1/n_h). When a cell of the 2x2 table is
    empty (no churner, or no stayer, in a group) 0.5 is added to every cell (Haldane) for the interval only;
    with no treated churner the upper end is 1, the most an action can keep. NaN, NaN when the effect is
    undefined (an empty group or a holdout without churners).
    """
    if treated <= 0 or holdout <= 0 or holdout_churned <= 0:
        return math.nan, math.nan
    x_t, n_t, x_h, n_h = float(treated_churned), float(treated), float(holdout_churned), float(holdout)
    if 0 in (x_t, n_t - x_t, n_h - x_h):  # an empty cell: the log relative risk or its standard error degenerates
        x_t, n_t, x_h, n_h = x_t + 0.5, n_t + 1.0, x_h + 0.5, n_h + 1.0
    se = math.sqrt(max(1 / x_t - 1 / n_t + 1 / x_h - 1 / n_h, 0.0))
    log_rr = math.log((x_t / n_t) / (x_h / n_h))
    low, high = 1 - math.exp(log_rr + z * se), 1 - math.exp(log_rr - z * se)
    if treated_churned == 0:
        high = 1.0
    estimate = 1 - (treated_churned / treated) / (holdout_churned / holdout)
    return min(low, estimate), max(high, estimate)


def shrink_effect(measured: float | None, holdout_customers: int, prior: float,
                  pseudo_count: float = SHRINKAGE_PSEUDO_COUNT) -> float:
    """An action's measured effect pulled towards its prior, by how many holdout customers measured it.

    effect = (n_h x measured + k x prior) / (n_h + k), clipped to [0, 1]: a pseudo-count average in which the
    prior counts as much as ``pseudo_count`` (k) holdout customers. With 20 holdout customers and k = 100 the
    measurement gets 1/6 of the weight; with 1,000, 10/11. The holdout is the weight because it is the
    smaller group by design and the measured effect's uncertainty is mostly its rate's. Without a measured
    effect (an empty group, no churner in the holdout) the prior stands.

    Args:
        measured: the measured effect, or None/NaN when it could not be measured.
        holdout_customers: the action's holdout customers (n_h).
        prior: the effect assumed so far (``targeting.action_effects``).
        pseudo_count: k, the prior's weight in holdout customers.

    Returns:
        The shrunk effect, a share of would-be churners kept, from 0 to 1.
    """
    if measured is None or not math.isfinite(measured) or holdout_customers <= 0:
        return float(min(max(prior, 0.0), 1.0))
    weight = holdout_customers / (holdout_customers + pseudo_count)
    return float(min(max(weight * measured + (1 - weight) * prior, 0.0), 1.0))


# ---------------------------------------------------------------------------------------------------------------
# Figures


def join_outcomes(risk_list: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The risk list with each customer's ``churned``, ``revenue`` and ``in_data`` (a new frame)."""
    columns = ["customer_id", "churned", "revenue"] + (["in_data"] if "in_data" in outcomes else [])
    joined = risk_list.merge(outcomes[columns], on="customer_id", how="left", validate="one_to_one")
    if joined["churned"].isna().any():
        raise DataError(f"{int(joined['churned'].isna().sum())} customers of the risk list have no outcome. Fix: pass the "
                        "outcomes of this list's customers")
    return joined.astype({"churned": "int64", "revenue": "float64"})


def capture_share(outcome: np.ndarray, score: np.ndarray, share: float) -> float | None:
    """Share of the total ``outcome`` held by the top ``share`` of customers ranked by ``score`` (ties broken
    by position: ``models.metrics.top_positions``); None when the total is 0."""
    outcome = np.asarray(outcome, float)
    total = outcome.sum()
    if len(outcome) == 0 or total <= 0:
        return None
    return float(outcome[top_positions(score, share)].sum() / total)


def _rate(x: float, n: float) -> float | None:
    return float(x / n) if n else None


def calibration_by_band(joined: pd.DataFrame, band_order: list[str]) -> list[dict[str, Any]]:
    """Per risk band: customers, mean predicted probability, actual churn rate."""
    rows = []
    for band in _ordered(joined["risk_band"], band_order):
        part = joined[joined["risk_band"] == band]
        rows.append({"risk_band": str(band), "customers": len(part),
                     "mean_predicted": float(part["churn_probability"].mean()) if len(part) else None,
                     "actual_rate": _rate(part["churned"].sum(), len(part))})
    return rows


def calibration_by_decile(joined: pd.DataFrame) -> list[dict[str, Any]]:
    """Customers in ten equal groups by churn probability (decile 1 = the highest 10%; ties by customer id):
    each group's probability range, mean predicted probability and actual churn rate."""
    n = len(joined)
    if n == 0:
        return []
    order = np.lexsort((joined["customer_id"].to_numpy(dtype=str), -joined["churn_probability"].to_numpy(float)))
    decile = np.empty(n, dtype=int)
    decile[order] = np.arange(n) * 10 // n + 1
    rows = []
    for d in range(1, 11):
        part = joined[decile == d]
        if part.empty:
            continue
        p = part["churn_probability"]
        rows.append({"decile": d, "customers": len(part), "min_probability": float(p.min()),
                     "max_probability": float(p.max()), "mean_predicted": float(p.mean()),
                     "actual_rate": _rate(part["churned"].sum(), len(part))})
    return rows


def list_quality(joined: pd.DataFrame, band_order: list[str]) -> tuple[dict[str, Any], list[str]]:
    """ROC-AUC, PR-AUC, Brier score and calibration of the list's probabilities against what happened.

    Returns:
        The figures and notes (AUCs are undefined when every customer, or none, churned).
    """
    y = joined["churned"].to_numpy(int)
    p = joined["churn_probability"].to_numpy(float)
    figures: dict[str, Any] = {"customers": len(joined), "churned": int(y.sum()),
                               "actual_churn_rate": _rate(y.sum(), len(y)),
                               "mean_predicted_probability": float(p.mean()) if len(p) else None,
                               "roc_auc": None, "pr_auc": None, "brier": None, "log_loss": None, "ece": None}
    notes = []
    if 0 < y.sum() < len(y):
        metrics = churn_metrics(y, p)
        figures.update({k: metrics[k] for k in ("roc_auc", "pr_auc", "brier", "log_loss", "ece")})
    else:
        notes.append(f"ROC-AUC, PR-AUC and Brier score need both churners and stayers; "
                     f"{'every' if y.sum() else 'no'} listed customer churned")
    figures["calibration_by_band"] = calibration_by_band(joined, band_order)
    figures["calibration_by_decile"] = calibration_by_decile(joined)
    return figures, notes


def value_figures(joined: pd.DataFrame, value_column: str | None) -> dict[str, Any]:
    """Lost value and how much of it the top 10% / 20% of customers held, by each available ranking.

    Args:
        joined: the list with outcomes (``join_outcomes``).
        value_column: the column holding each customer's spend if retained (None: lost value cannot be valued).

    Returns:
        ``value_column``, ``lost_value``, ``revenue_kept``, ``revenue`` and ``capture``: one row per ranking
        (``value_at_risk``, ``priority``, ``churn_probability`` where present, then ``perfect``, the best any
        ranking could do) with the share of lost value in its top 10% and 20%.
    """
    stayed = joined["churned"] == 0
    figures: dict[str, Any] = {"value_column": value_column, "lost_value": None,
                               "revenue_kept": float(joined.loc[stayed, "revenue"].sum()),
                               "revenue": float(joined["revenue"].sum()), "capture": []}
    if value_column is None:
        return figures
    lost = joined["churned"].to_numpy(float) * joined[value_column].to_numpy(float)
    figures["lost_value"] = float(lost.sum())
    rankings = [(r, joined[r].to_numpy(float)) for r in RANKINGS if r in joined] + [("perfect", lost)]
    for name, score in rankings:
        figures["capture"].append({"ranking": name, **{f"top_{round(s * 100)}": capture_share(lost, score, s)
                                                       for s in CAPTURE_SHARES}})
    return figures


def outcomes_by(joined: pd.DataFrame, column: str, order: list[str], value_column: str | None) -> list[dict[str, Any]]:
    """Per value of ``column`` (risk band, loyalty tier, contact group): customers, predicted and actual
    churn, value at risk, value lost and revenue kept."""
    rows = []
    for key in _ordered(joined[column], order):
        part = joined[joined[column] == key]
        churned = part["churned"].to_numpy(float)
        rows.append({
            column: str(key), "customers": len(part), "churned": int(churned.sum()),
            "mean_predicted": float(part["churn_probability"].mean()) if len(part) else None,
            "actual_rate": _rate(churned.sum(), len(part)),
            "value_at_risk": float(part["value_at_risk"].sum()),
            "lost_value": float((churned * part[value_column].to_numpy(float)).sum()) if value_column else None,
            "revenue_kept": float(part.loc[part["churned"] == 0, "revenue"].sum()),
        })
    return rows


def _group(part: pd.DataFrame) -> dict[str, Any]:
    n, x = len(part), int(part["churned"].sum())
    low, high = wilson_interval(x, n)
    return {"customers": n, "churned": x, "rate": _rate(x, n), "interval": [_finite(low), _finite(high)]}


def compare_groups(part: pd.DataFrame) -> dict[str, Any]:
    """Treatment against holdout within ``part`` (rows with ``contact_group`` and ``churned``): each group's
    churn rate with its Wilson interval, the difference (holdout - treatment, Newcombe interval) and the
    measured effect (difference / holdout rate, log relative-risk interval)."""
    treated, held = part[part["contact_group"] == TREATMENT], part[part["contact_group"] == HOLDOUT]
    t, h = _group(treated), _group(held)
    diff = effect = None
    diff_interval = effect_ci = (math.nan, math.nan)
    if t["customers"] and h["customers"]:
        diff = h["rate"] - t["rate"]
        diff_interval = newcombe_difference_interval(h["churned"], h["customers"], t["churned"], t["customers"])
        if h["churned"]:
            effect = diff / h["rate"]
            effect_ci = effect_interval(t["churned"], t["customers"], h["churned"], h["customers"])
    return {"treatment": t, "holdout": h, "not_selected": int((part["contact_group"] == NOT_SELECTED).sum()),
            "difference": {"estimate": diff, "interval": [_finite(v) for v in diff_interval]},
            "effect": {"estimate": effect, "interval": [_finite(v) for v in effect_ci]}}


def action_figures(joined: pd.DataFrame, priors: Mapping[str, float], default_prior: float,
                   pseudo_count: float = SHRINKAGE_PSEUDO_COUNT) -> list[dict[str, Any]]:
    """Per suggested action (most customers first, then by text): treatment against holdout
    (``compare_groups``), the prior effect and the shrunk effect (``shrink_effect``)."""
    rows = []
    counts = joined["action"].astype("str").value_counts()
    for action in sorted(counts.index, key=lambda a: (-counts[a], a)):
        compared = compare_groups(joined[joined["action"].astype("str") == action])
        prior = float(priors.get(action, default_prior))
        measurable = compared["effect"]["estimate"] is not None
        rows.append({"action": action, "customers": int(counts[action]), **compared, "prior": prior,
                     "measured": measurable,
                     "shrunk_effect": shrink_effect(compared["effect"]["estimate"], compared["holdout"]["customers"],
                                                    prior, pseudo_count)})
    return rows


def measured_effects(actions: list[dict[str, Any]], priors: Mapping[str, float]) -> dict[str, float]:
    """Every action's effect for ``targeting.action_effects``: the shrunk effect of the actions measured
    (both groups present and churners in the holdout), the prior for the rest and for the actions of the
    params that the list did not use."""
    effects = {str(k): float(v) for k, v in priors.items()}
    for row in actions:
        effects[row["action"]] = round(row["shrunk_effect"] if row["measured"] else row["prior"], 4)
    return dict(sorted(effects.items()))


def outcome_figures(risk_list: pd.DataFrame, outcomes: pd.DataFrame, *, label: LabelConfig, as_of: date,
                    band_order: list[str] | None = None, tier_order: list[str] | None = None,
                    priors: Mapping[str, float] | None = None, default_prior: float = 0.10,
                    pseudo_count: float = SHRINKAGE_PSEUDO_COUNT) -> dict[str, Any]:
    """Every outcome figure of a risk list, as a plain dict (JSON-ready: no NaN, no numpy types).

    Figures that need a column the list lacks (an older format: no ``value_if_retained``, ``priority`` or
    ``contact_group``) are left out, with a note each in ``notes``.

    Args:
        risk_list: the list written by ``churn score``.
        outcomes: ``customer_id``, ``churned``, ``revenue`` (and ``in_data``) per listed customer.
        label: the list's label settings.
        as_of: the list's as-of date.
        band_order: risk bands, highest first (default: by mean probability).
        tier_order: loyalty tiers, highest first (default: by name).
        priors: each action's prior effect (``targeting.action_effects``).
        default_prior: the prior of an action not in ``priors``.
        pseudo_count: the shrinkage's k, in holdout customers.

    Returns:
        ``as_of``, ``horizon_end``, ``label``, ``model_version``, ``customers``, ``customers_not_in_data``,
        ``quality``, ``value``, ``by_risk_band``, ``by_loyalty_tier``, ``by_contact_group``, ``actions``,
        ``effects``, ``shrinkage`` and ``notes``.
    """
    priors = dict(priors or {})
    joined = join_outcomes(risk_list, outcomes)
    notes: list[str] = []
    not_in_data = int((~joined["in_data"].astype(bool)).sum()) if "in_data" in joined else 0
    if not_in_data:
        notes.append(f"{not_in_data:,} customers have no rows in the later data and count as churned (revenue 0)")
    value_column = "value_if_retained" if "value_if_retained" in joined else None
    if value_column is None:
        # expected_value is no stand-in: it is the expected spend with churn already priced in, near 0 for
        # the likeliest churners, not what they would have spent had they stayed
        notes.append("no value_if_retained column (a list from an older `churn score`): value lost and the share of it "
                     "each ranking captured are left out")
    if "priority" not in joined:
        notes.append("no priority column (a list from an older `churn score`): capture by priority is left out")
    band_order = band_order or list(joined.groupby("risk_band")["churn_probability"].mean()
                                    .sort_values(ascending=False).index.astype(str))
    quality, quality_notes = list_quality(joined, band_order)
    notes += quality_notes
    figures: dict[str, Any] = {
        "as_of": as_of.isoformat(), "horizon_end": horizon_end(as_of, label.horizon_days).isoformat(),
        "label": dataclasses.asdict(label),
        "model_version": str(joined["model_version"].iloc[0]) if len(joined) and "model_version" in joined else None,
        "customers": len(joined), "customers_not_in_data": not_in_data,
        "quality": quality,
        "value": value_figures(joined, value_column),
        "by_risk_band": outcomes_by(joined, "risk_band", band_order, value_column),
        "by_loyalty_tier": outcomes_by(joined, "loyalty_tier", tier_order or [], value_column)
        if "loyalty_tier" in joined else [],
        "by_contact_group": [], "all_actions": None, "actions": [], "effects": dict(sorted(priors.items())),
        "shrinkage": {"method": "pseudo-count average (n_h x measured + k x prior) / (n_h + k), clipped to [0, 1]",
                      "pseudo_count": pseudo_count, "weight": "holdout customers (n_h)"},
    }
    if "contact_group" in joined:
        groups = joined.assign(contact_group=joined["contact_group"].astype("str"))
        unknown = sorted(set(groups["contact_group"]) - set(GROUPS))
        if unknown:
            notes.append(f"contact_group values {unknown} are neither treatment, holdout nor not_selected; "
                         "those customers are left out of the effects")
        figures["by_contact_group"] = outcomes_by(groups, "contact_group", list(GROUPS), value_column)
        figures["all_actions"] = compare_groups(groups)
        figures["actions"] = action_figures(groups, priors, default_prior, pseudo_count)
        figures["effects"] = measured_effects(figures["actions"], priors)
        if not any(a["measured"] for a in figures["actions"]):
            notes.append("no action has both a treatment and a holdout group with churners in the holdout: no effect "
                         "could be measured, and the effects stay at their priors")
    else:
        notes.append("no contact_group column (a list from before holdouts were drawn): treatment against holdout "
                     "and the actions' effects are left out; effects stay at their priors")
    figures["notes"] = notes
    return _plain(figures)


def headline_metrics(figures: Mapping[str, Any]) -> dict[str, float]:
    """The figures worth a metric in a tracking store, as flat ``outcomes_*`` names (text values such as
    band and tier names are made safe for metric names; None values are left out)."""
    quality, value = figures["quality"], figures["value"]
    metrics: dict[str, Any] = {f"outcomes_{k}": quality[k] for k in (
        "roc_auc", "pr_auc", "brier", "log_loss", "ece", "actual_churn_rate", "mean_predicted_probability")}
    metrics.update({"outcomes_customers": figures["customers"],
                    "outcomes_customers_not_in_data": figures["customers_not_in_data"],
                    "outcomes_lost_value": value["lost_value"], "outcomes_revenue_kept": value["revenue_kept"]})
    for row in value["capture"]:
        for share in CAPTURE_SHARES:
            key = f"top_{round(share * 100)}"
            metrics[f"outcomes_lost_value_capture_{key}_by_{row['ranking']}"] = row[key]
    for column, rows in (("risk_band", figures["by_risk_band"]), ("loyalty_tier", figures["by_loyalty_tier"])):
        for row in rows:
            metrics[f"outcomes_churn_rate_{column}_{_metric_safe(row[column])}"] = row["actual_rate"]
    pooled = figures.get("all_actions")
    if pooled:
        metrics.update({"outcomes_treatment_churn_rate": pooled["treatment"]["rate"],
                        "outcomes_holdout_churn_rate": pooled["holdout"]["rate"],
                        "outcomes_effect_all_actions": pooled["effect"]["estimate"]})
    return {k: float(v) for k, v in metrics.items() if v is not None}


def effects_yaml(effects: Mapping[str, float], header: Iterable[str] = (), measured_on: str | None = None) -> str:
    """``targeting: {action_effects: {...}, action_effects_measured: DAY}`` as YAML, under ``#`` comment lines of
    ``header``: the day tells every later list that its effects are measured, not assumed."""
    import yaml

    targeting: dict = {"action_effects": {str(k): float(v) for k, v in effects.items()}}
    if measured_on:
        targeting["action_effects_measured"] = str(measured_on)
    body = yaml.safe_dump({"targeting": targeting}, sort_keys=False, allow_unicode=True, width=1000)
    return "".join(f"# {line}".rstrip() + "\n" for line in header) + body


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _ordered(values: pd.Series, order: list[str]) -> list[str]:
    """The distinct values, those in ``order`` first in that order, then the rest by name."""
    present = set(values.astype("str").dropna())
    return [v for v in order if v in present] + sorted(present - set(order))


def _metric_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in str(text))


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _plain(value: Any) -> Any:
    """Numpy scalars to Python, NaN to None, recursively: a dict ``json.dumps`` writes as is."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = [
    "SHRINKAGE_PSEUDO_COUNT", "action_figures", "calibration_by_band", "calibration_by_decile", "capture_share",
    "compare_groups", "effect_interval", "effects_yaml", "headline_metrics", "horizon_end", "join_outcomes",
    "list_as_of", "list_label", "list_quality", "measured_effects", "newcombe_difference_interval",
    "outcome_figures", "outcomes_by", "realised_outcomes", "require_horizon_observed", "shrink_effect",
    "value_figures", "wilson_interval",
]
