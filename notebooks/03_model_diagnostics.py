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
# # Model diagnostics
# Train on rolling snapshots (no tuning here, to stay quick), then compare with the baselines on the
# validation cutoff, check calibration and the loyalty model, and look at what drives predictions.

# %%
import os
from datetime import date

from pipeline.build.features import build_training_set, context_for, feature_spec
from pipeline.core.config import load_params
from pipeline.data.samples.retail import generate
from pipeline.engine.duckdb import dataset_from_frames
from pipeline.training.train import train_models

N = int(os.environ.get("CHURN_NOTEBOOK_CUSTOMERS", "3000"))
params = load_params(None, ["tuning.n_trials=0"])
tables, _ = generate(N, seed=42)
ds = dataset_from_frames(tables, params)
as_of = date(2025, 12, 31)
training = build_training_set(ds, params, as_of)
spec, _ = feature_spec(context_for(ds, params, as_of))
result = train_models(training, spec, params)
result.churn_table.round(4)

# %%
result.loyalty_table.round(4)

# %%
result.calibration_scores

# %%
result.bundle.churn.feature_importance().head(15)

# %%
import numpy as np  # noqa: E402

valid = result.validation
deciles = valid.assign(decile=np.ceil(valid["model"].rank(pct=True) * 10)).groupby("decile")
deciles.agg(predicted=("model", "mean"), observed=("churned", "mean")).round(3)
