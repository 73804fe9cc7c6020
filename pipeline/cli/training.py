"""Training commands: ``churn train`` and ``churn evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import (
    AsOfOpt,
    ConsoleLog,
    DataOpt,
    EngineOpt,
    ParamsOpt,
    SetOpt,
    app,
    check_paths,
    handle_errors,
    out,
    with_engine,
)
from pipeline.core.files import check_separate


@app.command()
@handle_errors
def train(
    data: DataOpt,
    as_of: AsOfOpt,
    promote: Annotated[bool, typer.Option(
        "--promote/--no-promote", help="Make this version champion whatever its score (also --promote true/false).")]
    = False,
    allow_stale: Annotated[bool, typer.Option(
        "--allow-stale", help="Train even when the data ends more than snapshots.max_data_age_days before --as-of.")] = False,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Train, tune and evaluate on data up to --as-of; log to MLflow and register (champion/challenger)."""
    from pipeline.training import run

    check_paths({}, {"--data": data, "--params": params})
    made = run.train(params, data, as_of, promote, allow_stale, with_engine(set_, engine), ConsoleLog())
    print_train_summary(made.result, made.logged, made.tracking_uri, made.seconds)


def tuning_line(s: dict) -> str:
    """The run summary's line on tuning (``train.tune``'s summary), saying which trials ran in this run."""
    resumed = s["resumed_trials"]
    if resumed >= s["trials"]:  # the study of this data, date and settings had its budget already
        resumed = f"; all {resumed} from an earlier run on the same data, date and settings, none run now"
    else:
        resumed = f", {resumed} resumed from an earlier run" if resumed else ""
    size = ""
    if s.get("best_leaves") is not None:  # the chosen trial's AUC before the size penalty, and its size
        size = f" ({s['best_auc']:.4f} before the size penalty; {s['best_leaves']:,.0f} leaves)"
    return (f"tuning: {s['complete']} complete / {s['trials']} trials ({s['pruned']} pruned{resumed}), "
            f"best fold-mean AUC {s['best_value']:.4f}{size}")


def explanation_line(cost: dict) -> str:
    """The run summary's line on what explaining a customer costs with the churn model (``explanation_cost``)."""
    by = {"tables": " by tables", "pred_contrib": " by LightGBM's own (the tables do not cover this model)"}
    rate = (f"; TreeSHAP {cost['rows_per_s']:,.0f} customers/s here{by.get(cost.get('explained_by'), '')}"
            if cost.get("rows_per_s") else "")
    return (f"explanation cost: {cost['trees']} trees, {cost['leaves']:,} leaves, depth up to {cost['max_depth']} "
            f"(leaves x depth^2 {cost['leaf_depth_work']:,}){rate}")


def monotone_line(decision: dict | None) -> str | None:
    """The run summary's line on ``model.monotone_baselines: auto`` where it held the model to the baselines'
    risk directions (``held_to_baselines``); None where it did not apply or was set by hand."""
    if not decision or decision.get("setting") != "auto" or not decision.get("held"):
        return None
    return (f"close to the best baseline on validation (ROC-AUC {decision['free_auc']:.4f} against "
            f"{decision['best_baseline_auc']:.4f}, less than model.close_margin {decision['close_margin']:g} ahead): "
            f"the model is held to the baselines' risk directions (monotone constraints; {decision['held_auc']:.4f} "
            "held)")


def print_train_summary(result, logged, uri: str, seconds: float) -> None:
    from pipeline.outputs.labels import band_rule_line, margin_words

    table = Table(title=f"churn model vs baselines, validation cutoff {result.validation_cutoff.date()}",
                  title_justify="left")
    cols = ["roc_auc", "pr_auc", "lift_at_10", "capture_at_20", "log_loss", "brier", "ece"]
    table.add_column("scorer")
    for c in cols:
        table.add_column(c, justify="right")
    for scorer, row in result.churn_table.iterrows():
        table.add_row(scorer, *("" if row[c] != row[c] else f"{row[c]:.4f}" for c in cols))
    out.print(table)
    lt = Table(title="loyalty value model vs baselines", title_justify="left")
    for c in ("scorer", "spearman", "top20_revenue_capture"):
        lt.add_column(c, justify="left" if c == "scorer" else "right")
    for scorer, row in result.loyalty_table.iterrows():
        lt.add_row(scorer, f"{row['spearman']:.4f}", f"{row['top20_revenue_capture']:.4f}")
    out.print(lt)
    if result.value_table is not None:
        vt = Table(title="value if retained vs BTYD x Gamma-Gamma, on the validation customers who stayed",
                   title_justify="left")
        for c in ("scorer", "customers", "spearman", "top20_revenue_capture", "total_error"):
            vt.add_column(c, justify="left" if c == "scorer" else "right")
        for scorer, row in result.value_table.iterrows():
            vt.add_row(scorer, f"{int(row['customers']):,}", f"{row['spearman']:.4f}", f"{row['top20_revenue_capture']:.4f}",
                       f"{row['total_error']:+.1%}")
        out.print(vt)
        if result.bundle.metadata.get("value_error_season_seen") is False:
            out.print("total_error is measured on a time of year the model had not learned from a year before (too "
                      "little history): the report says it is no guide to a list's totals", highlight=False)
    calib = min(result.calibration_scores, key=result.calibration_scores.get)
    margin = result.baseline_margin
    out.print(f"ROC-AUC margin over the best baseline: {margin_words(margin)}",
              style="red" if logged.behind_baseline else None, highlight=False)
    if line := monotone_line(result.bundle.metadata.get("monotone_baselines")):
        out.print(line, highlight=False)
    out.print(f"calibration: {calib} (out-of-fold log loss by method "
              f"{', '.join(f'{k} {v:.4f}' for k, v in result.calibration_scores.items())})")
    if result.cutoff_calibration is not None and len(result.cutoff_calibration):
        ct = Table(title="calibration by cutoff (out of fold): mean predicted vs observed churn", title_justify="left")
        for c in ("cutoff", "customers", "observed", "predicted", "difference"):
            ct.add_column(c, justify="left" if c == "cutoff" else "right")
        for cutoff, row in result.cutoff_calibration.iterrows():
            ct.add_row(str(cutoff.date()), f"{int(row['customers']):,}", f"{row['observed_churn_rate']:.1%}",
                       f"{row['mean_predicted']:.1%}", f"{row['difference'] * 100:+.1f} pts")
        out.print(ct)
    meta = result.bundle.metadata
    if meta.get("risk_band_thresholds"):  # stored with the model (scoring.risk_bands_by)
        thresholds = meta["risk_band_thresholds"]
        rule = {"by": "probability", "bands": thresholds, "thresholds": thresholds,
                "base_rate": meta["validation_base_rate"]}
        out.print(band_rule_line(rule, "when scored"), highlight=False)
    if result.study_summary:
        out.print(tuning_line(result.study_summary))
    if meta.get("explanation_cost"):
        out.print(explanation_line(meta["explanation_cost"]), highlight=False)
    out.print(f"trained on {result.n_train_rows:,} rows from cutoffs {', '.join(str(c.date()) for c in result.train_cutoffs)}")
    out.print(f"registry: {logged.message}")
    out.print(f"MLflow run {logged.run_id} in {uri} (browse with: mlflow ui --backend-store-uri {uri})")
    steps = ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:.1f} s" for k, v in result.timings.items())
    out.print(f"training time: {seconds:.1f} s ({steps})")


@app.command()
@handle_errors
def evaluate(
    data: DataOpt,
    as_of: AsOfOpt,
    cutoffs: Annotated[int | None, typer.Option("--cutoffs", help="Number of backtest cutoffs.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for backtest.csv and plots.")] = Path("outputs/backtest"),
    in_period_folds: Annotated[int, typer.Option(
        "--in-period-folds", help="Also score each test cutoff by K-fold models fitted on its own labels "
        "(in_period_cv): a reference for how much the features allow, not a forecast. 0 = off.")] = 0,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Backtest over several cutoffs: train on data before each, test on the cutoff after, beside baselines."""
    import pandas as pd

    from pipeline.training import run
    from pipeline.training.evaluate import IN_PERIOD

    check_paths({}, {"--data": data, "--params": params})
    check_separate({"--out": out_dir}, {"--data": data, "--params": params})
    made = run.evaluate(params, data, as_of, cutoffs, out_dir, in_period_folds, with_engine(set_, engine), ConsoleLog())
    table = made.table
    # scorers in the backtest's order: the model, its baselines, then the in-period reference if asked for
    wide = table.pivot(index="cutoff", columns="scorer", values="roc_auc")[table["scorer"].unique()]
    baselines = wide.columns.drop(["model", IN_PERIOD], errors="ignore")
    t = Table(title="backtest ROC-AUC by test cutoff (train on data before it)", title_justify="left")
    t.add_column("cutoff")
    for c in wide.columns:
        t.add_column(c, justify="right")
    t.add_column("model - best baseline", justify="right")
    t.add_column("90% interval", justify="right")
    margins = table[table["scorer"] == "model"].set_index("cutoff")
    for cutoff, row in wide.iterrows():
        m = margins.loc[cutoff]
        interval = "" if pd.isna(m["margin_low"]) else f"{m['margin_low']:+.4f} to {m['margin_high']:+.4f}"
        colour = "red" if m["margin_over_best_baseline"] <= 0 else ""
        t.add_row(str(cutoff), *(f"{row[c]:.4f}" for c in wide.columns), f"{row['model'] - row[baselines].max():+.4f}",
                  interval, style=colour or None)
    out.print(t)
    if "mean_predicted" in margins.columns:
        out.print("calibration in the large, model: " + "; ".join(
            f"{cutoff} predicted {m['mean_predicted']:.1%} vs observed {m['churn_rate']:.1%}"
            for cutoff, m in margins.iterrows()))
    out.print(f"wrote {out_dir / 'backtest.csv'} and plots to {out_dir}")
    if made.run_id:
        import mlflow

        out.print(f"MLflow run {made.run_id} in {mlflow.get_tracking_uri()}", highlight=False)
