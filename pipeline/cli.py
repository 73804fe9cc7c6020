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
    if result.value_table is not None:
        vt = Table(title="value if retained vs BTYD x Gamma-Gamma, on the validation customers who stayed",
                   title_justify="left")
        for c in ("scorer", "customers", "spearman", "top20_revenue_capture", "total_error"):
            vt.add_column(c, justify="left" if c == "scorer" else "right")
        for scorer, row in result.value_table.iterrows():
            vt.add_row(scorer, f"{int(row['customers']):,}", f"{row['spearman']:.4f}", f"{row['top20_revenue_capture']:.4f}",
                       f"{row['total_error']:+.1%}")
        out.print(vt)
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
        result = score_customers(frame, bundle, day, cfg.scoring, version, targeting=cfg.targeting, value=cfg.value,
                                 seed=cfg.seed)
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
    t.add_column("call list: contact", justify="right")
    t.add_column("hold out", justify="right")
    for band, count in s["bands"].items():
        part = result.risk_list[result.risk_list["risk_band"] == band]
        groups = part["contact_group"].value_counts()
        t.add_row(band, f"{count:,}", f"{count / max(s['customers'], 1):.1%}", f"{part['value_at_risk'].sum():,.2f}",
                  f"{groups.get('treatment', 0):,}", f"{groups.get('holdout', 0):,}")
    out.print(t)
    out.print(f"customers scored: {s['customers']:,} with {s['model_version']}; "
              f"total value at risk: {s['value_at_risk']:,.2f} (churn probability x value if retained, "
              f"{s['value_if_retained']:,.2f} in all); lifetime value ({s['value_rule']['lifetime_months']} months): "
              f"{s['lifetime_value']:,.2f}")
    g, tg = s["targeting"]["groups"], s["targeting"]
    capacity = "everyone with a priority" if tg["capacity"] is None else f"capacity {tg['capacity']:,}"
    out.print(f"call list ({capacity}, {tg['holdout_share']:.0%} held out): {g['treatment']:,} to contact, "
              f"{g['holdout']:,} held out to measure the effect, {g['not_selected']:,} not selected; "
              f"value the contacts can be expected to save: {tg['priority_in_treatment']:,.2f}")
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
        write_excel(frame, xlsx, summary=summary, currency=currency_of(cfg))
        out.print(f"wrote Excel call list for {len(frame):,} customers -> {xlsx}")


def currency_of(cfg: Params) -> str:
    """The currency amounts are in, where params set one (``currency`` at the top, in ``value`` or in
    ``scoring``); empty when none does."""
    for section in (cfg, getattr(cfg, "value", None), getattr(cfg, "scoring", None)):
        currency = getattr(section, "currency", None)
        if isinstance(currency, str) and currency.strip():
            return currency.strip()
    return ""


@app.command()
@handle_errors
def outcomes(
    risk_list: Annotated[Path, typer.Option("--risk-list", help="Risk list written by `churn score` a horizon or more ago.")],
    data: DataOpt,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write every figure to this JSON file.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the figures as a self-contained HTML page.")] = None,
    write_effects: Annotated[Path | None, typer.Option(
        "--write-effects", help="Write the measured action effects, shrunk towards the priors, as YAML "
        "(targeting.action_effects) to copy into params.yaml.")] = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Once a risk list's horizon has passed: was the list right, did it point at the value lost, and did the
    actions keep customers (treatment against holdout)? Logs the figures against the model version in MLflow."""
    import json

    from pipeline import outcomes as oc
    from pipeline import tracking
    from pipeline.io import read_risk_list, write_bytes
    from pipeline.outcomes_report import build_outcomes_report
    from pipeline.outcomes_tracking import log_outcomes

    cfg = load(params, set_)
    frame, summary = read_risk_list(risk_list)
    if frame.empty:
        raise DataError(f"{risk_list} lists no customer: there is nothing to follow up. Fix: pass a list with customers")
    day = oc.list_as_of(frame, summary)
    label, label_notes = oc.list_label(summary, cfg.label)
    ds = open_data(data, cfg)
    oc.require_horizon_observed(day, label.horizon_days, ds.date_range()[1])
    with console.status(f"finding what happened to {len(frame):,} customers from {day} to "
                        f"{oc.horizon_end(day, label.horizon_days)}..."):
        realised = oc.realised_outcomes(ds, cfg, label, day, frame["customer_id"])
    band_order = list(summary.get("bands") or cfg.scoring.risk_bands)
    figures = oc.outcome_figures(frame, realised, label=label, as_of=day, band_order=band_order,
                                 tier_order=list(cfg.loyalty.tiers), priors=cfg.targeting.action_effects,
                                 default_prior=cfg.targeting.default_effect)
    figures = {"risk_list": str(risk_list), **figures, "notes": label_notes + figures["notes"]}
    _print_outcomes(figures)
    tracking.configure()
    with console.status("logging the outcomes to MLflow..."):
        logged = log_outcomes(figures, oc.headline_metrics(figures), str(risk_list))
    figures["mlflow"] = {"run_id": logged.run_id, "message": logged.message}
    if logged.run_id is None:
        console.print(f"[cyan]note:[/] {logged.message}", highlight=False, soft_wrap=True)
    else:
        out.print(logged.message, highlight=False)
    if json_path is not None:
        write_bytes(json.dumps(figures, indent=2).encode(), json_path)
        out.print(f"wrote every figure -> {json_path}")
    if html is not None:
        write_bytes(build_outcomes_report(figures, risk_list.name).encode("utf-8"), html)
        out.print(f"wrote outcomes page -> {html}")
    if write_effects is not None:
        write_bytes(oc.effects_yaml(figures["effects"], _effects_header(figures)).encode("utf-8"), write_effects)
        measured = sum(a["measured"] for a in figures["actions"])
        out.print(f"wrote action effects ({measured} measured, the rest at their priors) -> {write_effects}; copy its "
                  "action_effects into params.yaml's targeting section to use them")


def _effects_header(figures: dict) -> list[str]:
    """The comment lines above a ``--write-effects`` file: where the effects come from and how to use them."""
    k = figures["shrinkage"]["pseudo_count"]
    lines = [f"Action effects measured by `churn outcomes` on {figures['risk_list']} as of {figures['as_of']} "
             f"(outcomes up to {figures['horizon_end']}).",
             f"Shrunk towards the prior: (n_h x measured + {k:g} x prior) / (n_h + {k:g}), n_h the holdout "
             "customers, clipped to [0, 1];",
             "actions without a treatment group, a holdout group or a churner in the holdout keep their prior.",
             "Use: copy action_effects into the targeting section of params.yaml (it replaces the mapping there).", ""]
    for a in figures["actions"]:
        if a["measured"]:
            lines.append(f"{a['action']}: treatment {a['treatment']['customers']}, holdout {a['holdout']['customers']}, "
                         f"measured {a['effect']['estimate']:.3f}, prior {a['prior']:.3f} -> {a['shrunk_effect']:.3f}")
    return lines


def _share(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _amount(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _with_interval(estimate: float | None, bounds: list[float | None]) -> str:
    """``33% [26,41]``: an estimate and its 95% interval in percent, short enough for a table of actions."""
    if estimate is None:
        return "-"
    return _share(estimate, 0) + ("" if bounds[0] is None else f" [{bounds[0] * 100:.0f},{bounds[1] * 100:.0f}]")


def _print_outcomes(f: dict) -> None:
    q, v = f["quality"], f["value"]
    auc = "-" if q["roc_auc"] is None else f"{q['roc_auc']:.4f}"
    pr = "-" if q["pr_auc"] is None else f"{q['pr_auc']:.4f}"
    brier = "-" if q["brier"] is None else f"{q['brier']:.4f}"
    out.print(f"outcomes of {f['risk_list']} as of {f['as_of']} ({f['model_version']}), {f['label']['kind']} rule, "
              f"horizon to {f['horizon_end']}: {f['customers']:,} customers, churned {_share(q['actual_churn_rate'])} "
              f"(predicted {_share(q['mean_predicted_probability'])}); ROC-AUC {auc}, PR-AUC {pr}, Brier {brier}",
              highlight=False)
    for title, column, rows in (("by risk band", "risk_band", f["by_risk_band"]),
                                ("by loyalty tier", "loyalty_tier", f["by_loyalty_tier"]),
                                ("by contact group", "contact_group", f["by_contact_group"])):
        if not rows:
            continue
        t = Table(title=f"predicted and actual churn, value lost and revenue kept {title}", title_justify="left")
        for c in (column.replace("_", " "), "customers", "predicted", "churned", "value at risk", "value lost",
                  "revenue kept"):
            t.add_column(c, justify="left" if c == column.replace("_", " ") else "right")
        for r in rows:
            t.add_row(r[column], f"{r['customers']:,}", _share(r["mean_predicted"]), _share(r["actual_rate"]),
                      _amount(r["value_at_risk"]), _amount(r["lost_value"]), _amount(r["revenue_kept"]))
        out.print(t)
    t = Table(title="calibration by decile of churn probability (1 = highest)", title_justify="left")
    for c in ("decile", "probability", "customers", "predicted", "churned"):
        t.add_column(c, justify="right")
    for r in q["calibration_by_decile"]:
        t.add_row(str(r["decile"]), f"{r['min_probability']:.3f}-{r['max_probability']:.3f}", f"{r['customers']:,}",
                  _share(r["mean_predicted"]), _share(r["actual_rate"]))
    out.print(t)
    if v["capture"]:
        t = Table(title="share of value lost in the top", title_justify="left")
        for c in ("ranking", "top 10%", "top 20%"):
            t.add_column(c, justify="left" if c == "ranking" else "right")
        for r in v["capture"]:
            t.add_row(r["ranking"], _share(r["top_10"]), _share(r["top_20"]))
        out.print(t)
    if v["lost_value"] is not None:
        out.print(f"value lost (churned x {v['value_column']}: the spend the churners would have made had they stayed): "
                  f"{_amount(v['lost_value'])}")
    out.print(f"revenue kept (actual spend of those who stayed): {_amount(v['revenue_kept'])} of {_amount(v['revenue'])}")
    if f["actions"]:
        t = Table(title="actions: churn rate of the treated against the held out, 95% intervals in %; effect = share "
                        "of would-be churners kept", title_justify="left")
        t.add_column("action", min_width=18)
        for c in ("treated", "churned", "held out", "churned ", "difference", "effect", "prior", "shrunk"):
            t.add_column(c, justify="right", no_wrap=True)
        pooled = f["all_actions"]
        for a in [*f["actions"], {"action": "all actions", **pooled, "prior": None, "shrunk_effect": None}]:
            t.add_row(a["action"], f"{a['treatment']['customers']:,}",
                      _with_interval(a["treatment"]["rate"], a["treatment"]["interval"]),
                      f"{a['holdout']['customers']:,}", _with_interval(a["holdout"]["rate"], a["holdout"]["interval"]),
                      _with_interval(a["difference"]["estimate"], a["difference"]["interval"]),
                      _with_interval(a["effect"]["estimate"], a["effect"]["interval"]),
                      _share(a["prior"]), _share(a["shrunk_effect"]))
        out.print(t)
    for note in f["notes"]:
        console.print(f"[cyan]note:[/] {note}", highlight=False, soft_wrap=True)


def main() -> None:  # pragma: no cover
    app(prog_name="churn")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
