"""The ``churn`` command line. The edge of the pipeline: reads files, prints, writes; stages stay pure."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.config import Params, load_params
from pipeline.errors import ChurnError, DataError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Churn prediction pipeline.")
console = Console(stderr=True, width=None if sys.stderr.isatty() else 130)
out = Console(width=None if sys.stdout.isatty() else 130)

ParamsOpt = Annotated[Path, typer.Option("--params", help="params.yaml to use.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a param: dotted.key=value (repeatable).")]
DataOpt = Annotated[Path, typer.Option("--data", help="Folder with transactions.csv/.parquet and optional tables.")]
AsOfOpt = Annotated[str, typer.Option("--as-of", help="Date YYYY-MM-DD; rows up to the end of this day are history.")]


def handle_errors(fn: Callable) -> Callable:
    """Turn the pipeline's own errors into a clear message and exit code, never a traceback."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ChurnError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def parse_date(text: str, option: str = "--as-of") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DataError(f"{option} {text!r} is not a date; use YYYY-MM-DD, e.g. 2025-12-31") from None


def load(params_path: Path, overrides: list[str] | None) -> Params:
    return load_params(params_path, overrides or [])


def setup(data: Path, as_of: str, params: Path, overrides: list[str] | None):
    """Params, the as-of date and the validated data: the start of every command that reads data."""
    cfg = load(params, overrides)
    day = parse_date(as_of)
    return cfg, day, open_data(data, cfg)


def warn_if_after_data(ds, day: date, training: bool = False) -> None:
    """An as-of date after the last transaction: the days between look like days without purchases."""
    _, last = ds.date_range()
    if day > last:
        labels = "; the latest training labels count them as churn" if training else ""
        console.print(f"[yellow]warning:[/] --as-of {day} is after the last transaction ({last}): the "
                      f"{(day - last).days} days between look like days without any purchase (every customer looks "
                      f"that much longer gone{labels}). Check that the data export is current.", soft_wrap=True)


def features_as_of(ds, cfg: Params, day: date):
    """The feature table as of ``day``; an empty population is a clear error, not an empty output."""
    from pipeline.build import build_features

    warn_if_after_data(ds, day)
    with console.status(f"building features as of {day}...") as status:
        frame = build_features(ds, cfg, day, progress=lambda done, total: status.update(
            f"building features as of {day}: customer shard {done}/{total} done..."))
    if frame.empty:
        first, last = ds.date_range()
        raise DataError(
            f"no customer is in the population at {day}: nobody has {cfg.label.min_purchases_in_lookback} order(s) in the "
            f"{cfg.label.lookback_days} days before it (transactions run from {first} to {last}). "
            "Use an --as-of inside the data, or a longer label.lookback_days.")
    return frame


def open_data(data_dir: Path, params: Params):
    """Discover, validate (printing the accounting) and write quarantine files; return the dataset."""
    from pipeline.build import open_dataset
    from pipeline.io import discover_tables, write_table

    sources, unknown = discover_tables(data_dir)
    with console.status(f"validating {data_dir}..."):
        ds = open_dataset(sources, params, datetime.now(), unknown)
    report = ds.report
    table = Table(title=f"input accounting ({data_dir})", title_justify="left")
    for col in ("table", "rows read", "rows used", "rows quarantined", "balanced"):
        table.add_column(col, justify="right" if col.startswith("rows") else "left")
    for a in report.accounts:
        table.add_row(a.table, f"{a.rows_read:,}", f"{a.rows_used:,}", f"{a.rows_quarantined:,}",
                      "yes" if a.balanced else "[red]NO[/]")
    console.print(table)
    for p in report.problems:
        console.print(f"[yellow]warning:[/] {p.message()}", highlight=False)
    for n in report.notices:
        console.print(f"[cyan]note:[/] {n}", highlight=False)
    if report.rows_quarantined:
        qdir = Path(params.validation.quarantine_dir)
        for a in report.accounts:
            if a.rows_quarantined:
                frame = ds.con.sql(f"SELECT * FROM quarantine_{a.table}").to_arrow_table().to_pandas()
                path = write_table(frame, qdir / f"{a.table}.csv")
                console.print(f"quarantined {a.rows_quarantined:,} {a.table} rows with their reasons -> {path}")
    return ds


@app.command()
@handle_errors
def validate(data: DataOpt, params: ParamsOpt = Path("params.yaml"), set_: SetOpt = None) -> None:
    """Check the input tables against the data contract and account for every row."""
    cfg = load(params, set_)
    ds = open_data(data, cfg)
    lo, hi = ds.date_range()
    out.print(f"valid: {', '.join(sorted(ds.tables))}; transactions from {lo} to {hi}")


@app.command()
@handle_errors
def features(
    data: DataOpt,
    as_of: AsOfOpt,
    out_path: Annotated[Path | None, typer.Option("--out", help="Output .parquet (default features_asof=DATE.parquet)")] = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Build one row of behavioural features per customer in the population as of a date."""
    from pipeline.build import context_for, feature_spec
    from pipeline.io import write_table

    cfg, day, ds = setup(data, as_of, params, set_)
    _, notices = feature_spec(context_for(ds, cfg, day))
    for n in notices:
        console.print(f"[cyan]note:[/] {n}")
    frame = features_as_of(ds, cfg, day)
    target = out_path or Path(f"features_asof={day.isoformat()}.parquet")
    write_table(frame, target)
    out.print(f"wrote {len(frame):,} customers x {frame.shape[1] - 1} features -> {target}")


@app.command("sample-data")
@handle_errors
def sample_data(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the five tables to.")],
    customers: Annotated[int, typer.Option("--customers", help="Number of customers.")] = 10_000,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet (parquet writes folders of parts).")] = "csv",
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: params seed).")] = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Generate realistic sample data with planted churn causes (seeded)."""
    from rich.progress import Progress

    from pipeline.sample_data import iter_chunks

    if fmt not in ("csv", "parquet"):
        raise DataError(f"--format {fmt!r}: use csv or parquet")
    if customers < 1:
        raise DataError("--customers must be at least 1")
    cfg = load(params, set_)
    out_dir.mkdir(parents=True, exist_ok=True)
    chunk = 200_000
    counts: dict[str, int] = {}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("generating", total=customers)
        for k, tables in enumerate(iter_chunks(customers, seed if seed is not None else cfg.seed, chunk)):
            for name, frame in tables.items():
                counts[name] = counts.get(name, 0) + len(frame)
                if fmt == "parquet":
                    folder = out_dir / name
                    folder.mkdir(exist_ok=True)
                    frame.to_parquet(folder / f"part-{k:05d}.parquet", index=False)
                else:
                    frame.to_csv(out_dir / f"{name}.csv", index=False, mode="w" if k == 0 else "a", header=k == 0)
            progress.update(task, advance=min(chunk, customers - k * chunk))
    listing = ", ".join(f"{n} {c:,}" for n, c in counts.items())
    out.print(f"wrote sample data for {customers:,} customers to {out_dir}: {listing}")


@app.command()
@handle_errors
def cdnow(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write transactions.csv to.")],
    source: Annotated[Path | None, typer.Option("--source", help="CDNOW_master.txt (default: bundled copy).")] = None,
) -> None:
    """Convert the real CDNOW purchase history to the canonical transactions table."""
    from pipeline.cdnow import BUNDLED, load_cdnow

    frame = load_cdnow(source or BUNDLED)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_dir / "transactions.csv", index=False)
    out.print(f"wrote {len(frame):,} CDNOW customer-days of {frame.customer_id.nunique():,} customers -> "
              f"{out_dir / 'transactions.csv'}")


@app.command()
@handle_errors
def train(
    data: DataOpt,
    as_of: AsOfOpt,
    promote: Annotated[bool, typer.Option("--promote", help="Make this version champion whatever its score.")] = False,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Train, tune and evaluate on data up to --as-of; log to MLflow and register (champion/challenger)."""
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeline import tracking
    from pipeline.build import build_training_set, context_for, feature_spec, snapshot_cutoffs
    from pipeline.train import study_name, study_storage, train_models, validation_rows

    started = time.perf_counter()
    uri = tracking.configure()
    cfg, day, ds = setup(data, as_of, params, set_)
    tracking.check_stores(cfg)
    warn_if_after_data(ds, day, training=True)
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        cutoffs = snapshot_cutoffs(cfg, day)
        task = progress.add_task("building snapshots", total=len(cutoffs))
        training = build_training_set(ds, cfg, day, progress=lambda c: progress.update(task, advance=1,
                                                                                       description=f"snapshot {c}"))
        spec, _ = feature_spec(context_for(ds, cfg, day))
        fingerprint = ds.fingerprint()
        tune_task = progress.add_task("tuning (Optuna)", total=cfg.tuning.n_trials)

        def on_trial(study, trial):
            best = study.best_value if any(t.value is not None for t in study.trials) else float("nan")
            progress.update(tune_task, advance=1, description=f"tuning: trial {trial.number} best AUC {best:.4f}")

        result = train_models(training, spec, cfg, study_name=study_name(fingerprint["hash"], day, cfg, spec),
                              storage=study_storage(cfg), on_trial=on_trial)
    valid_rows = validation_rows(training)
    plots = tracking.training_plots(result)
    plots["shap_summary"] = tracking.shap_summary_plot(result, valid_rows, seed=cfg.seed)
    with console.status("logging to MLflow and registering..."):
        logged = tracking.log_training(result, cfg, fingerprint, valid_rows, plots, str(day))
        logged = tracking.register_and_gate(logged, result, cfg, valid_rows, promote)
    _print_train_summary(result, logged, uri, time.perf_counter() - started)


def tuning_line(s: dict) -> str:
    """The run summary's line on tuning (``train.tune``'s summary), saying which trials ran in this run."""
    resumed = s["resumed_trials"]
    if resumed >= s["trials"]:  # the study of this data, date and settings had its budget already
        resumed = f"; all {resumed} from an earlier run on the same data, date and settings, none run now"
    else:
        resumed = f", {resumed} resumed from an earlier run" if resumed else ""
    return (f"tuning: {s['complete']} complete / {s['trials']} trials ({s['pruned']} pruned{resumed}), "
            f"best fold-mean AUC {s['best_value']:.4f}")


def _print_train_summary(result, logged, uri: str, seconds: float) -> None:
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
    best_baseline = result.churn_table.drop(index="model")["roc_auc"].max()
    calib = min(result.calibration_scores, key=result.calibration_scores.get)
    out.print(f"ROC-AUC margin over the best baseline: {result.churn_table.loc['model', 'roc_auc'] - best_baseline:+.4f}")
    out.print(f"calibration: {calib} (Brier by method {', '.join(f'{k} {v:.4f}' for k, v in result.calibration_scores.items())})")
    if result.study_summary:
        out.print(tuning_line(result.study_summary))
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
) -> None:
    """Backtest over several cutoffs: train on data before each, test on the cutoff after, beside baselines."""
    from pipeline.evaluate import IN_PERIOD, backtest
    from pipeline.plots import backtest_plot

    cfg, day, ds = setup(data, as_of, params, set_)
    warn_if_after_data(ds, day, training=True)
    with console.status("backtesting...") as status:
        table = backtest(ds, cfg, day, cutoffs or cfg.evaluation.backtest_cutoffs, progress=status.update,
                         in_period_folds=in_period_folds)
    from pipeline.io import write_bytes

    write_bytes(table.to_csv(index=False).encode(), out_dir / "backtest.csv")
    for metric in ("roc_auc", "pr_auc", "lift_at_10"):
        write_bytes(backtest_plot(table, metric, reference=IN_PERIOD), out_dir / f"backtest_{metric}.png")
    # scorers in the backtest's order: the model, its baselines, then the in-period reference if asked for
    wide = table.pivot(index="cutoff", columns="scorer", values="roc_auc")[table["scorer"].unique()]
    baselines = wide.columns.drop(["model", IN_PERIOD], errors="ignore")
    t = Table(title="backtest ROC-AUC by test cutoff (train on data before it)", title_justify="left")
    t.add_column("cutoff")
    for c in wide.columns:
        t.add_column(c, justify="right")
    t.add_column("model - best baseline", justify="right")
    for cutoff, row in wide.iterrows():
        margin = row["model"] - row[baselines].max()
        t.add_row(str(cutoff), *(f"{row[c]:.4f}" for c in wide.columns), f"{margin:+.4f}")
    out.print(t)
    out.print(f"wrote {out_dir / 'backtest.csv'} and plots to {out_dir}")


def without_unused_features(frame, bundle):
    """Today's features less those the model was not trained on (a column or table added to the data since),
    with a note: a new column in an export must not stop a scoring job. A feature the model needs and the
    data no longer gives still stops it (``ModelError``)."""
    from models.bundle import KEY_COLUMNS

    unused = [c for c in frame.columns if c not in bundle.feature_names and c not in KEY_COLUMNS]
    if unused:
        shown = ", ".join(unused[:10]) + (f" and {len(unused) - 10} more" if len(unused) > 10 else "")
        console.print(f"[yellow]note:[/] {len(unused)} feature(s) of today's data are not in the model and are left "
                      f"out of scoring: {shown}. Retrain to use them.", soft_wrap=True)
    return frame.drop(columns=unused)


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.stem}{suffix}")


@app.command()
@handle_errors
def score(
    data: DataOpt,
    as_of: AsOfOpt,
    out_path: Annotated[Path | None, typer.Option("--out", help="Risk list .parquet or .csv (default risk_asof=DATE.parquet)")]
    = None,
    model: Annotated[str, typer.Option("--model", help="MLflow model URI or a saved bundle folder.")]
    = "models:/churn-model@champion",
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Score every customer as of a date: risk list with drivers and actions, SHAP values, drift check.

    Safe to re-run: outputs are replaced atomically and the same inputs give the same files.
    """
    import json

    from pipeline import plots, tracking
    from pipeline.io import write_bytes, write_table
    from pipeline.score import score as score_customers

    cfg = load(params, set_)
    day = parse_date(as_of)
    target = out_path or Path(f"risk_asof={day.isoformat()}.parquet")
    if target.suffix not in (".parquet", ".csv"):
        raise DataError(f"--out {target}: use a .parquet or .csv file name")
    tracking.configure()
    if model.startswith(("models:/", "runs:/")):
        tracking.check_stores(cfg, tuning=False)
    with console.status(f"loading model {model}..."):
        bundle, version = tracking.load_bundle(model)
    ds = open_data(data, cfg)
    frame = without_unused_features(features_as_of(ds, cfg, day), bundle)
    with console.status(f"scoring and explaining {len(frame):,} customers..."):
        result = score_customers(frame, bundle, day, cfg.scoring, version)
    write_table(result.risk_list, target)
    write_table(result.contributions, _sidecar(target, "_shap.parquet"))
    summary = {**result.summary, "global_families": result.global_families.to_dict("records"),
               "global_features": result.global_features.head(30).to_dict("records"),
               "drift": result.drift.to_dict("records")}
    write_bytes(json.dumps(summary, indent=1, default=str).encode(), _sidecar(target, "_summary.json"))
    X = bundle.check_features(frame.sample(n=min(3000, len(frame)), random_state=cfg.seed))
    beeswarm = plots.beeswarm_plot(bundle.churn.contributions(X)[:, :-1], X, "SHAP summary (churn, log-odds)")
    write_bytes(beeswarm, _sidecar(target, "_shap_summary.png"))
    _print_score_summary(result, target)


def _print_score_summary(result, target: Path) -> None:
    s = result.summary
    t = Table(title=f"risk list as of {s['as_of']}", title_justify="left")
    t.add_column("band")
    t.add_column("customers", justify="right")
    t.add_column("share", justify="right")
    t.add_column("value at risk", justify="right")
    for band, count in s["bands"].items():
        part = result.risk_list[result.risk_list["risk_band"] == band]
        t.add_row(band, f"{count:,}", f"{count / max(s['customers'], 1):.1%}", f"{part['value_at_risk'].sum():,.2f}")
    out.print(t)
    out.print(f"customers scored: {s['customers']:,} with {s['model_version']}; "
              f"total value at risk: {s['value_at_risk']:,.2f}")
    top = result.global_families.head(3)
    out.print("drivers across the base: " + ", ".join(f"{r.family} ({r.mean_abs_effect_pp * 100:.1f} pts)"
                                                      for r in top.itertuples()))
    if s["drifted_features"]:
        listing = ", ".join(f"{d['feature']} (PSI {d['psi']:.2f})" for d in s["drifted_features"])
        console.print(f"[yellow]data drift:[/] features shifted since training: {listing}", highlight=False)
    else:
        out.print("data drift: no feature over the PSI threshold")
    out.print(f"wrote {target} (+ {_sidecar(target, '_shap.parquet').name}, {_sidecar(target, '_summary.json').name}, "
              f"{_sidecar(target, '_shap_summary.png').name})")


@app.command()
@handle_errors
def report(
    scores: Annotated[Path, typer.Option("--scores", help="Risk list written by `churn score`.")],
    out_path: Annotated[Path, typer.Option("--out", help="HTML report to write.")] = Path("report.html"),
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="Also export the risk list to this .xlsx file.")] = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Self-contained HTML report for retention teams (and an optional Excel export of the risk list)."""
    from pipeline.io import read_risk_list, write_bytes, write_excel
    from pipeline.report import build_report

    cfg = load(params, set_)
    frame, summary = read_risk_list(scores)
    html = build_report(frame, summary, cfg.scoring.report_top_n)
    write_bytes(html.encode("utf-8"), out_path)
    out.print(f"wrote report for {len(frame):,} customers -> {out_path}")
    if xlsx is not None:
        write_excel(frame, xlsx)
        out.print(f"wrote Excel risk list -> {xlsx}")


def main() -> None:  # pragma: no cover
    app(prog_name="churn")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
