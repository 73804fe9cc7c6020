"""Counts of issue 29's reason and action problems over one risk list (docs/explanations.md "What a reason may say").

Usage: python benchmarks/reason_counts.py RISK.parquet FEATURES.parquet DATA_DIR AS_OF BASE_RATE
"""
import json
import sys

import numpy as np
import pandas as pd

risk, feats, data, as_of = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2]), sys.argv[3], pd.Timestamp(sys.argv[4])
end = as_of + pd.Timedelta(days=1)
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
F = feats.set_index("customer_id")
r = risk.set_index("customer_id")
R = [f"driver_{k}_reason" for k in (1, 2, 3)]
reasons = r[R]
def has(pat): return reasons.apply(lambda c: c.fillna("").str.contains(pat, regex=True)).any(axis=1)
def each(pat):  # every match (customer, groups) over all reason slots
    out = []
    for c in R:
        m = r[c].fillna("").str.extract(pat).dropna()
        out += [(i, row) for i, row in m.iterrows()]
    return out
tx = pd.read_parquet(f"{data}/transactions"); tx = tx[tx.timestamp < end]
ev = pd.read_parquet(f"{data}/events"); ev = ev[ev.timestamp < end]
last_tx = tx.groupby("customer_id").timestamp.max()
last_ev = ev.groupby("customer_id").timestamp.max()
days_tx = tx[~tx.get("is_return", False).astype(bool)].assign(d=lambda d: d.timestamp.dt.normalize()).groupby("customer_id").d.nunique()
c = {}
c["customers"] = len(r)
# one fact twice
na = has(r"^Not active in the last 30 days")
c["not_active_30d"] = int(na.sum())
c["not_active_30d_and_visit_reason"] = int((na & has(r"^Last visit|^No visits in the last")).sum())
c["usual_gap_beside_no_purchase"] = int((has("though they usually buy") & has(r"^No purchase for")).sum())
c["bought_nothing_twice"] = int((has(r"Bought nothing in the last \d+ days after buying") & has(r"Bought nothing in the last \d+ days, after spending")).sum())
facts = {}

import features.registry as reg
from features.registry import FAMILIES

ctx = reg.Context(as_of=as_of.date(), tables=frozenset({"transactions", "events", "invoices", "subscriptions", "customers"}))
for fam in FAMILIES.values():
    for f in fam.features(ctx):
        facts[f.name] = f.fact_key
fc = r[[f"driver_{k}_feature" for k in (1, 2, 3)]].apply(lambda col: col.map(lambda n: facts.get(n, n) if isinstance(n, str) else None))
dup = fc.apply(lambda row: len([x for x in row if isinstance(x, str)]) != len({x for x in row if isinstance(x, str)}), axis=1)
c["customers_with_one_fact_twice"] = int(dup.sum())
# traits and trivia
c["bought_in_n_of_12_months"] = int(has(r"Bought in (\d+|none) of the last 12 months").sum())
c["bought_from_n_categories"] = int(has(r"^Bought from \d+ categor").sum())
c["visits_down_by_one"] = sum(1 for _, g in each(r"^(\d+|No) visits? in the last \d+ days, down from (\d+)") if (0 if g[0] == "No" else int(g[0])) + 1 == int(g[1]))
c["down_from_1"] = int(has(r"down from 1 in").sum())
c["one_order_fewer"] = int(has(r"^1 order fewer").sum())
c["returned_under_5pct"] = sum(1 for _, g in each(r"^Returned (\d+)% of what") if int(g[0]) < 5)
c["invoices_late_10pct_or_less"] = sum(1 for _, g in each(r"^Paid (\d+)% of the") if int(g[0]) <= 10)
lc = each(r"^Last complaint (\d+) days? ago")
c["last_complaint_reasons"] = len(lc); c["last_complaint_over_90d"] = sum(1 for _, g in lc if int(g[0]) > 90)
wr = each(r"^Waited (\d+) hours? on average")
c["mean_reply_reasons"] = len(wr); c["mean_reply_under_24h"] = sum(1 for _, g in wr if int(g[0]) < 24)
c["webinar_reasons"] = int(has("webinar").sum()); c["webinar_first_reason"] = int(r[R[0]].fillna("").str.contains("webinar").sum())
ug = has("though they usually buy")
c["usual_cycle_reasons"] = int(ug.sum())
c["usual_cycle_under_3_gaps"] = int((ug & (days_tx.reindex(r.index).fillna(0) - 1 < 3)).sum())
p = r.churn_probability
p0 = float(sys.argv[5]) if len(sys.argv) > 5 else float("nan")
least = np.maximum(0.01, 0.1 * (p - p0).abs())
c["first_reason_effect_under_minimum"] = int((r.driver_1_effect < least - 1e-12).sum())
# contradictions
cust_last = pd.concat([last_tx, last_ev], axis=1).max(axis=1).reindex(r.index)
c["not_active_30d_with_a_row_in_30d"] = int((na & ((end - cust_last).dt.days < 30 + 1) & (cust_last >= end - pd.Timedelta(days=30))).sum())
c["bought_in_none_of_12_months"] = int(has("Bought in none of the last 12 months").sum())
low = p < 0.005
c["at_0pct"] = int(low.sum()); c["at_0pct_with_reasons"] = int((low & r[R[0]].notna()).sum())
bottom = p < 0.2 * p0
c["bottom_of_range"] = int(bottom.sum()); c["bottom_with_reasons"] = int((bottom & r[R[0]].notna()).sum())
c["no_reason"] = int(r[R[0]].isna().sum())
call = r.contact_group.isin(["treatment", "holdout"])
c["call_list"] = int(call.sum()); c["call_list_without_reason"] = int((call & r[R[0]].isna()).sum())
# actions
a = r.action.fillna("")
pay = a.str.startswith("Offer a payment plan")
c["payment_plan"] = int(pay.sum())
c["payment_plan_with_overdue"] = int((pay & (F.overdue_invoices_now.reindex(r.index) >= 1)).sum())
c["payment_plan_late_under_1_day"] = int((pay & (F.average_days_late_last_365d.reindex(r.index) < 1) & ~(F.overdue_invoices_now.reindex(r.index) >= 1)).sum())
c["payment_plan_condition_fails"] = int((pay & ~((F.overdue_invoices_now.reindex(r.index) >= 1) | (F.average_days_late_last_365d.reindex(r.index) >= 7))).sum())
ret = a.str.startswith("Quality follow-up")
c["returns_follow_up"] = int(ret.sum())
c["returns_follow_up_last_return_over_90d"] = int((ret & ~(F.days_since_last_return.reindex(r.index) <= 90)).sum())
sen = a.str.startswith("Service recovery call")
c["senior_call"] = int(sen.sum()); c["senior_call_not_high"] = int((sen & (r.risk_band != "high")).sum())
c["senior_call_low_band"] = int((sen & (r.risk_band == "low")).sum())
canc = r[R[0]].fillna("").str.startswith("Cancelled")
c["cancelled_first_reason"] = int(canc.sum())
c["cancelled_first_reason_with_subscription_action"] = int((canc & a.str.contains("subscription|renewal", case=False)).sum())
rem = a.str.startswith("Replenishment reminder")
gaps = days_tx.reindex(r.index).fillna(0) - 1
ratio = F.gap_ratio_since_last_purchase.reindex(r.index)
c["replenishment_reminder"] = int(rem.sum())
c["replenishment_under_3_gaps"] = int((rem & (gaps < 3)).sum())
c["replenishment_lapsed_beyond_2_cycles"] = int((rem & (ratio > 2)).sum())
c["actions"] = a.value_counts().to_dict()
print(json.dumps(c, indent=1))
