"""The bodies of ``churn train`` and ``churn evaluate``: open the data, build the training set, tune and fit,
log to MLflow and register, or backtest over several cutoffs. Callable from Python; what they say goes through a
``RunLog`` and what they make comes back as a result."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.build.extensions import module_records, params_folder
from pipeline.build.features import (
    build_features,
    build_training_set,
    context_for,
    data_choices,
    feature_spec,
    snapshot_cutoffs,
)
from pipeline.build.problem import PROBLEM_SECTIONS
from pipeline.build.run import check_as_of, params_for_model, start
from pipeline.core import runrecord
from pipeline.core.files import write_bytes
from pipeline.core.runlog import RunLog
from pipeline.outputs.labels import BEHIND_BASELINE
from pipeline.outputs.report import plots
from pipeline.training import gate, tracking
from pipeline.training.evaluate import IN_PERIOD, backtest
from pipeline.training.train import TrainResult, study_name, study_storage, train_models, validation_rows


@dataclass
class TrainRun:
    """What ``train`` made: the training result, what MLflow and the registry did, and where."""

    result: TrainResult
    logged: tracking.LoggedModel
    tracking_uri: str
    seconds: float


def train(params: str | Path | None, data: str | Path, as_of: str | date, promote: bool = False,
          allow_stale: bool = False, overrides: list[str] | tuple[str, ...] = (), log: RunLog | None = None) -> TrainRun:
    """``churn train``: train, tune and evaluate on data up to ``as_of``; log to MLflow and register the version
    (champion/challenger; ``promote`` makes it champion whatever its score)."""
    log = log or RunLog()
    started, started_ms = time.perf_counter(), int(time.time() * 1000)
    uri = tracking.configure()
    cfg, day, ds = start(params, data, as_of, overrides, log)
    tracking.check_stores(cfg)
    for run_id in tracking.mark_interrupted_runs():
        log.warn(f"MLflow run {run_id} was left running by a training run that was killed; marked failed", code="interrupted_run")
    check_as_of(ds, day, log, training=True, max_age_days=cfg.snapshots.max_data_age_days,
                setting="snapshots.max_data_age_days", allow_stale=allow_stale)
    with log.steps() as add:
        cutoffs = snapshot_cutoffs(cfg, day, ds.date_range()[0])
        snapshot = add("building snapshots", len(cutoffs))
        with runrecord.current().phase("snapshots"):
            training = build_training_set(ds, cfg, day, progress=lambda c: snapshot(1, f"snapshot {c}"))
        choices = data_choices(ds, cfg, day)
        spec, _ = feature_spec(context_for(ds, cfg, day, choices))
        fingerprint = ds.fingerprint()
        trial_done = add("tuning (Optuna)", cfg.tuning.n_trials)

        def on_trial(study, trial):
            best = study.best_value if any(t.value is not None for t in study.trials) else float("nan")
            trial_done(1, f"tuning: trial {trial.number} best AUC {best:.4f}")

        result = train_models(training, spec, cfg, study_name=study_name(fingerprint["hash"], day, cfg, spec),
                              storage=study_storage(cfg), on_trial=on_trial, data_choices=choices)
    # which feature modules the model was built with, by name and content hash: never a path to load
    result.bundle.metadata["extra_modules"] = module_records(cfg.features.extra_modules, params_folder(params))
    runrecord.current().timings.update({k.removesuffix("_s"): round(v, 3) for k, v in result.timings.items()})
    behind = gate.behind_baselines(result.baseline_margin, cfg.registry)
    if behind:
        log.alarm(f"{behind}; " + ("promoted all the same (--promote)" if promote else
                                    "it will not be promoted (--promote overrides)"), BEHIND_BASELINE,
                  code="behind_baseline")
    valid_rows = validation_rows(training)
    with runrecord.current().phase("charts"):
        charts = training_plots(result)
        # the churn model's TreeSHAP timed on the summary's own rows: the cost scoring pays per customer explained
        charts["shap_summary"], rate = shap_summary(result, valid_rows, seed=cfg.seed)
    result.bundle.metadata["explanation_cost"]["rows_per_s"] = rate
    with log.status("logging to MLflow and registering..."), runrecord.current().phase("mlflow"):
        logged = tracking.log_training(result, cfg, fingerprint, valid_rows, charts, str(day), started_ms)
        runrecord.current().mlflow_run_id = logged.run_id
        logged = tracking.register_and_gate(logged, result, cfg, valid_rows, promote,
                                            champion_features(params, overrides, ds, valid_rows))
        tracking.finish_run(logged.run_id)  # its end: after the registration, not when the logging stopped
    runrecord.current().model = {"uri": f"models:/{cfg.registry.model_name}/{logged.version}", "version": logged.version,
                                 "run_id": logged.run_id, "decision": logged.decision,
                                 "explanation_cost": result.bundle.metadata["explanation_cost"],
                                 "baseline": {**result.baseline_margin, "verdict": tracking.baseline_tags(
                                     result.baseline_margin, behind)["baseline_verdict"]}}
    return TrainRun(result, logged, uri, time.perf_counter() - started)


def champion_features(params: str | Path | None, overrides: list[str] | tuple[str, ...], ds,
                      rows: pd.DataFrame) -> Callable[[object], pd.DataFrame]:
    """The registry gate's builder of a champion's own features: its stored problem (families, windows, exclusions,
    label) over params.yaml and the ``--set`` options outside the problem (a challenger's ``--set
    features.exclude=...`` is not the champion's), its data choices (event types), at each cutoff of ``rows``, with
    ``customer_id`` and ``cutoff`` to match them to the challenger's validation rows. A champion built for other
    features is compared on those, not on the challenger's table; one whose modules or columns are missing fails,
    and the gate says so."""

    def build(bundle) -> pd.DataFrame:
        kept = [o for o in overrides or () if o.split("=", 1)[0].split(".", 1)[0].strip() not in PROBLEM_SECTIONS]
        cfg = params_for_model(params, kept, bundle.metadata, RunLog(), use="the registry gate scores the champion")
        choices = bundle.metadata.get("data_choices") or None
        frames = [build_features(ds, cfg, cutoff.date(), choices=choices).assign(cutoff=cutoff)
                  for cutoff in sorted(pd.to_datetime(rows["cutoff"]).unique())]
        return pd.concat(frames, ignore_index=True)

    return build


@dataclass
class EvaluateRun:
    """``evaluate``'s backtest table (a row per test cutoff and scorer) and where its files went."""

    table: pd.DataFrame
    out_dir: Path
    run_id: str | None = None  # the MLflow run it was logged as


def evaluate(params: str | Path | None, data: str | Path, as_of: str | date, cutoffs: int | None = None,
             out_dir: str | Path = Path("outputs/backtest"), in_period_folds: int = 0,
             overrides: list[str] | tuple[str, ...] = (), log: RunLog | None = None) -> EvaluateRun:
    """``churn evaluate``: backtest over ``cutoffs`` test cutoffs (default ``evaluation.backtest_cutoffs``): train on
    data before each, test on the cutoff after, beside the baselines; ``backtest.csv`` and charts in ``out_dir``.
    ``in_period_folds`` > 0 also scores each test cutoff by K-fold models fitted on its own labels (a reference for
    how much the features allow, not a forecast)."""
    log = log or RunLog()
    out_dir = Path(out_dir)
    started_ms = int(time.time() * 1000)
    tracking.configure()
    cfg, day, ds = start(params, data, as_of, overrides, log)
    tracking.check_stores(cfg, tuning=False)  # before the backtest: a store found wanting after it loses the run
    check_as_of(ds, day, log, training=True)
    with log.status("backtesting...") as update:
        table = backtest(ds, cfg, day, cutoffs or cfg.evaluation.backtest_cutoffs, progress=update,
                         in_period_folds=in_period_folds)
    write_bytes(table.to_csv(index=False).encode(), out_dir / "backtest.csv")
    charts = {f"backtest_{metric}": plots.backtest_plot(table, metric, reference=IN_PERIOD)
              for metric in ("roc_auc", "pr_auc", "lift_at_10")}
    for name, png in charts.items():
        write_bytes(png, out_dir / f"{name}.png")
    with log.status("logging to MLflow..."):
        run_id = tracking.log_evaluation(table, cfg, ds.fingerprint(), charts, str(day), started_ms)
    runrecord.current().mlflow_run_id = run_id
    return EvaluateRun(table, out_dir, run_id)


def training_plots(result: TrainResult) -> dict[str, bytes]:
    """ROC, calibration, lift, loyalty capture, feature importance and SHAP summary of a training run."""
    v = result.validation
    y = v["churned"].to_numpy()
    scores = {"model": v["model"].to_numpy(), **{c.removeprefix("baseline_"): v[c].to_numpy()
                                                 for c in v.columns if c.startswith("baseline_")}}
    rankings = {"loyalty_model": v["expected_value"].to_numpy(),
                **{c.removeprefix("value_baseline_"): v[c].to_numpy() for c in v.columns if c.startswith("value_baseline_")}}
    out = {
        "roc": plots.roc_plot(y, scores),
        "calibration": plots.calibration_plot(y, v["model_out_of_fold"].to_numpy()),
        "lift": plots.lift_plot(y, scores),
        "loyalty_capture": plots.value_capture_plot(v["future_value"].to_numpy(), rankings),
        "feature_importance": plots.importance_plot(result.bundle.churn.feature_importance()),
    }
    return out


def shap_summary(result: TrainResult, features: pd.DataFrame, max_rows: int = 2000, seed: int = 0) -> tuple[bytes, float | None]:
    """The SHAP summary (beeswarm) of the churn model on up to ``max_rows`` of ``features``, and the customers per
    second its exact TreeSHAP explained them at (:func:`explanation_rate`): one TreeSHAP pass serves both (a second
    pass over 5,000 rows only to time it cost 7 s of a 100,000-customer training run)."""
    X, contrib, rate = _timed_contributions(result, features, max_rows, seed)
    return plots.beeswarm_plot(contrib[:, :-1], X, "SHAP summary (churn, log-odds)"), rate


def explanation_rate(result: TrainResult, features: pd.DataFrame, rows: int = 5000, seed: int = 0) -> float | None:
    """Customers per second the churn model's exact TreeSHAP explains, on up to ``rows`` of ``features`` (None
    without rows): what a scoring run pays per customer, on this machine."""
    return _timed_contributions(result, features, rows, seed)[2]


def _timed_contributions(result: TrainResult, features: pd.DataFrame, rows: int,
                         seed: int) -> tuple[pd.DataFrame, np.ndarray, float | None]:
    """A seeded sample of up to ``rows`` of ``features`` as the model's inputs, the churn model's TreeSHAP contributions
    of it, and the rows per second they took (None without rows)."""
    sample = features.sample(n=min(rows, len(features)), random_state=seed) if len(features) else features
    X = result.bundle.check_features(sample)
    result.bundle.churn.tree_tables()  # worked out once per model: not a cost per customer
    t0 = time.perf_counter()
    contrib = result.bundle.churn.contributions(X)
    rate = round(len(X) / max(time.perf_counter() - t0, 1e-9), 1) if len(X) else None
    return X, contrib, rate
