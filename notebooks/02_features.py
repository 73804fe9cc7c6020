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
# # 2. Features
#
# Builds the feature table with the same function as `churn features` (`pipeline.build.run.features`), lists
# the feature families that the data allows, and measures, on a date whose outcome is already known, how
# well each feature separates the customers who churned from those who stayed. It ends with how features
# turn into the plain sentences agents read.
#
# Settings, as in notebook 1: `CHURN_DATA` (your data folder; default: a generated sample of
# `CHURN_NOTEBOOK_CUSTOMERS` customers, 3000 unless set), `CHURN_PARAMS` (your `params.yaml`; default: the
# repository's) and `CHURN_AS_OF` (default: the data's last day; 2025-12-31 for generated data). Files go to
# a temporary working folder.

# %%
import os
import tempfile
from datetime import date, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

import pipeline
from features.registry import FAMILIES, family_label
from pipeline.build import run as build
from pipeline.build.extensions import params_folder, prepare_features
from pipeline.build.features import build_features, context_for, feature_spec
from pipeline.core.runlog import RunLog
from pipeline.data.samples import write_sample
from pipeline.outputs.labels import feature_label

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
log = RunLog()
cfg = build.load(PARAMS, OVERRIDES)
# your own families (features.extra_modules, relative to the params file), as every command imports them
prepare_features(cfg, params_folder(PARAMS))
ds = build.open_data(DATA, cfg, log)
AS_OF = date.fromisoformat(AS_OF) if AS_OF else ds.date_range()[1]
print(f"params: {PARAMS or 'built-in defaults'}\ndata: {DATA}\nas of: {AS_OF}\nworking folder: {WORK}")

# %% [markdown]
# ## The feature table
#
# One row per customer in the population at the as-of date (by default, customers with an order in the
# year before it), one column per feature, written to `features_asof=DATE.parquet` exactly as
# `churn features --data DATA --as-of DATE` writes it. Every feature sees only rows up to the end of the
# as-of day: nothing after it can leak in. This is the table the model scores.

# %%
made = build.features(PARAMS, DATA, AS_OF, out=WORK / f"features_asof={AS_OF}.parquet", overrides=OVERRIDES, log=log)
frame = made.frame
print(f"{len(frame):,} customers x {frame.shape[1] - 1} columns -> {made.path}")
frame.head()

# %% [markdown]
# ## Feature families
#
# Features come in families, one module each under `features/` (recency, frequency, payments, service...).
# A family is built only when the data has the tables it needs, so the chart shows what this data allows;
# the table under it lists the families left out and what they would need. The missing share is the mean
# share of customers without a value in the family's features: high shares are normal for event-based
# families (no complaint is no row) but a family missing for nearly everyone adds columns and no signal.
# Switch families or single features off with `features.exclude` in `params.yaml`; add your own with
# `features.extra_modules`.

# %%
spec, notices = feature_spec(context_for(ds, cfg, AS_OF))
for notice in notices:
    print("-", notice)
families = pd.DataFrame([{"family": f.family, "feature": f.name, "missing": frame[f.name].isna().mean()}
                         for f in spec.features])
by_family = families.groupby("family").agg(features=("feature", "size"), missing_share=("missing", "mean"))
by_family = by_family.sort_values("features")

fig, ax = plt.subplots(figsize=(9, 0.3 * len(by_family) + 1), layout="constrained")
ax.barh([family_label(f) for f in by_family.index], by_family["features"], color="C0")
for i, (n, miss) in enumerate(zip(by_family["features"], by_family["missing_share"], strict=True)):
    ax.text(n + 0.2, i, f"{miss:.0%} missing", va="center", fontsize=8, color="dimgray")
ax.set(title="Features per family (and their mean missing share)", xlabel="features")
plt.show()
left_out = [{"family": name, "label": family_label(name), "needs tables": ", ".join(f.requires)}
            for name, f in FAMILIES.items() if name not in by_family.index]
pd.DataFrame(left_out) if left_out else print("every registered family is built on this data")

# %% [markdown]
# ## Which features separate churners on their own
#
# To see signal we need outcomes, so the features are built as of a cutoff one horizon before the as-of
# date (`label.horizon_days`), with the label of what each customer did in the horizon after it: the same
# kind of rows the model trains on. Each feature is scored on its own by ROC-AUC over the customers who have
# a value (the share is written beside the bar when some have none), turned so that its declared risk
# direction counts as right: 0.5 is no information, 0.7 is a useful single signal, above 0.9 on its own is
# suspicious (a feature that knows the outcome). A feature well under 0.5 works against the direction its
# metadata declares, which decides the reasons it can give: check the declaration, the data, or a third
# thing behind both (active customers file more support tickets and also churn less).

# %%
cutoff = AS_OF - timedelta(days=cfg.label.horizon_days)
labelled = build_features(ds, cfg, cutoff, with_labels=True)
y = labelled["churned"].to_numpy(int)
print(f"cutoff {cutoff}: {len(labelled):,} customers, churn rate {y.mean():.1%}")

rows = []
for feat in spec.features:
    if feat.kind != "numeric" or feat.name not in labelled or labelled[feat.name].nunique() < 2:
        continue
    x = labelled[feat.name].astype(float)
    has = x.notna().to_numpy()
    if len(np.unique(y[has])) < 2 or x[has].nunique() < 2:
        continue
    auc = roc_auc_score(y[has], x[has])
    oriented = 1 - auc if feat.risk_direction == -1 else auc if feat.risk_direction == 1 else max(auc, 1 - auc)
    rows.append({"feature": feat.name, "family": feat.family, "direction": feat.risk_direction, "auc": oriented,
                 "with_value": has.mean()})
single = pd.DataFrame(rows).sort_values("auc", ascending=False).reset_index(drop=True)

top = single.head(20).iloc[::-1]
colours = {f: plt.cm.tab20(i % 20) for i, f in enumerate(sorted(single["family"].unique()))}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 6), layout="constrained", width_ratios=(3, 2))
ax1.barh([feature_label(f) for f in top["feature"]], top["auc"] - 0.5, left=0.5, color=top["family"].map(colours))
for i, (auc, share) in enumerate(zip(top["auc"], top["with_value"], strict=True)):
    if share < 0.995:
        ax1.text(max(auc, 0.5) + 0.005, i, f"{share:.0%} have a value", va="center", fontsize=7, color="dimgray")
ax1.axvline(0.5, color="k", lw=0.8)
ax1.set(title="The 20 strongest single features (ROC-AUC, risk direction as declared)", xlabel="ROC-AUC", xlim=(0.45, 1))
best = single.groupby("family")["auc"].max().sort_values()
ax2.barh([family_label(f) for f in best.index], best - 0.5, left=0.5, color=[colours[f] for f in best.index])
ax2.axvline(0.5, color="k", lw=0.8)
ax2.set(title="Best single feature per family", xlabel="ROC-AUC", xlim=(min(0.45, best.min() - 0.02), 1))
plt.show()
against = single[(single["direction"] != 0) & (single["auc"] < 0.45)]
print(f"{len(against)} feature(s) work against their declared direction here:", ", ".join(against["feature"]) or "none")
against

# %% [markdown]
# ## Distributions by outcome
#
# The four strongest features, drawn separately for customers who churned and who stayed (each side scaled
# to its own total, the 1% most extreme values cut off). Good features show two shapes that overlap little.
# Look at where they cross: that is roughly the value where an agent's reason starts to apply. Look also at
# spikes: a pile of customers at one value (0 visits, a filled-in missing value) is a group the model can
# only treat as one.

# %%
fig, axes = plt.subplots(1, 4, figsize=(17, 3.6), layout="constrained")
for ax, name in zip(axes, single["feature"].head(4), strict=False):  # fewer than 4 features: fewer charts
    x = labelled[name].astype(float)
    lo, hi = x.quantile([0.005, 0.995])
    bins = np.linspace(lo, hi, 30) if hi > lo else 10
    for outcome, colour, text in ((0, "C0", "stayed"), (1, "C3", "churned")):
        values = x[(y == outcome) & x.between(lo, hi)].dropna()
        ax.hist(values, bins=bins, density=True, alpha=0.55, color=colour, label=f"{text} ({(y == outcome).sum():,})")
    ax.set(title=feature_label(name), xlabel=spec[name].unit, yticks=[])
    ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Features that say the same thing
#
# Rank correlations between the 15 strongest features. Families overlap on purpose (days since the last
# purchase, orders in 30 days and the purchase model's expectation all say "recently active"): that is fine
# for the model, but when two features correlate strongly the model's explanations split the credit between
# them, so a family's total in notebook 3's drivers chart is a better guide than any one of its features.

# %%
names = list(single["feature"].head(15))
corr = labelled[names].astype(float).corr(method="spearman")
fig, ax = plt.subplots(figsize=(9, 7.5), layout="constrained")
image = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
labels = [feature_label(n) for n in names]
ax.set_xticks(range(len(names)), labels, rotation=60, ha="right", fontsize=8)
ax.set_yticks(range(len(names)), labels, fontsize=8)
ax.set_title("Spearman correlation of the strongest features")
fig.colorbar(image, ax=ax)
plt.show()

# %% [markdown]
# ## From features to reasons
#
# Each feature declares, once, a sentence template; the risk list's reasons, the report and Excel all read
# it, so nothing describes a feature by hand. Below are the sentences for one customer who churned after
# the cutoff, for the strongest features that can give a reason (a risk direction). These are the facts
# of a customer's card; the risk list gives one as a reason only when the value is on the risky side (past
# the feature's neutral point, or a material change against the earlier period). A good reason is a fact
# an agent can say to the customer, with their own numbers.

# %%
customer = labelled[labelled["churned"] == 1].iloc[0].to_dict()
print("customer", customer["customer_id"])
sentences = (spec[name].describe(customer[name], customer) for name in single.loc[single["direction"] != 0, "feature"])
for text in [t for t in sentences if t][:8]:  # None: a missing value that says nothing
    print("-", text)

# %% [markdown]
# ## Next
#
# Notebook 3 trains a model on rolling snapshots of these features (or loads yours) and shows how well it
# ranks and prices the customers. To check a family of your own the way the contract tests do (determinism,
# no look-ahead), run `churn check-features --data DATA`.
