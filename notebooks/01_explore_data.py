# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Explore the data
#
# Start here with a new data export. This notebook checks the tables the way every `churn` command checks
# them, then shows how customers buy (purchases per month, orders, spend, the gaps between orders) and how
# healthy the base has been (churn by month, cohorts, satisfaction, support, upsell). Each chart has a
# paragraph on how to read it and what to look for.
#
# **Settings** come from environment variables, so the same notebook runs on your data or on generated data:
#
# | Variable | Meaning | Default |
# |---|---|---|
# | `CHURN_DATA` | folder with your tables (the layout `churn validate` reads) | a generated sample |
# | `CHURN_PARAMS` | your `params.yaml` | the repository's `params.yaml` |
# | `CHURN_AS_OF` | the as-of date, `YYYY-MM-DD` | the last day of the data (generated data: 2025-12-31) |
# | `CHURN_NOTEBOOK_CUSTOMERS` | customers in the generated sample | 3000 |
#
# For example start `CHURN_DATA=~/exports/2025-12 jupyter lab` (Jupyter is not in the dev extra:
# `pip install jupyterlab`) and open this `.py` file as a notebook (jupytext), or run its `# %%` cells in
# VS Code; `make notebooks` runs all three notebooks on generated data. Whatever the notebook writes
# (quarantined rows, the generated sample) goes to a temporary working folder, printed below, never into
# your folders.

# %%
import os
import tempfile
from datetime import date
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import pipeline
from pipeline.build import run as build
from pipeline.build.problem import churn_definition
from pipeline.core.runlog import RunLog
from pipeline.data.samples import write_sample
from pipeline.scoring.health import base_health, orders_sql

ROOT = Path(pipeline.__file__).resolve().parents[1]
PARAMS = Path(os.environ.get("CHURN_PARAMS") or ROOT / "params.yaml").resolve()
PARAMS = PARAMS if PARAMS.exists() else None  # None: the built-in defaults (the values params.yaml holds)
OVERRIDES: list[str] = []  # any --set of the command line, e.g. ["label.horizon_days=60"]
WORK = Path(tempfile.mkdtemp(prefix="churn-notebook-"))

if os.environ.get("CHURN_DATA"):
    DATA = Path(os.environ["CHURN_DATA"]).expanduser().resolve()
    AS_OF = os.environ.get("CHURN_AS_OF")
else:
    DATA = WORK / "data"
    write_sample(DATA, int(os.environ.get("CHURN_NOTEBOOK_CUSTOMERS", "3000")), seed=42)
    AS_OF = os.environ.get("CHURN_AS_OF", "2025-12-31")

os.chdir(WORK)  # relative paths of params.yaml (validation.quarantine_dir) land in the working folder
log = RunLog()  # collects what the run says: warnings, notes, the input accounting
cfg = build.load(PARAMS, OVERRIDES)
ds = build.validate(PARAMS, DATA, OVERRIDES, log)
first_day, last_day = ds.date_range()
AS_OF = date.fromisoformat(AS_OF) if AS_OF else last_day
print(f"params: {PARAMS or 'built-in defaults'}\ndata: {DATA}\nas of: {AS_OF}\nworking folder: {WORK}")
print(f"transactions from {first_day} to {last_day}")

# %% [markdown]
# ## The tables
#
# Every row read is accounted for: used, or set aside (quarantined) with its reason in the files of
# `validation.quarantine_dir` (here in the working folder, unless your `params.yaml` gives an absolute
# path). A table with many quarantined rows usually has a format problem (a date format, a decimal comma, a
# renamed column): fix it in `params.yaml` (`input:` and `columns:`) rather than in the data. Warnings below
# are the ones `churn validate` prints.

# %%
accounts = pd.DataFrame([{"table": a.table, "rows read": a.rows_read, "rows used": a.rows_used,
                          "rows quarantined": a.rows_quarantined} for a in ds.report.accounts]).set_index("table")
accounts["columns"] = [", ".join(c for c, _ in ds.clean_columns(t)) if t in ds.tables else ""
                       for t in accounts.index]
for message in log.warnings + log.notes:
    print("-", message)
accounts

# %%
sample = ds.map_parts(lambda con: {"rows": con.sql("SELECT * FROM clean_transactions LIMIT 5").to_arrow_table()})
sample["rows"].to_pandas().head()

# %% [markdown]
# ## Purchases per month
#
# Orders, buying customers and revenue per calendar month, counted as the features count them (an order is
# an order id on one day; returns are left out). Look for the shape first: steady growth, seasonality (a
# December peak), or a cliff. A month far below its neighbours is often a gap in the export rather than in
# the business, and it would look like churn to every model: check it before training. The last month is
# drawn lighter when it is not complete at the as-of date.

# %%
orders = orders_sql(AS_OF)
monthly = pd.DataFrame(
    ds.grouped_totals(
        f"SELECT date_trunc('month', day) AS month, count(*) AS orders, count(DISTINCT customer_id) AS buyers, "
        f"CAST(sum(amount) AS DOUBLE) AS revenue FROM {orders} GROUP BY 1",
        "SELECT month, sum(orders), sum(buyers), sum(revenue) FROM parts GROUP BY 1 ORDER BY 1"),
    columns=["month", "orders", "buyers", "revenue"]).sort_values("month")
monthly["month"] = pd.to_datetime(monthly["month"])
complete = monthly["month"] + pd.offsets.MonthEnd(0) <= pd.Timestamp(AS_OF)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")
ax1.bar(monthly["month"], monthly["orders"], width=20, color=np.where(complete, "C0", "lightgray"), label="orders")
ax1.plot(monthly["month"], monthly["buyers"], "C1o-", ms=3, label="buying customers")
ax1.set(title="Orders and buying customers per month", ylabel="count")
ax1.legend()
ax2.bar(monthly["month"], monthly["revenue"], width=20, color=np.where(complete, "C2", "lightgray"))
ax2.set(title="Revenue per month", ylabel="revenue")
fig.autofmt_xdate()
plt.show()

# %% [markdown]
# ## Orders, spend and the gaps between orders
#
# Per customer who bought in the 365 days before the as-of date: how many orders, how much spend, and the
# days between consecutive orders. Expect long tails: a few customers order often and spend most, many
# order once or twice, which is why the value columns are ranked rather than averaged. The gap chart matters
# most for the churn definition: the dashed line is `label.horizon_days`. If many customers' usual gap is
# longer than the horizon, a quiet spell of a regular but slow buyer counts as churn; lengthen the horizon
# (or read notebook 2's churn rate with that in mind).

# %%
window = f"{orders} WHERE day > DATE '{AS_OF}' - INTERVAL 365 DAY"
per_customer = ds.map_parts(lambda con: {"customers": con.sql(
    f"SELECT customer_id, count(*) AS orders, CAST(sum(amount) AS DOUBLE) AS spend FROM {window} GROUP BY 1"
).to_arrow_table(), "gaps": con.sql(
    f"SELECT date_diff('day', lag(day) OVER (PARTITION BY customer_id ORDER BY day), day) AS gap "
    f"FROM (SELECT DISTINCT customer_id, day FROM {window}) QUALIFY gap IS NOT NULL"
).to_arrow_table()})
customers = per_customer["customers"].to_pandas()
gaps = per_customer["gaps"].to_pandas()["gap"]
horizon = cfg.label.horizon_days

fig, axes = plt.subplots(1, 3, figsize=(15, 4), layout="constrained")
top = int(customers["orders"].quantile(0.99))
axes[0].hist(customers["orders"].clip(upper=top), bins=np.arange(1, top + 2) - 0.5, color="C0")
axes[0].set(title="Orders per customer, last 365 days", xlabel=f"orders ({top} = {top} or more)", ylabel="customers")
spend = customers["spend"][customers["spend"] > 0]
axes[1].hist(spend, bins=np.logspace(np.log10(spend.min()), np.log10(spend.max()), 40), color="C2")
axes[1].set(xscale="log", title="Spend per customer, last 365 days", xlabel="spend (log scale)", ylabel="customers")
axes[2].hist(gaps.clip(upper=365), bins=40, color="C4")
axes[2].axvline(horizon, color="k", ls="--", label=f"label.horizon_days = {horizon}")
axes[2].set(title="Days between consecutive orders", xlabel="days (365 = 365 or more)", ylabel="gaps")
axes[2].legend()
plt.show()
print(f"{len(customers):,} customers bought in the last 365 days; median {customers['orders'].median():.0f} orders, "
      f"median spend {customers['spend'].median():,.2f}; top 20% of customers hold "
      f"{customers['spend'].nlargest(max(1, len(customers) // 5)).sum() / customers['spend'].sum():.0%} of the spend")
print(f"{(gaps > horizon).mean():.0%} of the gaps between orders are longer than the {horizon}-day horizon")

# %% [markdown]
# ## Health of the base: churn by month
#
# The health figures are the ones `churn score` stores in its summary (`summary["health"]`) and the report
# draws; here they are computed from the data alone, without a model. The churn rate at each month end
# applies the configured churn definition (printed below) to the customers in the population then. The
# last months have no rate yet: their horizon has not passed by the as-of date, and a rate counting unseen
# days as churn would be wrong. Look for a trend, and for a level: this is the base rate every model is
# compared with, and the share a contact list of the riskiest customers should beat by far.

# %%
health = base_health(ds, cfg.label, AS_OF, pd.DataFrame({"customer_id": []}))[1]
print("Churn means", churn_definition(health["churn_definition"]))
churn = pd.DataFrame(health["churn"])
churn["month"] = pd.to_datetime(churn["month"])

fig, ax = plt.subplots(figsize=(13, 4), layout="constrained")
ax.bar(churn["month"], churn["population"], width=20, color="lightsteelblue", label="customers in the population")
ax.set(ylabel="customers", title="Population and churn rate at each month end")
rate_ax = ax.twinx()
rate_ax.plot(churn["month"], churn["churn_rate"], "C3o-", ms=4, label="churn rate")
rate_ax.set(ylabel="churn rate", ylim=(0, max(0.05, churn["churn_rate"].max(skipna=True) * 1.2)))
rate_ax.yaxis.set_major_formatter("{x:.0%}")
(bars, bar_label), (line, line_label) = ax.get_legend_handles_labels(), rate_ax.get_legend_handles_labels()
ax.legend(bars + line, bar_label + line_label, loc="lower right")
plt.show()

# %% [markdown]
# ## Health of the base: cohorts
#
# Each row is a cohort, the customers whose first purchase fell in that month; each column, the months
# since then; each cell, the share of the cohort who bought in that month. Read along a row to see how
# quickly a cohort fades, and down a column to compare cohorts at the same age: a recent cohort with paler
# cells than older ones at the same age is bringing in customers who stay less, often a change in
# acquisition (a channel, a discount campaign). Blank cells are months not yet complete.

# %%
cohorts = health["cohorts"]
if cohorts:
    grid = np.array([[np.nan if v is None else v for v in c["retention"]] for c in cohorts], dtype=float)
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(cohorts) + 1.5), layout="constrained")
    later = grid[:, 1:]  # month 0 is the first purchase itself: 100% by definition
    top_share = np.nanmax(later) if np.isfinite(later).any() else 1.0
    image = ax.imshow(later, cmap="Blues", vmin=0, vmax=top_share, aspect="auto")
    ax.set_yticks(range(len(cohorts)), [f"{c['cohort']} ({c['customers']:,})" for c in cohorts])
    ax.set_xticks(range(grid.shape[1] - 1), range(1, grid.shape[1]))
    ax.set(xlabel="months after the first purchase", title="Share of each cohort buying in later months")
    for (i, j), v in np.ndenumerate(later):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=7, color="white" if v > 0.5 * top_share else "black")
    fig.colorbar(image, ax=ax, format="{x:.0%}")
    plt.show()
else:
    print("no complete cohort before the as-of date")

# %% [markdown]
# ## Health of the base: experience and growth
#
# What customers say and how they are served, month by month, where the events table has them: NPS
# (promoters minus detractors, in points) and average CSAT from survey events, support tickets and the
# median hours to a first response. On the right, among customers who bought again in a month, the share
# who spent more per order than their own average before (upsell) and who bought a new category
# (cross-sell). A fall in satisfaction or a rise in response times usually comes months before the churn
# rate moves; these are also the families the model's drivers come from (notebook 3).

# %%
def both_legends(ax, twin):
    """One legend, under the chart, for a chart and its twin axis."""
    (handles, labels), (more, more_labels) = ax.get_legend_handles_labels(), twin.get_legend_handles_labels()
    ax.legend(handles + more, labels + more_labels, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)


fig, axes = plt.subplots(1, 3, figsize=(17, 4.5), layout="constrained")
satisfaction = pd.DataFrame(health.get("satisfaction", []))
if not satisfaction.empty:
    months = pd.to_datetime(satisfaction["month"])
    axes[0].plot(months, satisfaction["nps"], "C0o-", ms=3, label="NPS (points)")
    csat_ax = axes[0].twinx()
    csat_ax.plot(months, satisfaction["csat"], "C1s-", ms=3, label="CSAT (average)")
    csat_ax.set(ylabel="CSAT")
    axes[0].set(title="Satisfaction", ylabel="NPS")
    both_legends(axes[0], csat_ax)
else:
    axes[0].set_title("Satisfaction: no NPS or CSAT events")
support = pd.DataFrame(health.get("support", []))
if not support.empty:
    months = pd.to_datetime(support["month"])
    axes[1].bar(months, support["tickets"], width=20, color="lightgray", label="tickets")
    hours_ax = axes[1].twinx()
    hours_ax.plot(months, support["median_response_hours"], "C3o-", ms=3, label="median hours to first response")
    hours_ax.set(ylabel="hours")
    axes[1].set(title="Support", ylabel="tickets")
    both_legends(axes[1], hours_ax)
else:
    axes[1].set_title("Support: no ticket events")
growth = pd.DataFrame(health["growth"])
if not growth.empty:
    months = pd.to_datetime(growth["month"])
    axes[2].plot(months, growth["upsell_rate"], "C2o-", ms=3, label="upsell")
    if growth["cross_sell_rate"].notna().any():
        axes[2].plot(months, growth["cross_sell_rate"], "C4s-", ms=3, label="cross-sell")
    axes[2].yaxis.set_major_formatter("{x:.0%}")
    axes[2].set(title="Growth among returning buyers", ylabel="share of returning buyers")
    axes[2].legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
for ax in axes:
    ax.tick_params(axis="x", labelrotation=30)
plt.show()

# %% [markdown]
# ## Next
#
# Notebook 2 builds the features on this data and shows which of them separate the customers who churned
# from those who stayed; notebook 3 trains (or loads) a model and shows its calibration, gains, drivers and
# value. The same checks on the command line: `churn validate --data DATA`.
