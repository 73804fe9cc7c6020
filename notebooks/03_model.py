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
# # 3. The model: calibration, gains, drivers and value
#
# Trains a churn model and a value model with the function behind `churn train`
# (`pipeline.training.run.train`), or takes your registered model, scores every customer with the function
# behind `churn score` (`pipeline.scoring.run.score`), and shows what a data scientist checks before a list
# goes to the retention team: are the probabilities right (calibration), does the ranking find churners
# better than simple rules (gains and lift), what the predictions rest on (drivers), and where the money is
# (value).
#
# Settings, as in notebooks 1 and 2 (`CHURN_DATA`, `CHURN_PARAMS`, `CHURN_AS_OF`,
# `CHURN_NOTEBOOK_CUSTOMERS`), and one more:
#
# | Variable | Meaning | Default |
# |---|---|---|
# | `CHURN_MODEL` | a model URI (`models:/churn-model@champion`, `models:/churn-model/3`) or a bundle folder | train one here |
# | `MLFLOW_TRACKING_URI` | the MLflow store `CHURN_MODEL` is in | the repository's `mlflow.db` (where `make demo` puts it) |
#
# Without `CHURN_MODEL` the model is trained here, quickly (`QUICK` below: no tuning, 100 boosting rounds,
# no refit of the value model), into an MLflow store in the temporary working folder, so running the
# notebook never touches your store. These settings make a weaker model than `churn train` does. For the
# real figures, train with the full settings of `params.yaml` (`churn train --data DATA --as-of DATE`) and
# pass the model in `CHURN_MODEL`, or empty `QUICK`.

# %%
import os
import tempfile
from datetime import date, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import pipeline
from features.registry import family_label
from models.baselines import churn_baselines, value_baselines
from models.metrics import churn_metrics, ranking_metrics, value_metrics
from pipeline.build import run as build
from pipeline.build.extensions import params_folder, prepare_features
from pipeline.build.features import build_features
from pipeline.core.runlog import RunLog
from pipeline.data.samples import write_sample
from pipeline.outputs.labels import band_label, feature_label, tier_label
from pipeline.scoring import run as scoring
from pipeline.training import run as training
from pipeline.training import tracking

ROOT = Path(pipeline.__file__).resolve().parents[1]
PARAMS = Path(os.environ.get("CHURN_PARAMS") or ROOT / "params.yaml").resolve()
PARAMS = PARAMS if PARAMS.exists() else None  # None: the built-in defaults (the values params.yaml holds)
OVERRIDES: list[str] = []  # any --set of the command line, e.g. ["label.horizon_days=60"]
QUICK = ["tuning.n_trials=0", "model.max_rounds=100", "loyalty.max_rounds=100", "loyalty.refit_on_all_cutoffs=false"]
MODEL = os.environ.get("CHURN_MODEL")
WORK = Path(tempfile.mkdtemp(prefix="churn-notebook-"))

if os.environ.get("CHURN_DATA"):
    DATA = Path(os.environ["CHURN_DATA"]).expanduser().resolve()
    AS_OF = os.environ.get("CHURN_AS_OF")
else:
    DATA = WORK / "data"
    write_sample(DATA, int(os.environ.get("CHURN_NOTEBOOK_CUSTOMERS", "3000")), seed=42)
    AS_OF = os.environ.get("CHURN_AS_OF", "2025-12-31")

if MODEL:  # your store: MLFLOW_TRACKING_URI, or the repository's mlflow.db; a relative path made absolute first
    store = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{ROOT / 'mlflow.db'}"
    if store.startswith("sqlite:///") and not store.startswith("sqlite:////"):
        store = f"sqlite:///{Path(store.removeprefix('sqlite:///')).resolve()}"
    os.environ["MLFLOW_TRACKING_URI"] = store
    if Path(MODEL).expanduser().exists():  # a saved bundle folder
        MODEL = str(Path(MODEL).expanduser().resolve())
else:  # a store of the notebook's own
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{WORK / 'mlflow.db'}"

os.chdir(WORK)  # MLflow's artifacts and any quarantined rows land in the working folder
log = RunLog()
cfg = build.load(PARAMS, OVERRIDES)
prepare_features(cfg, params_folder(PARAMS))
ds = build.open_data(DATA, cfg, log)
AS_OF = date.fromisoformat(AS_OF) if AS_OF else ds.date_range()[1]
print(f"params: {PARAMS or 'built-in defaults'}\ndata: {DATA}\nas of: {AS_OF}\nworking folder: {WORK}\n"
      f"MLflow store: {os.environ['MLFLOW_TRACKING_URI']}")

# %% [markdown]
# ## Train, or take your model
#
# Training builds features on rolling snapshots (`snapshots.count` cutoffs, `snapshots.step_days` apart),
# fits on the earlier ones and holds out the latest labelled cutoff, one horizon before the as-of date, for
# validation: the model has not seen those outcomes, so the charts below are an honest preview. The run is
# logged to MLflow and registered (champion or challenger). With your model, the same check is made by
# scoring that cutoff again and comparing with what happened; a warning says so if the model was trained on
# those outcomes, and then the figures flatter it. The table compares the model with three rules of thumb:
# `recency` (days since the last purchase), `rfm` (recency, frequency and spend quintiles) and `btyd` (a
# buy-till-you-die purchase model's expected purchases).

# %%
if MODEL is None:
    made = training.train(PARAMS, DATA, AS_OF, overrides=OVERRIDES + QUICK, log=log)
    MODEL = f"models:/{cfg.registry.model_name}/{made.logged.version}"
    validation = made.result.validation
    print(f"{made.logged.message} ({made.seconds:.0f} s)\nmodel: {MODEL}")
else:
    tracking.configure()
    bundle = tracking.load_model(MODEL).bundle
    horizon = bundle.horizon_days
    cutoff = AS_OF - timedelta(days=horizon)
    model_cfg = build.params_for_model(PARAMS, OVERRIDES, bundle.metadata, log, cutoff)
    labelled = build_features(build.open_data(DATA, model_cfg, log), model_cfg, cutoff, with_labels=True,
                              choices=bundle.metadata.get("data_choices") or None)
    back = scoring.score(PARAMS, DATA, cutoff, out=WORK / "check" / f"risk_asof={cutoff}.parquet", model=MODEL,
                         overrides=OVERRIDES, no_previous=True, allow_stale=True, log=log)
    validation = labelled[["customer_id", "churned", "future_value"]].copy()
    for name, score in churn_baselines(labelled, horizon).items():
        validation[f"baseline_{name}"] = score
    for name, score in value_baselines(labelled, horizon).items():
        validation[f"value_baseline_{name}"] = score
    scored = back.risk_list.set_index("customer_id")
    for column, source in (("model", "churn_probability"), ("expected_value", "expected_value")):
        validation[column] = validation["customer_id"].map(scored[source])
    validation = validation.dropna(subset=["model"]).reset_index(drop=True)
    print(f"model: {MODEL}, checked on {len(validation):,} customers as of {cutoff}")
for message in log.warnings:
    print("warning:", message)

y = validation["churned"].to_numpy(int)
baselines = {c.removeprefix("baseline_"): validation[c].to_numpy(float)
             for c in validation.columns if c.startswith("baseline_")}
table = pd.DataFrame({"model": churn_metrics(y, validation["model"]),
                      **{name: ranking_metrics(y, score) for name, score in baselines.items()}}).T
table.round(3)

# %% [markdown]
# ## Calibration: are the probabilities right?
#
# Customers of the validation cutoff are split into ten equal groups by predicted probability; each point is
# a group's average prediction against the share of it that actually churned. On the dotted diagonal the
# probabilities can be read as they are: of customers given 30%, three in ten leave. Points below it mean
# the model over-predicts, above it under-predicts. This matters wherever probabilities are multiplied, as
# in value at risk. Look also at the histogram: a good model pushes stayers to the left and churners to the
# right; a big middle hump means many customers it cannot tell apart. `ece` in the table above is the same
# gap averaged over ten equal-width probability bins, weighted by customers.

# %%
groups = pd.qcut(validation["model"].rank(method="first"), 10, labels=range(1, 11))
calibration = validation.groupby(groups, observed=True).agg(
    predicted=("model", "mean"), observed=("churned", "mean"), customers=("churned", "size"))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
ax1.plot([0, 1], [0, 1], "k:", lw=1, label="perfect calibration")
ax1.plot(calibration["predicted"], calibration["observed"], "C0o-", label="model, by tenth of customers")
for tenth, row in calibration.iterrows():
    ax1.annotate(str(tenth), (row["predicted"], row["observed"]), textcoords="offset points", xytext=(5, -10), fontsize=7)
ax1.set(title="Predicted against observed churn", xlabel="mean predicted churn probability", ylabel="observed churn rate",
        xlim=(0, 1), ylim=(0, 1))
ax1.legend(loc="upper left")
bins = np.linspace(0, 1, 21)
ax2.hist(validation.loc[y == 0, "model"], bins=bins, alpha=0.6, color="C0", label=f"stayed ({(y == 0).sum():,})")
ax2.hist(validation.loc[y == 1, "model"], bins=bins, alpha=0.6, color="C3", label=f"churned ({(y == 1).sum():,})")
ax2.set(title="Predicted probability by what happened", xlabel="predicted churn probability", ylabel="customers")
ax2.legend()
plt.show()
calibration.round(3).T

# %% [markdown]
# ## Gains and lift: does the ranking find the churners?
#
# Left, cumulative gains: contact customers from the highest risk down; the curve is the share of all
# churners reached for each share of customers contacted. The dotted diagonal is a random list, the grey
# line a perfect one. Right, lift: the churn rate of each tenth of the model's ranking, as a multiple of
# the average. Read the left chart at your team's capacity (say 20% of the base) and compare the model with
# the rules of thumb there: if a rule such as recency is as good, the model adds little for this data. A
# lift that falls steadily from the first tenth to the last is what a useful ranking looks like.

# %%
scores = {"model": validation["model"].to_numpy(float), **baselines}
shares = np.arange(1, len(y) + 1) / len(y)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
for name, score in scores.items():
    order = np.argsort(-score, kind="stable")
    ax1.plot(shares, np.cumsum(y[order]) / y.sum(), lw=2.5 if name == "model" else 1.2, label=name)
ax1.plot([0, 1], [0, 1], "k:", lw=1, label="random")
ax1.plot(shares, np.minimum(shares / y.mean(), 1), color="gray", lw=1, label="perfect")
ax1.set(title="Cumulative gains", xlabel="share of customers contacted, highest risk first",
        ylabel="share of churners reached")
ax1.xaxis.set_major_formatter("{x:.0%}")
ax1.yaxis.set_major_formatter("{x:.0%}")
ax1.legend(loc="lower right")
lift = validation.groupby(groups, observed=True)["churned"].mean().iloc[::-1] / y.mean()
ax2.bar([f"{11 - int(t)}" for t in lift.index], lift, color="C0")
ax2.axhline(1, color="k", lw=0.8)
ax2.set(title="Lift by tenth of the ranking", xlabel="tenth of customers (1 = highest predicted risk)",
        ylabel="churn rate / average churn rate")
plt.show()

# %% [markdown]
# ## Score today's customers
#
# Every customer in the population at the as-of date, scored as `churn score` does: the risk list (one row
# per customer with probability, risk band, loyalty tier, value columns, three drivers with their reasons,
# an action and a contact group) with its SHAP values, summary, run record and manifest, written together
# to the working folder. The charts below read this run's result.

# %%
run = scoring.score(PARAMS, DATA, AS_OF, out=WORK / "outputs" / f"risk_asof={AS_OF}.parquet", model=MODEL,
                    overrides=OVERRIDES, no_previous=True, log=log)
risk = run.risk_list
print(f"{len(risk):,} customers scored -> {run.path}")
print("risk bands:", ", ".join(f"{band_label(b)} {n:,}" for b, n in run.summary["bands"].items()))
risk.head(3).T

# %% [markdown]
# ## Drivers: what the predictions rest on
#
# Left, each feature family's average effect on a customer's churn probability (the mean size of its SHAP
# values, in percentage points), with the number of customers whose first driver is in that family. Right,
# the single features with the largest average effect. These are associations the model has learned, not
# causes: a family high on the left is where the model looks, and where reasons on the call list will come
# from. What to look for: one feature far ahead of all others (a leak of the outcome, or a data artefact);
# drivers no team can act on (context such as tenure is kept out of reasons for that reason); and families
# you expected but that do not appear (their data may be missing or mis-mapped; see notebook 2).

# %%
families = run.result.global_families.sort_values("mean_abs_effect_pp")
top_features = run.result.global_features.head(15).iloc[::-1]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 6), layout="constrained")
ax1.barh([family_label(f) for f in families["family"]], families["mean_abs_effect_pp"] * 100, color="C0")
for i, n in enumerate(families["customers_leading"]):
    ax1.text(families["mean_abs_effect_pp"].iloc[i] * 100, i, f"  {n:,}", va="center", fontsize=8, color="dimgray")
ax1.set(title="Families: mean effect (customers led, in grey)", xlabel="mean |effect| on churn probability, points")
ax2.barh([feature_label(f) for f in top_features["feature"]], top_features["mean_abs_effect_pp"] * 100, color="C1")
ax2.set(title="The 15 features with the largest mean effect", xlabel="mean |effect| on churn probability, points")
plt.show()
risk[["driver_1_reason", "driver_2_reason", "driver_3_reason"]].head(5)

# %% [markdown]
# ## Value: does the model find the valuable customers?
#
# The value model predicts what a customer would spend in the horizon if they stay (`value_if_retained`);
# times the chance they stay it is `expected_value`, times the chance they leave it is `value_at_risk`, and
# `lifetime_value` extends it over `value.lifetime_months`, discounted. Left, on the validation cutoff:
# customers ranked by expected value, and the share of all the spend of the horizon that the top of each
# ranking held, against the rules of thumb (`rfm` score, `btyd` expected purchases times average order).
# Right, how today's values spread (log scale): expect a long tail, where a few customers carry much of the
# value. Lifetime value already weighs the chance of leaving, so likely churners form a low hump at the
# left. A value ranking no better than `rfm` means the value columns add little beyond spend so far.

# %%
rankings = {"model (expected value)": validation["expected_value"].to_numpy(float),
            **{c.removeprefix("value_baseline_"): validation[c].to_numpy(float)
               for c in validation.columns if c.startswith("value_baseline_")}}
spend = validation["future_value"].to_numpy(float)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
for name, score in rankings.items():
    order = np.argsort(-score, kind="stable")
    ax1.plot(shares, np.cumsum(spend[order]) / max(spend.sum(), 1e-9), lw=2.5 if name.startswith("model") else 1.2,
             label=f"{name} (top 20%: {value_metrics(spend, score)['top20_revenue_capture']:.0%})")
ax1.plot([0, 1], [0, 1], "k:", lw=1, label="random")
ax1.set(title="Share of next-horizon spend in the top of each ranking", xlabel="share of customers, highest value first",
        ylabel="share of spend")
ax1.xaxis.set_major_formatter("{x:.0%}")
ax1.yaxis.set_major_formatter("{x:.0%}")
ax1.legend(loc="lower right", fontsize=8)
for column, colour in (("value_if_retained", "C2"), ("lifetime_value", "C4")):
    values = risk[column][risk[column] > 0]
    ax2.hist(values, bins=np.logspace(np.log10(values.min()), np.log10(values.max()), 40), alpha=0.55, color=colour,
             label=column)
ax2.set(xscale="log", title="Today's customers: value if retained and lifetime value", xlabel="amount (log scale)",
        ylabel="customers")
ax2.legend()
plt.show()

# %% [markdown]
# ## Where the value at risk is
#
# Today's value at risk, the spend the horizon loses if customers at risk leave, by risk band (left) and by
# loyalty tier (right, from the health figures `churn score` stores in its summary). The two views answer
# different questions. Bands say how likely a loss is, tiers how much a customer is worth: the customers to
# fight for are those with high value at risk, often not the highest risk band (many high-risk customers
# are worth little). If most of the value at risk sits in a band or tier the contact rules leave out,
# revisit `scoring.risk_bands` and the targeting settings before sending the list.

# %%
by_band = risk.groupby("risk_band", observed=True).agg(customers=("customer_id", "size"),
                                                       value_at_risk=("value_at_risk", "sum"))
by_band = by_band.reindex([b for b in run.summary["bands"] if b in by_band.index])
tiers = pd.DataFrame(run.summary["health"]["tiers"])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
ax1.bar([band_label(b) for b in by_band.index], by_band["value_at_risk"], color="C3")
for i, n in enumerate(by_band["customers"]):
    ax1.text(i, by_band["value_at_risk"].iloc[i], f"{n:,} customers", ha="center", va="bottom", fontsize=8)
ax1.set(title="Value at risk by risk band", ylabel="value at risk")
if not tiers.empty:
    names = [tier_label(t) for t in tiers["tier"]]
    ax2.bar(names, tiers["total_expected_value"], color="C2", label="expected value")
    ax2.bar(names, tiers["total_value_at_risk"], bottom=tiers["total_expected_value"], color="C3", label="value at risk")
    ax2.set(title="Value if retained by loyalty tier: kept and at risk", ylabel="amount")
    ax2.legend()
plt.show()
print(f"value at risk: {run.summary['value_at_risk']:,.0f} of {run.summary['value_if_retained']:,.0f} "
      f"value if retained ({run.summary['value_at_risk'] / run.summary['value_if_retained']:.0%})")

# %% [markdown]
# ## Drift since training
#
# The population stability index (PSI) of each feature between the model's validation cutoff and today.
# Under 0.1 is stable; above `scoring.drift_psi_threshold` (0.2 by default) a feature is flagged: the model is scoring
# customers unlike those it learned from, and its probabilities may be off. Features that grow with time by
# construction (tenure, days since signup) drift as the base ages and are marked apart. Many flagged
# features, or one strong driver flagged, are the signal to retrain.

# %%
drift = run.result.drift.sort_values("psi", ascending=False).head(10)
drift.assign(feature=drift["feature"].map(feature_label)).round(3)

# %% [markdown]
# ## Next
#
# The same run from the command line: `churn train --data DATA --as-of DATE`, then
# `churn score --data DATA --as-of DATE` and `churn report` for the HTML report and Excel file the
# retention team reads. Once the horizon has passed, `churn outcomes` measures what happened to the list and
# whether the actions kept customers; `churn evaluate` backtests the model over several cutoffs.
