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
# # Feature analysis
# Build the feature table as of a date, read the registered metadata, and see which single features
# separate churners from stayers (ROC-AUC of each feature on its own, oriented by its risk direction).

# %%
import os
from datetime import date

import pandas as pd
from sklearn.metrics import roc_auc_score

from pipeline.build.features import build_features, context_for, feature_spec
from pipeline.core.config import load_params
from pipeline.data.samples.retail import generate
from pipeline.engine.duckdb import dataset_from_frames

N = int(os.environ.get("CHURN_NOTEBOOK_CUSTOMERS", "3000"))
params = load_params(None)
tables, _ = generate(N, seed=42)
ds = dataset_from_frames(tables, params)
as_of = date(2025, 9, 30)
frame = build_features(ds, params, as_of, with_labels=True)
spec, notices = feature_spec(context_for(ds, params, as_of))
frame.shape, frame["churned"].mean()

# %%
rows = []
for feat in spec.features:
    if feat.kind != "numeric" or frame[feat.name].nunique() < 2:
        continue
    sign = feat.risk_direction or 1
    auc = roc_auc_score(frame["churned"], sign * frame[feat.name].fillna(frame[feat.name].median()))
    rows.append({"feature": feat.name, "family": feat.family, "auc": auc, "direction": feat.risk_direction})
single = pd.DataFrame(rows).sort_values("auc", ascending=False)
single.head(15)

# %%
single.groupby("family")["auc"].max().sort_values(ascending=False)

# %% [markdown]
# Every feature explains itself with its own description template:

# %%
customer = frame.iloc[0].to_dict()
[spec[name].describe(customer[name], customer) for name in ("days_since_last_purchase", "complaints_last_90d",
                                                              "late_invoice_share_last_365d")]
