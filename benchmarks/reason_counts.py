"""Counts of issue 29's reason and action problems over one risk list (docs/explanations.md "What a reason may say").

Reads a risk list written by ``churn score``, the features of the same customers (``churn features``), the data
folder both were built from and the as-of date, and counts reasons that say one fact twice, traits and trivia said
as reasons, reasons the customer's own rows contradict, and actions whose conditions fail on the data. Each count is
a row of the table in docs/explanations.md; run it on a list made by the code before a change and by the code after.

    .venv/bin/python benchmarks/reason_counts.py --risk outputs/risk_asof=2025-12-31.parquet \\
        --features outputs/features_asof=2025-12-31.parquet --data data/sample --as-of 2025-12-31 [--json counts.json]

The base rate (for the least effect and the bottom of the risk range) is read from the summary the score command
writes beside the risk list (``<risk>_summary.json``: the band rule's base rate, else the mean probability of the
base), or given with ``--base-rate``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: the project's feature registry
    sys.path.insert(0, str(ROOT))

SLOTS = (1, 2, 3)
REASONS = [f"driver_{k}_reason" for k in SLOTS]
RECENT_DAYS = 30
TABLES = ("transactions", "events", "invoices", "subscriptions", "customers")
# the date columns that say when something happened to a customer's row (an invoice's due date is a deadline)
ROW_DATES = {"transactions": ("timestamp",), "events": ("timestamp",), "invoices": ("issued_at", "paid_at"),
             "subscriptions": ("start_date", "end_date"), "customers": ("signup_date",)}

# count -> the words of its row in the table (docs/explanations.md), in the table's order
ROWS = {
    "customers": "Customers on the list",
    "customers_with_one_fact_twice": "Customers whose reasons say one fact twice or more",
    "not_active_30d": "'Not active in the last 30 days'",
    "not_active_30d_and_visit_reason": "'Not active in the last 30 days' beside a visit reason",
    "usual_gap_beside_no_purchase": "'Last bought ... usually buy every' beside 'No purchase for'",
    "bought_nothing_twice": "'Bought nothing in the last N days' said twice",
    "bought_in_n_of_12_months": "'Bought in N of the last 12 months' (a trait)",
    "bought_from_n_categories": "'Bought from N categories' (a trait)",
    "visits_down_by_one": "Visits down by exactly one",
    "down_from_1": "'... down from 1'",
    "one_order_fewer": "'1 order fewer'",
    "returned_under_5pct": "'Returned under 5%'",
    "invoices_late_10pct_or_less": "'10% or fewer invoices late'",
    "last_complaint_reasons": "'Last complaint' reasons",
    "last_complaint_over_90d": "'Last complaint' more than 90 days ago",
    "mean_reply_reasons": "Average first reply reasons",
    "mean_reply_under_24h": "Average first reply under 24 hours",
    "webinar_reasons": "Webinar (noise event type) reasons",
    "webinar_first_reason": "Webinar (noise event type) first reason",
    "usual_cycle_reasons": "Usual cycle reasons",
    "usual_cycle_under_3_gaps": "Usual cycle from fewer than three gaps",
    "first_reason_effect_under_minimum": "First reason under the least effect",
    "not_active_30d_with_a_row_in_30d": "'Not active in the last 30 days' with a purchase, return or event in those days",
    "not_active_30d_with_any_row_in_30d": "'Not active in the last 30 days' with a row of any table in those days",
    "not_active_30d_with_a_subscription_end_in_30d": "'Not active in the last 30 days' with a subscription ended in them",
    "bought_in_none_of_12_months": "'Bought in none of the last 12 months'",
    "at_0pct": "Customers at 0%",
    "at_0pct_with_reasons": "Customers at 0% with reasons",
    "bottom_of_range": "Customers under a fifth of the base rate",
    "bottom_with_reasons": "Customers under a fifth of the base rate with risk reasons",
    "no_reason": "Customers with no reason",
    "call_list": "Call list (treatment + holdout)",
    "call_list_without_reason": "Call list without a reason",
    "payment_plan": "Payment plan",
    "payment_plan_with_overdue": "Payment plan with an overdue invoice",
    "payment_plan_late_under_1_day": "Payment plan, none overdue and under a day late on average",
    "payment_plan_condition_fails": "Payment plan whose condition fails",
    "returns_follow_up": "Returns follow-up",
    "returns_follow_up_last_return_over_90d": "Returns follow-up, last return over 90 days ago",
    "senior_call": "Senior call",
    "senior_call_not_high": "Senior call, not high band",
    "senior_call_low_band": "Senior call, low band",
    "cancelled_first_reason": "'Cancelled a subscription' first",
    "cancelled_first_reason_with_subscription_action": "'Cancelled a subscription' first, with a subscription action",
    "replenishment_reminder": "Replenishment reminder",
    "replenishment_under_3_gaps": "Replenishment reminder, under 3 gaps",
    "replenishment_lapsed_beyond_2_cycles": "Replenishment reminder, lapsed beyond 2 cycles",
    "replenishment_condition_fails": "Replenishment reminder, under 3 gaps or lapsed beyond 2 cycles",
}


def read_table(data: Path, name: str) -> pd.DataFrame | None:
    """One table of a data folder (a parquet folder or file, or a CSV file) or None when the folder has none."""
    for path in (data / name, data / f"{name}.parquet"):
        if path.exists():
            return pd.read_parquet(path)
    for path in (data / f"{name}.csv", data / f"{name}.csv.gz"):
        if path.exists():
            return pd.read_csv(path, dtype={"customer_id": str})
    return None


def customer_rows(data: Path, end: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The data folder's tables, each keeping only what was known before ``end`` (the as-of day's end)."""
    tables = {}
    for name in TABLES:
        table = read_table(data, name)
        if table is None:
            continue
        first = ROW_DATES[name][0]
        table[first] = pd.to_datetime(table[first])
        tables[name] = table[table[first] < end]
    return tables


def last_row_dates(tables: dict[str, pd.DataFrame], end: pd.Timestamp, which: tuple[str, ...]) -> pd.Series:
    """Per customer, the latest date before ``end`` at which any row of the tables ``which`` happened (any of the
    table's dates in :data:`ROW_DATES`: a payment, a subscription's end, a signup)."""
    stamps = []
    for name in which:
        if name not in tables:
            continue
        for column in ROW_DATES[name]:
            at = pd.to_datetime(tables[name][column])
            stamps.append(pd.DataFrame({"customer_id": tables[name]["customer_id"], "at": at})[at < end])
    if not stamps:
        return pd.Series(dtype="datetime64[ns]")
    return pd.concat(stamps).groupby("customer_id")["at"].max()


def fact_keys(as_of: pd.Timestamp) -> dict[str, str]:
    """Each registered feature's fact (``Feature.fact_key``) as of ``as_of``, with every table present."""
    import features.registry as registry

    ctx = registry.Context(as_of=as_of.date(), tables=frozenset(TABLES))
    return {f.name: f.fact_key for family in registry.FAMILIES.values() for f in family.features(ctx)}


def base_rate_of(risk_path: Path) -> float:
    """The base rate the score command used: its summary's band rule, else the mean probability of the base."""
    summary_path = risk_path.with_name(f"{risk_path.stem}_summary.json")
    if not summary_path.exists():
        raise SystemExit(f"no summary beside the risk list ({summary_path}): give --base-rate")
    summary = json.loads(summary_path.read_text())
    rate = (summary.get("band_rule") or {}).get("base_rate")
    return float(rate if rate is not None else summary["base_probability"])


def count_problems(risk: pd.DataFrame, features: pd.DataFrame, tables: dict[str, pd.DataFrame],
                   as_of: pd.Timestamp, base_rate: float) -> dict[str, object]:
    """Every count of :data:`ROWS` (and the actions given, by text) over one risk list."""
    end = as_of + pd.Timedelta(days=1)  # --as-of means the end of that day
    r = risk.set_index("customer_id")
    feats = features.set_index("customer_id").reindex(r.index)
    reasons = r[REASONS].fillna("")

    def feature(name: str) -> pd.Series:
        return feats[name] if name in feats.columns else pd.Series(np.nan, index=r.index)

    def has(pattern: str) -> pd.Series:
        return reasons.apply(lambda col: col.str.contains(pattern, regex=True)).any(axis=1)

    def each(pattern: str) -> list[tuple[object, pd.Series]]:
        """Every match (customer, groups) over all reason slots."""
        out = []
        for col in REASONS:
            found = r[col].fillna("").str.extract(pattern).dropna()
            out += list(found.iterrows())
        return out

    tx = tables["transactions"]
    returns = tx["is_return"].astype(bool) if "is_return" in tx.columns else pd.Series(False, index=tx.index)
    bought = tx[~returns]
    purchase_days = bought.assign(day=bought["timestamp"].dt.normalize()).groupby("customer_id")["day"].nunique()
    gaps = purchase_days.reindex(r.index).fillna(0) - 1
    c: dict[str, object] = {"customers": len(r)}

    # one fact said twice
    not_active = has(r"^Not active in the last 30 days")
    c["not_active_30d"] = int(not_active.sum())
    c["not_active_30d_and_visit_reason"] = int((not_active & has(r"^Last visit|^No visits in the last")).sum())
    c["usual_gap_beside_no_purchase"] = int((has("though they usually buy") & has(r"^No purchase for")).sum())
    c["bought_nothing_twice"] = int((has(r"Bought nothing in the last \d+ days after buying")
                                     & has(r"Bought nothing in the last \d+ days, after spending")).sum())
    facts = fact_keys(as_of)
    named = r[[f"driver_{k}_feature" for k in SLOTS]].apply(
        lambda col: col.map(lambda n: facts.get(n, n) if isinstance(n, str) else None))
    said = named.apply(lambda row: [x for x in row if isinstance(x, str)], axis=1)
    c["customers_with_one_fact_twice"] = int(said.map(lambda x: len(x) != len(set(x))).sum())

    # traits and trivia
    c["bought_in_n_of_12_months"] = int(has(r"Bought in (?:\d+|none) of the last 12 months").sum())
    c["bought_from_n_categories"] = int(has(r"^Bought from \d+ categor").sum())
    visits = each(r"^(\d+|No) visits? in the last \d+ days, down from (\d+)")
    c["visits_down_by_one"] = sum(1 for _, g in visits if (0 if g[0] == "No" else int(g[0])) + 1 == int(g[1]))
    c["down_from_1"] = int(has(r"down from 1 in").sum())
    c["one_order_fewer"] = int(has(r"^1 order fewer").sum())
    c["returned_under_5pct"] = sum(1 for _, g in each(r"^Returned (\d+)% of what") if int(g[0]) < 5)
    c["invoices_late_10pct_or_less"] = sum(1 for _, g in each(r"^Paid (\d+)% of the") if int(g[0]) <= 10)
    complaints = each(r"^Last complaint (\d+) days? ago")
    c["last_complaint_reasons"] = len(complaints)
    c["last_complaint_over_90d"] = sum(1 for _, g in complaints if int(g[0]) > 90)
    replies = each(r"^Waited (\d+) hours? on average")
    c["mean_reply_reasons"] = len(replies)
    c["mean_reply_under_24h"] = sum(1 for _, g in replies if int(g[0]) < 24)
    c["webinar_reasons"] = int(has("webinar").sum())
    c["webinar_first_reason"] = int(reasons[REASONS[0]].str.contains("webinar").sum())
    usual = has("though they usually buy")
    c["usual_cycle_reasons"] = int(usual.sum())
    c["usual_cycle_under_3_gaps"] = int((usual & (gaps < 3)).sum())
    p = r["churn_probability"]
    least = np.maximum(0.01, 0.1 * (p - base_rate).abs())
    c["first_reason_effect_under_minimum"] = int((r["driver_1_effect"] < least - 1e-12).sum())

    # contradictions with the customer's own rows: a row in the last 30 days is one dated on or after this
    window_start = end - pd.Timedelta(days=RECENT_DAYS)
    for key, which in (("not_active_30d_with_a_row_in_30d", ("transactions", "events")),
                       ("not_active_30d_with_any_row_in_30d", TABLES)):
        last = last_row_dates(tables, end, which).reindex(r.index)
        c[key] = int((not_active & (last >= window_start)).sum())
    ends = tables.get("subscriptions")
    ended = (ends[(ends["end_date"] >= window_start) & (ends["end_date"] < end)]["customer_id"] if ends is not None
             else pd.Series(dtype=str))
    c["not_active_30d_with_a_subscription_end_in_30d"] = int((not_active & r.index.isin(set(ended))).sum())
    c["bought_in_none_of_12_months"] = int(has("Bought in none of the last 12 months").sum())
    low = p < 0.005
    c["at_0pct"] = int(low.sum())
    c["at_0pct_with_reasons"] = int((low & r[REASONS[0]].notna()).sum())
    bottom = p < 0.2 * base_rate
    c["bottom_of_range"] = int(bottom.sum())
    c["bottom_with_reasons"] = int((bottom & r[REASONS[0]].notna()).sum())
    c["no_reason"] = int(r[REASONS[0]].isna().sum())
    call = r["contact_group"].isin(["treatment", "holdout"])
    c["call_list"] = int(call.sum())
    c["call_list_without_reason"] = int((call & r[REASONS[0]].isna()).sum())

    # actions and their conditions on the data
    action = r["action"].fillna("")
    overdue, late = feature("overdue_invoices_now") >= 1, feature("average_days_late_last_365d")
    pay = action.str.startswith("Offer a payment plan")
    c["payment_plan"] = int(pay.sum())
    c["payment_plan_with_overdue"] = int((pay & overdue).sum())
    c["payment_plan_late_under_1_day"] = int((pay & (late < 1) & ~overdue).sum())
    c["payment_plan_condition_fails"] = int((pay & ~(overdue | (late >= 7))).sum())
    follow_up = action.str.startswith("Quality follow-up")
    c["returns_follow_up"] = int(follow_up.sum())
    c["returns_follow_up_last_return_over_90d"] = int((follow_up & ~(feature("days_since_last_return") <= 90)).sum())
    senior = action.str.startswith("Service recovery call")
    c["senior_call"] = int(senior.sum())
    c["senior_call_not_high"] = int((senior & (r["risk_band"] != "high")).sum())
    c["senior_call_low_band"] = int((senior & (r["risk_band"] == "low")).sum())
    cancelled = reasons[REASONS[0]].str.startswith("Cancelled")
    c["cancelled_first_reason"] = int(cancelled.sum())
    c["cancelled_first_reason_with_subscription_action"] = int(
        (cancelled & action.str.contains("subscription|renewal", case=False)).sum())
    reminder = action.str.startswith("Replenishment reminder")
    c["replenishment_reminder"] = int(reminder.sum())
    c["replenishment_under_3_gaps"] = int((reminder & (gaps < 3)).sum())
    lapsed = feature("gap_ratio_since_last_purchase") > 2
    c["replenishment_lapsed_beyond_2_cycles"] = int((reminder & lapsed).sum())
    c["replenishment_condition_fails"] = int((reminder & ((gaps < 3) | lapsed)).sum())  # customers, counted once
    c["actions"] = action.value_counts().to_dict()
    return c


def table(counts: dict[str, object]) -> str:
    """The counts as a two-column Markdown table, in the order of :data:`ROWS`, then the actions given."""
    lines = ["| count | customers |", "|---|---:|"]
    lines += [f"| {words} | {counts[key]:,} |" for key, words in ROWS.items()]
    lines += [f"| action: {text or '(none)'} | {n:,} |" for text, n in counts["actions"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--risk", type=Path, required=True, help="risk list written by churn score (.parquet)")
    parser.add_argument("--features", type=Path, required=True, help="features of the same customers (.parquet)")
    parser.add_argument("--data", type=Path, required=True, help="the data folder the list was built from")
    parser.add_argument("--as-of", required=True, help="the list's as-of date (YYYY-MM-DD)")
    parser.add_argument("--base-rate", type=float, help="base churn rate (default: the score summary's)")
    parser.add_argument("--json", type=Path, help="also write the counts to this JSON file")
    args = parser.parse_args(argv)
    for path in (args.risk, args.features, args.data):
        if not path.exists():
            parser.error(f"{path} does not exist")
    as_of = pd.Timestamp(args.as_of)
    base_rate = args.base_rate if args.base_rate is not None else base_rate_of(args.risk)
    tables = customer_rows(args.data, as_of + pd.Timedelta(days=1))
    if "transactions" not in tables:
        parser.error(f"{args.data} holds no transactions table")
    counts = count_problems(pd.read_parquet(args.risk), pd.read_parquet(args.features), tables, as_of, base_rate)
    print(f"{args.risk} as of {as_of.date()}, base rate {base_rate:.4f}")
    print(table(counts))
    if args.json:
        args.json.write_text(json.dumps({"base_rate": base_rate, **counts}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
