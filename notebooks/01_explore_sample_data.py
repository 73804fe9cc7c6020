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
# # Exploring the sample data
# Five tables from the seeded generator: who buys how often, seasonality, and what churners look like
# before they leave. Set `CHURN_NOTEBOOK_CUSTOMERS` to change the size (tests run it small).

# %%
import os

import pandas as pd

from pipeline.data.samples.retail import generate

N = int(os.environ.get("CHURN_NOTEBOOK_CUSTOMERS", "3000"))
tables, truth = generate(N, seed=42)
{name: frame.shape for name, frame in tables.items()}

# %%
tx = tables["transactions"]
monthly = tx.set_index("timestamp").resample("MS")["amount"].sum()
monthly.tail(12)

# %% [markdown]
# Purchases per customer are skewed: a few frequent buyers, a long tail of occasional ones.

# %%
per_customer = tx[~tx["is_return"]].groupby("customer_id").size()
per_customer.describe()

# %% [markdown]
# Planted churn causes and how many customers carry each.

# %%
truth.customers["cause"].value_counts()

# %%
events = tables["events"].merge(truth.customers, on="customer_id")
in_warning = events["timestamp"] >= events["warning_start"]
complaints = events[events["event_type"] == "complaint"]
pd.crosstab(complaints["cause"], in_warning[complaints.index], normalize="index").round(2)
