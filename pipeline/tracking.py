"""MLflow: tracking, the pyfunc model from code, and the champion/challenger registry gate.

Nothing here runs at import. The tracking URI is ``MLFLOW_TRACKING_URI`` or a local SQLite store in
the working directory (``sqlite:///mlflow.db``), set when a command starts.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models.metrics import ranking_metrics
from pipeline.config import Params
from pipeline.errors import ModelError, StoreError, said
from pipeline.train import TrainResult, study_storage

DEFAULT_URI = "sqlite:///mlflow.db"
PYFUNC_CODE = Path(__file__).resolve().parent.parent / "models" / "mlflow_pyfunc.py"


def configure() -> str:
    """Point MLflow at the configured store (call from the CLI, never at import)."""
    import warnings

    import mlflow

    warnings.filterwarnings("ignore", message=".*type hints.*")
    import logging

    warnings.filterwarnings("ignore", category=FutureWarning, module="mlflow")
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # keep the command's own summary readable
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI)
    mlflow.set_tracking_uri(uri)
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    return uri


def check_stores(params: Params, tuning: bool = True) -> None:
    """Open the MLflow store (and, when tuning, the Optuna study store) before any work: a damaged or
    unreachable store found only after training would throw the run away."""
    import mlflow
    from mlflow import MlflowClient

    uri = mlflow.get_tracking_uri()
    try:
        with _quiet():
            MlflowClient().search_experiments(max_results=1)
    except Exception as exc:
        raise StoreError(f"MLflow tracking store {uri} cannot be opened ({said(exc)}). Fix: point "
                         "MLFLOW_TRACKING_URI at a working store, or move the damaged file aside (a new, empty "
                         "store is then created)") from None
    if tuning and params.tuning.n_trials > 0:
        import optuna

        try:
            optuna.storages.RDBStorage(study_storage(params))
        except Exception as exc:
            raise StoreError(f"Optuna study store {params.tuning.storage} (tuning.storage) cannot be opened "
                             f"({said(exc)}). Fix: point tuning.storage at another file, or move the "
                             "damaged one aside (earlier studies in it cannot be resumed)") from None


def load_bundle(uri: str):
    """The model bundle and a version label, from a local bundle folder or an MLflow model URI."""
    from pathlib import Path as _Path

    from models.bundle import ModelBundle

    local = _Path(uri)
    if (local / "bundle.json").exists():
        return ModelBundle.load(local), f"local:{local.name}"
    import mlflow
    from mlflow import MlflowClient

    label = uri
    if uri.startswith("models:/") and "@" in uri:
        name, alias = uri.removeprefix("models:/").split("@", 1)
        try:
            version = MlflowClient().get_model_version_by_alias(name, alias).version
        except Exception:
            raise ModelError(
                f"no model is registered as {name}@{alias} in {mlflow.get_tracking_uri()}. Run `churn train` first, "
                "or pass --model with a model URI or a saved bundle folder.") from None
        label = f"{name} v{version} ({alias})"
    try:
        with _quiet():
            model = mlflow.pyfunc.load_model(uri)
    except Exception as exc:
        raise ModelError(f"cannot load model {uri} ({said(exc)}). Fix: pass --model a "
                         "registered model (models:/churn-model@champion), a logged one (runs:/RUN_ID/model) or a "
                         "saved bundle folder (one holding bundle.json), complete and unchanged") from None
    return model.unwrap_python_model().bundle, label


@contextlib.contextmanager
def _quiet():
    """MLflow's advice to add type hints to ``predict`` (features are validated by the bundle) is noise here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


# MLflow param names: letters, digits, underscores, dashes, periods, spaces and slashes
PARAM_NAME = re.compile(r"^[\w\-. /]+$")


def _flatten(d: dict, prefix: str = "") -> dict[str, str]:
    """Nested settings as MLflow params, one per leaf (``label.horizon_days``); a mapping whose keys are free
    text (an action's sentence in ``targeting.action_effects``) is one param holding its JSON."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and all(PARAM_NAME.match(f"{key}.{inner}") for inner in v):
            out.update(_flatten(v, f"{key}."))
        else:
            out[key] = json.dumps(v) if isinstance(v, list | tuple | dict) else str(v)
    return out


@dataclass
class LoggedModel:
    run_id: str
    model_uri: str
    version: str | None = None
    decision: str | None = None
    message: str = ""


def log_training(result: TrainResult, params: Params, fingerprint: dict, validation_features: pd.DataFrame,
                 plots: dict[str, bytes], as_of: str) -> LoggedModel:
    """Log params, data fingerprint, cutoffs, metrics beside baselines, plots, the study and the model."""
    import mlflow
    from mlflow.models import infer_signature

    mlflow.set_experiment("churn")
    with mlflow.start_run(run_name=f"train as of {as_of}") as run:
        flat = _flatten(params.to_dict())
        for i in range(0, len(flat), 90):  # MLflow caps a batch at 100 params
            mlflow.log_params(dict(list(flat.items())[i:i + 90]))
        mlflow.log_dict(fingerprint, "data_fingerprint.json")
        mlflow.set_tags({"as_of": as_of, "data_hash": fingerprint["hash"],
                         "validation_cutoff": str(result.validation_cutoff.date()),
                         "train_cutoffs": ",".join(str(c.date()) for c in result.train_cutoffs)})
        for scorer, row in result.churn_table.iterrows():
            prefix = "val" if scorer == "model" else f"baseline_{scorer}"
            mlflow.log_metrics({f"{prefix}_{k}": float(v) for k, v in row.items() if pd.notna(v)})
        for scorer, row in result.loyalty_table.iterrows():
            mlflow.log_metrics({f"loyalty_{scorer}_{k}": float(v) for k, v in row.items()})
        if result.value_table is not None:
            for scorer, row in result.value_table.iterrows():
                mlflow.log_metrics({f"value_if_retained_{scorer}_{k}": float(v) for k, v in row.items() if pd.notna(v)})
            mlflow.log_text(result.value_table.to_csv(), "value_if_retained_vs_btyd.csv")
        mlflow.log_metrics({f"calibration_brier_{k}": v for k, v in result.calibration_scores.items()})
        mlflow.log_metrics({f"time_{k}": v for k, v in result.timings.items()})
        mlflow.log_dict(result.study_summary, "optuna_study.json")
        mlflow.log_text(result.churn_table.to_csv(), "metrics_vs_baselines.csv")
        mlflow.log_text(result.loyalty_table.to_csv(), "loyalty_vs_baselines.csv")
        for name, png in plots.items():
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{name}.png"
                path.write_bytes(png)
                mlflow.log_artifact(str(path), "plots")
        with tempfile.TemporaryDirectory() as tmp:
            bundle_dir = result.bundle.save(Path(tmp) / "bundle")
            example = validation_features[result.bundle.feature_names].head(5)
            output = result.bundle.predict(example)
            with _quiet():
                info = mlflow.pyfunc.log_model(
                    name="model", python_model=str(PYFUNC_CODE), artifacts={"bundle": str(bundle_dir)},
                    signature=infer_signature(example, output), input_example=example,
                )
    return LoggedModel(run.info.run_id, info.model_uri)


def register_and_gate(logged: LoggedModel, result: TrainResult, params: Params, validation_features: pd.DataFrame,
                      promote: bool = False) -> LoggedModel:
    """Register the model; alias it ``champion`` only if it beats the current champion on the same
    validation rows by ``registry.min_improvement`` (or ``promote``), else ``challenger``."""
    import mlflow
    from mlflow import MlflowClient

    name, metric = params.registry.model_name, params.registry.metric
    client = MlflowClient()
    # MLflow prints "Created version N ..." to stderr; the decision printed below already says it
    with contextlib.redirect_stderr(io.StringIO()):
        version = mlflow.register_model(logged.model_uri, name).version
    new_score = float(result.churn_table.loc["model", metric])
    champion_score = champion_version = None
    try:
        champion = client.get_model_version_by_alias(name, "champion")
        champion_version = champion.version
    except Exception:  # no champion yet
        champion = None
    reason = ""
    if champion is not None:
        try:
            with _quiet():
                model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
            # the champion's own inputs: a column it lacks fails here and is reported as such
            inputs = validation_features[model.metadata.get_input_schema().input_names()]
            scores = model.predict(inputs)["churn_probability"].to_numpy()
            champion_score = ranking_metrics(result.validation["churned"], scores)[metric]
        except Exception as exc:  # the champion cannot score today's features (ModelError) or cannot load
            reason = f"current champion v{champion_version} cannot score this data ({said(exc, 120)})"
    if promote:
        decision, reason = "champion", "forced with --promote"
    elif champion is None:
        decision, reason = "champion", "no champion yet"
    elif champion_score is None:
        decision = "champion"
    elif new_score >= champion_score + params.registry.min_improvement:
        decision = "champion"
        reason = (f"{metric} {new_score:.4f} beats champion v{champion_version} {champion_score:.4f} "
                  f"by at least {params.registry.min_improvement}")
    else:
        decision = "challenger"
        reason = (f"{metric} {new_score:.4f} does not beat champion v{champion_version} {champion_score:.4f} "
                  f"by {params.registry.min_improvement}")
    client.set_registered_model_alias(name, decision, version)
    with mlflow.start_run(run_id=logged.run_id):
        mlflow.set_tags({"registry_version": version, "registry_decision": decision, "registry_reason": reason})
        mlflow.log_metric(f"registry_new_{metric}", new_score)
        if champion_score is not None:
            mlflow.log_metric(f"registry_champion_{metric}", champion_score)
    logged.version, logged.decision = str(version), decision
    logged.message = f"{name} v{version} -> {decision}: {reason}"
    return logged


def training_plots(result: TrainResult) -> dict[str, bytes]:
    """ROC, calibration, lift, loyalty capture, feature importance and SHAP summary of a training run."""
    from pipeline import plots

    v = result.validation
    y = v["churned"].to_numpy()
    scores = {"model": v["model"].to_numpy(), **{c.removeprefix("baseline_"): v[c].to_numpy()
                                                 for c in v.columns if c.startswith("baseline_")}}
    rankings = {"loyalty_model": v["expected_value"].to_numpy(),
                **{c.removeprefix("value_baseline_"): v[c].to_numpy() for c in v.columns if c.startswith("value_baseline_")}}
    out = {
        "roc": plots.roc_plot(y, scores),
        "calibration": plots.calibration_plot(y, v["model"].to_numpy()),
        "lift": plots.lift_plot(y, scores),
        "loyalty_capture": plots.value_capture_plot(v["future_value"].to_numpy(), rankings),
        "feature_importance": plots.importance_plot(result.bundle.churn.feature_importance()),
    }
    return out


def shap_summary_plot(result: TrainResult, features: pd.DataFrame, max_rows: int = 2000, seed: int = 0) -> bytes:
    from pipeline import plots

    sample = features.sample(n=min(max_rows, len(features)), random_state=seed) if len(features) else features
    X = result.bundle.check_features(sample)
    contrib = result.bundle.churn.contributions(X)[:, :-1]
    return plots.beeswarm_plot(contrib, X, "SHAP summary (churn, log-odds)")



