"""MLflow for ``churn outcomes``: the outcome figures logged against the registered model version that
wrote the risk list. (Beside ``pipeline.training.tracking``, which holds training's MLflow calls; nothing here runs
at import, and ``pipeline.training.tracking.configure`` is called first by the command.)

Logging is a courtesy, never a reason to fail: when the list came from a local bundle, the version is no
longer registered or the store cannot be opened, the result says that nothing was logged and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import said

EXPERIMENT = "churn"
# `churn score` labels a registry model "NAME vN (ALIAS)"; a version URI "models:/NAME/N" names one too.
VERSION_LABEL = re.compile(r"^(?P<name>.+) v(?P<version>\d+)(?: \([^()]*\))?$")
VERSION_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")


@dataclass(frozen=True)
class OutcomesLog:
    """What happened to the figures in MLflow: the run they went to (None when nothing was logged) and a
    sentence for the user."""

    run_id: str | None
    message: str


def registered_version(model_version: str | None) -> tuple[str, str] | None:
    """The registered model name and version a list's ``model_version`` names, or None (a local bundle, a
    run URI, anything else)."""
    text = str(model_version or "")
    match = VERSION_URI.match(text) or VERSION_LABEL.match(text)
    return (match["name"], match["version"]) if match else None


def log_outcomes(figures: Mapping[str, Any], metrics: Mapping[str, float], risk_list: str) -> OutcomesLog:
    """Log the outcome figures as a new run of experiment ``churn`` named ``outcomes as of DATE``, tagged with
    the model's name, version and training run, and tag the model version with that run.

    Args:
        figures: ``pipeline.outcomes.figures.outcome_figures`` (logged whole as ``outcomes.json``).
        metrics: ``pipeline.outcomes.figures.headline_metrics``.
        risk_list: the list's path, kept as a tag.

    Returns:
        The run id and a message; never raises for a store or registry problem.
    """
    import mlflow
    from mlflow import MlflowClient

    from pipeline.training.tracking import store_lock

    model_version = figures.get("model_version")
    found = registered_version(model_version)
    if found is None:
        why = ("the list was scored with a local bundle folder, which has no registry entry" if
               str(model_version).startswith("local:") else
               f"the list's model_version {model_version!r} names no registered model version")
        return OutcomesLog(None, f"nothing logged to MLflow: {why}")
    name, version = found
    uri = mlflow.get_tracking_uri()
    try:
        client = MlflowClient()
        registered = client.get_model_version(name, version)
    except Exception as exc:
        if getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":
            return OutcomesLog(None, f"nothing logged to MLflow: {name} v{version}, which wrote the list, is no longer "
                                     f"in the registry of {uri}")
        return OutcomesLog(None, f"nothing logged to MLflow: the tracking store {uri} cannot be opened ({said(exc)}). "
                                 "Fix: point MLFLOW_TRACKING_URI at the store the model was registered in")
    as_of = str(figures.get("as_of"))
    run_id = None
    try:
        with store_lock():  # as training does: two first runs on a new store must not both create the experiment
            mlflow.set_experiment(EXPERIMENT)
        with mlflow.start_run(run_name=f"outcomes as of {as_of}") as run:
            run_id = run.info.run_id
            mlflow.set_tags({"kind": "outcomes", "as_of": as_of, "horizon_end": str(figures.get("horizon_end")),
                             "model_name": name, "model_version": version,
                             "training_run_id": registered.run_id or "", "risk_list": risk_list,
                             # figures of a model that had seen these outcomes' labels: not a forecast's
                             "in_sample": str(bool(figures.get("in_sample"))).lower()})
            mlflow.log_metrics(dict(metrics))
            mlflow.log_dict(dict(figures), "outcomes.json")
        client.set_model_version_tag(name, version, f"outcomes_run_{as_of}", run_id)
    except Exception as exc:
        where = f" (run {run_id} may be incomplete)" if run_id else ""
        return OutcomesLog(run_id, f"logging to MLflow at {uri} failed{where}: {said(exc)}. The figures above are "
                                   "complete; run again to log them")
    return OutcomesLog(run_id, f"logged to MLflow run {run_id} (experiment {EXPERIMENT}) against {name} v{version} "
                               f"(training run {registered.run_id}); the version is tagged outcomes_run_{as_of}"
                               + ("; in-sample figures, tagged in_sample=true" if figures.get("in_sample") else ""))


__all__ = ["OutcomesLog", "log_outcomes", "registered_version"]
