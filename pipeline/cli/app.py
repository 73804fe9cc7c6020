"""The ``churn`` command line. The edge of the pipeline: reads files, prints, writes; stages stay pure."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.core.config import Params, load_params
from pipeline.core.errors import ChurnError, DataError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Churn prediction pipeline.")
# Without a terminal (a log file, a batch job) lines are never wrapped: a path or a command stays on one line.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 130, soft_wrap=not sys.stderr.isatty())
out = Console(width=None if sys.stdout.isatty() else 130, soft_wrap=not sys.stdout.isatty())

ParamsOpt = Annotated[Path, typer.Option("--params", help="params.yaml to use.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a param: dotted.key=value (repeatable).")]
# text, not a Path: a Path would make s3a://bucket/churn s3a:/bucket/churn
DataOpt = Annotated[str, typer.Option("--data", help="Folder with transactions.csv/.parquet and optional tables; with "
                                           "--engine spark also a URI Spark reads (s3a://, hdfs://, abfss://, gs://, file:).")]
EngineOpt = Annotated[str | None, typer.Option(
    "--engine", help="duckdb (one machine) or spark (engine.spark.master: local[*] or a cluster); default engine.kind.")]
AsOfOpt = Annotated[str, typer.Option("--as-of", help="Date YYYY-MM-DD; rows up to the end of this day are history.")]


RunRecordOpt = Annotated[Path | None, typer.Option(
    "--run-record", help="Write a machine-readable record of this run (status, exit code, timing, rows, data hash, "
    "model, outputs with hashes, warnings) to this JSON file, whether it succeeds or fails.")]


def warn(message: str, label: str = "warning") -> None:
    """Print a warning of the project's own and keep it in the run record."""
    from pipeline.core import runrecord

    console.print(f"[yellow]{label}:[/] {message}", highlight=False, soft_wrap=True)
    runrecord.current().warn(message)


def note(message: str) -> None:
    """Print something worth knowing that is not a problem (kept out of the run record's warnings)."""
    console.print(f"[cyan]note:[/] {message}", highlight=False, soft_wrap=True)


def _library_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library's Python warning, said as the project's: one line, no source path."""
    warn(f"{category.__name__}: {str(message).splitlines()[0] if str(message) else ''}")


class _LibraryLog:
    """Library log records at WARNING and above, said as the project's warnings (MLflow, Optuna, ...)."""

    def __init__(self):
        import logging

        class Handler(logging.Handler):
            def emit(self, record):
                warn(f"{record.name}: {record.getMessage().splitlines()[0]}")

        self.handler = Handler(logging.WARNING)
        self.saved: list = []

    def __enter__(self):
        import logging

        for name in ("", "mlflow", "optuna", "alembic", "py.warnings"):
            logger = logging.getLogger(name)
            self.saved.append((logger, list(logger.handlers), logger.propagate))
            logger.handlers = [self.handler]
            logger.propagate = False
        return self

    def __exit__(self, *exc):
        for logger, handlers, propagate in self.saved:
            logger.handlers, logger.propagate = handlers, propagate


def _write_run_record(record, path: Path | None) -> None:
    import json

    from pipeline.core.files import write_bytes

    if path is None:
        return
    try:
        write_bytes(json.dumps(record.to_dict(), indent=1, default=str).encode(), path)
    except ChurnError as exc:
        console.print(f"[bold red]error:[/] run record not written: {exc}", highlight=False, soft_wrap=True)


def handle_errors(fn: Callable) -> Callable:
    """Turn the pipeline's own errors into a clear message and exit code, never a traceback; give the command
    ``--run-record FILE``, written however the run ends."""
    import inspect
    import signal
    import warnings

    @wraps(fn)
    def wrapper(*args, run_record: Path | None = None, **kwargs):
        from pipeline.core import runrecord

        record = runrecord.start(fn.__name__.replace("_", "-"), sys.argv[1:])
        code, error = 0, None
        in_main = _in_main_thread()
        if in_main:  # a batch system's SIGTERM ends the run like Ctrl-C: outputs and MLflow runs cleaned up
            previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            check_outputs(run_record)
            with warnings.catch_warnings(), _LibraryLog():
                for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):  # for developers
                    warnings.filterwarnings("ignore", category=category)
                warnings.showwarning = _library_warning
                return fn(*args, **kwargs)
        except ChurnError as exc:
            code, error = exc.exit_code, str(exc)
            console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except typer.Exit as exc:
            code = exc.exit_code
            raise
        except KeyboardInterrupt:
            code, error = 130, "interrupted (Ctrl-C or SIGTERM) before the run ended; earlier outputs are intact"
            console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
        except BaseException as exc:
            code, error = 1, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)
            record.finish(code, error)
            _write_run_record(record, run_record)

    sig = inspect.signature(fn, eval_str=True)
    extra = inspect.Parameter("run_record", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=RunRecordOpt)
    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])
    wrapper.__annotations__ = {**{k: v.annotation for k, v in sig.parameters.items()}, "run_record": RunRecordOpt}
    return wrapper


def check_outputs(*targets: Path | None) -> None:
    """Before any work: each output asked for (``None``: not asked for) can be written (``io.check_writable``)."""
    from pipeline.core.files import check_writable

    for target in targets:
        if target is not None:
            check_writable(target)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def parse_date(text: str, option: str = "--as-of") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DataError(f"{option} {text!r} is not a date; use YYYY-MM-DD, e.g. 2025-12-31") from None


def with_engine(overrides: list[str] | None, engine: str | None) -> list[str] | None:
    """``--engine`` as the setting it stands for (``engine.kind``, checked with every other setting)."""
    return overrides if engine is None else [*(overrides or []), f"engine.kind={engine}"]


def load(params_path: Path, overrides: list[str] | None) -> Params:
    return load_params(params_path, overrides or [])


def setup(data: str, as_of: str, params: Path, overrides: list[str] | None):
    """Params, the as-of date and the validated data: the start of every command that reads data (your own
    feature modules, ``features.extra_modules``, are imported here, before any build)."""
    from pipeline.build.extensions import prepare_features

    cfg = load(params, overrides)
    day = parse_date(as_of)
    prepare_features(cfg)
    return cfg, day, open_data(data, cfg)


# Flags that also take a value: ``--promote true`` / ``--promote=false`` mean ``--promote`` / ``--no-promote``.
VALUED_FLAGS = ("--promote",)
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def normalise_flags(argv: list[str]) -> list[str]:
    """``--promote true`` and ``--promote=false`` as the flags ``--promote`` and ``--no-promote``."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        flag, _, value = arg.partition("=")
        if flag in VALUED_FLAGS and value:
            word = value.lower()
        elif arg in VALUED_FLAGS and i + 1 < len(argv) and argv[i + 1].lower() in TRUE_WORDS + FALSE_WORDS:
            word = argv[i + 1].lower()
            i += 1
        else:
            out.append(arg)
            i += 1
            continue
        out.append(flag if word in TRUE_WORDS else flag.replace("--", "--no-", 1) if word in FALSE_WORDS else arg)
        i += 1
    return out


def check_as_of(ds, day: date, training: bool = False, max_age_days: int | None = None, setting: str = "",
                allow_stale: bool = False) -> None:
    """``day`` against the data's last transaction (one query for both checks).

    Stop (exit 3) when the last transaction is more than ``max_age_days`` (the ``setting``) before ``day``: a
    stale export scored as today's makes every customer look long gone; ``allow_stale`` (``--allow-stale``)
    turns the stop into a warning. Warn when ``day`` is after the last transaction at all: the days between
    look like days without purchases (and, when ``training``, the latest labels count them as churn)."""
    _, last = ds.date_range()
    age = (day - last).days
    if max_age_days is not None and age > max_age_days:
        message = (f"the data is stale: its last transaction is on {last}, {age} days before --as-of {day} ({setting} "
                   f"is {max_age_days})")
        if not allow_stale:
            raise DataError(f"{message}. Every customer would look {age} days longer gone than they are. Fix: use a "
                            "current data export, an --as-of at the end of the data, or --allow-stale if this is intended")
        warn(f"{message}; going on because of --allow-stale")
    if age > 0:
        labels = "; the latest training labels count them as churn" if training else ""
        warn(f"--as-of {day} is after the last transaction ({last}): the "
             f"{age} days between look like days without any purchase (every customer looks "
             f"that much longer gone{labels}). Check that the data export is current.")


def features_as_of(ds, cfg: Params, day: date, choices: dict | None = None):
    """The feature table as of ``day``; an empty population is a clear error, not an empty output. ``choices``
    (a model's ``data_choices``) fixes the event types and the role of transactions to the model's."""
    from pipeline.build.features import build_features

    with console.status(f"building features as of {day}...") as status:
        frame = build_features(ds, cfg, day, choices=choices or None, progress=lambda done, total: status.update(
            f"building features as of {day}: customer shard {done}/{total} done..."))
    return check_population(ds, cfg, day, frame)


def check_population(ds, cfg: Params, day: date, frame):
    """``frame``, a feature table as of ``day``; an empty population is a clear error, not an empty output."""
    if frame.empty:
        first, last = ds.date_range()
        raise DataError(
            f"no customer is in the population at {day}: nobody has {cfg.label.min_purchases_in_lookback} order(s) in the "
            f"{cfg.label.lookback_days} days before it (transactions run from {first} to {last}). "
            "Use an --as-of inside the data, or a longer label.lookback_days.")
    return frame


def open_data(data_dir: str | Path, params: Params):
    """Discover, validate (printing the accounting) and write quarantine files; return the dataset. With the Spark
    engine ``data_dir`` may be a URI, read through Hadoop's file systems; the quarantine files are local all the same."""
    from pipeline.core.files import write_table
    from pipeline.data.sources import discover_tables, is_uri
    from pipeline.engine.duckdb import open_dataset

    root = data_dir
    if params.engine.kind == "spark" and is_uri(data_dir):
        from pipeline.engine.spark.fs import hadoop_folder

        root = hadoop_folder(params.engine, str(data_dir))
    sources, unknown = discover_tables(root)
    with console.status(f"validating {data_dir}..."):
        if params.engine.kind == "spark":
            from pipeline.engine.spark.validate import validate_on_spark

            ds = validate_on_spark(sources, params, datetime.now(), unknown)
        else:
            ds = open_dataset(sources, params, datetime.now(), unknown)
    report = ds.report
    table = Table(title=f"input accounting ({data_dir})", title_justify="left")
    for col in ("table", "rows read", "rows used", "rows quarantined", "balanced"):
        table.add_column(col, justify="right" if col.startswith("rows") else "left")
    for a in report.accounts:
        table.add_row(a.table, f"{a.rows_read:,}", f"{a.rows_used:,}", f"{a.rows_quarantined:,}",
                      "yes" if a.balanced else "[red]NO[/]")
    console.print(table)
    from pipeline.core import runrecord

    record = runrecord.current()
    record.tables = {a.table: {"rows_read": a.rows_read, "rows_used": a.rows_used, "rows_quarantined": a.rows_quarantined}
                     for a in report.accounts}
    for p in report.problems:
        warn(p.message())
    for n in report.notices:
        note(n)
    if report.rows_quarantined:
        qdir = Path(params.validation.quarantine_dir)
        for a in report.accounts:
            if a.rows_quarantined:
                frame = ds.quarantine_frame(a.table)
                path = write_table(frame, qdir / f"{a.table}.csv")
                console.print(f"quarantined {a.rows_quarantined:,} {a.table} rows with their reasons -> {path}")
    record.data_hash = ds.fingerprint()["hash"]
    return ds


@app.command()
@handle_errors
def validate(data: DataOpt, params: ParamsOpt = Path("params.yaml"), set_: SetOpt = None,
             engine: EngineOpt = None) -> None:
    """Check the input tables against the data contract and account for every row."""
    set_ = with_engine(set_, engine)
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
    engine: EngineOpt = None,
) -> None:
    """Build one row of behavioural features per customer in the population as of a date."""
    set_ = with_engine(set_, engine)
    from pipeline.build.features import context_for, feature_spec
    from pipeline.core.files import write_table

    check_outputs(out_path)
    cfg, day, ds = setup(data, as_of, params, set_)
    _, notices = feature_spec(context_for(ds, cfg, day))
    for n in notices:
        note(n)
    check_as_of(ds, day)
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
    kind: Annotated[str, typer.Option("--kind", help="retail (a shop, some customers subscribed) or subscription "
                                      "(a monthly social-network subscription: activities, renewal charges).")] = "retail",
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Generate realistic sample data with planted churn causes (seeded)."""
    from rich.progress import Progress

    from pipeline.data.samples import retail as sample_data
    from pipeline.data.samples import subscription as sample_subscription

    if kind not in ("retail", "subscription"):
        raise DataError(f"--kind {kind!r}: use retail or subscription")
    iter_chunks = sample_data.iter_chunks if kind == "retail" else sample_subscription.iter_chunks
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
    from pipeline.data.samples.cdnow import BUNDLED, load_cdnow

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
    set_ = with_engine(set_, engine)
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeline.build.features import build_training_set, context_for, data_choices, feature_spec, snapshot_cutoffs
    from pipeline.core import runrecord
    from pipeline.training import tracking
    from pipeline.training.train import study_name, study_storage, train_models, validation_rows

    started = time.perf_counter()
    uri = tracking.configure()
    cfg, day, ds = setup(data, as_of, params, set_)
    tracking.check_stores(cfg)
    for run_id in tracking.mark_interrupted_runs():
        warn(f"MLflow run {run_id} was left running by a training run that was killed; marked failed")
    check_as_of(ds, day, training=True, max_age_days=cfg.snapshots.max_data_age_days,
                setting="snapshots.max_data_age_days", allow_stale=allow_stale)
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        cutoffs = snapshot_cutoffs(cfg, day)
        task = progress.add_task("building snapshots", total=len(cutoffs))
        training = build_training_set(ds, cfg, day, progress=lambda c: progress.update(task, advance=1,
                                                                                       description=f"snapshot {c}"))
        choices = data_choices(ds, cfg, day)
        spec, _ = feature_spec(context_for(ds, cfg, day, choices))
        fingerprint = ds.fingerprint()
        tune_task = progress.add_task("tuning (Optuna)", total=cfg.tuning.n_trials)

        def on_trial(study, trial):
            best = study.best_value if any(t.value is not None for t in study.trials) else float("nan")
            progress.update(tune_task, advance=1, description=f"tuning: trial {trial.number} best AUC {best:.4f}")

        result = train_models(training, spec, cfg, study_name=study_name(fingerprint["hash"], day, cfg, spec),
                              storage=study_storage(cfg), on_trial=on_trial, data_choices=choices)
    valid_rows = validation_rows(training)
    plots = tracking.training_plots(result)
    plots["shap_summary"] = tracking.shap_summary_plot(result, valid_rows, seed=cfg.seed)
    with console.status("logging to MLflow and registering..."):
        logged = tracking.log_training(result, cfg, fingerprint, valid_rows, plots, str(day))
        runrecord.current().mlflow_run_id = logged.run_id
        logged = tracking.register_and_gate(logged, result, cfg, valid_rows, promote)
    runrecord.current().model = {"uri": f"models:/{cfg.registry.model_name}/{logged.version}", "version": logged.version,
                                 "run_id": logged.run_id, "decision": logged.decision}
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
    meta = result.bundle.metadata
    if meta.get("risk_band_thresholds"):  # stored with the model (scoring.risk_bands_by)
        out.print("risk bands when scored: " + ", ".join(f"{b} >= {v:.1%}" for b, v in meta["risk_band_thresholds"].items()
                                                         if v > 0)
                  + f" churn probability (validation churn rate {meta['validation_base_rate']:.1%})", highlight=False)
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
    engine: EngineOpt = None,
) -> None:
    """Backtest over several cutoffs: train on data before each, test on the cutoff after, beside baselines."""
    set_ = with_engine(set_, engine)
    from pipeline.outputs.report.plots import backtest_plot
    from pipeline.training.evaluate import IN_PERIOD, backtest

    cfg, day, ds = setup(data, as_of, params, set_)
    check_as_of(ds, day, training=True)
    with console.status("backtesting...") as status:
        table = backtest(ds, cfg, day, cutoffs or cfg.evaluation.backtest_cutoffs, progress=status.update,
                         in_period_folds=in_period_folds)
    from pipeline.core.files import write_bytes

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
    model: Annotated[str | None, typer.Option("--model", help="MLflow model URI or a saved bundle folder (default: "
                                                   "models:/REGISTRY.MODEL_NAME@champion).")] = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
    engine: EngineOpt = None,
    allow_stale: Annotated[bool, typer.Option(
        "--allow-stale", help="Score even when the data ends more than scoring.max_data_age_days before --as-of.")] = False,
    previous: Annotated[Path | None, typer.Option(
        "--previous", help="An earlier risk list to compare with (default: the newest risk_asof=DATE file before "
        "--as-of in the output's folder, if any).")] = None,
    no_previous: Annotated[bool, typer.Option("--no-previous", help="Compare with no earlier list.")] = False,
) -> None:
    """Score every customer as of a date: risk list with drivers and actions, SHAP values, drift check.

    Safe to re-run: the outputs are one set, switched in together (all new or all old, whatever stops the run),
    and the same inputs give the same files.
    """
    set_ = with_engine(set_, engine)
    import json

    from pipeline.core import runrecord
    from pipeline.core.files import check_writable
    from pipeline.outputs.report import plots
    from pipeline.outputs.sets import OutputSet
    from pipeline.scoring.health import base_health
    from pipeline.scoring.score import score as score_customers
    from pipeline.training import tracking

    cfg = load(params, set_)
    day = parse_date(as_of)
    target = out_path or Path(f"risk_asof={day.isoformat()}.parquet")
    if target.suffix not in (".parquet", ".csv"):
        raise DataError(f"--out {target}: use a .parquet or .csv file name")
    check_writable(target)  # before any work: a read-only or missing folder is found now, not after scoring
    model = model or f"models:/{cfg.registry.model_name}@champion"
    record = runrecord.current()
    tracking.configure()
    if model.startswith(("models:/", "runs:/")):
        tracking.check_stores(cfg, tuning=False)
    with console.status(f"loading model {model}..."):
        loaded = tracking.load_model(model)
    bundle, version = loaded.bundle, loaded.label
    record.model = {"uri": loaded.uri, "label": loaded.label, "version": loaded.version, "run_id": loaded.run_id}
    cfg = model_params(params, set_, bundle.metadata, day)
    ds = open_data(data, cfg)
    check_as_of(ds, day, max_age_days=cfg.scoring.max_data_age_days, setting="scoring.max_data_age_days",
                allow_stale=allow_stale)
    choices = bundle.metadata.get("data_choices")
    if ds.engine == "spark":  # features stay in the cluster, where each partition's customers are scored
        from pipeline.engine.spark.dataset import score_on_spark

        frame, result = score_on_spark(ds, cfg, day, bundle, version, choices, seed=cfg.seed,
                                       keep=lambda f: without_unused_features(check_population(ds, cfg, day, f), bundle))
    else:
        frame = without_unused_features(features_as_of(ds, cfg, day, choices), bundle)
        with console.status(f"scoring and explaining {len(frame):,} customers..."):
            result = score_customers(frame, bundle, day, cfg.scoring, version, targeting=cfg.targeting, value=cfg.value,
                                     seed=cfg.seed)
    risk, changes = result.risk_list, None
    previous_path = previous if previous is not None else None if no_previous else _previous_list(target, day)
    if previous_path is not None:
        risk, changes = _compare_with_previous(previous_path, previous is not None, result, frame, bundle.spec,
                                               currency_of(cfg))
    summary = {**result.summary, "global_families": result.global_families.to_dict("records"),
               "global_features": result.global_features.head(30).to_dict("records"),
               "drift": result.drift.to_dict("records")}
    with console.status("measuring the health of the customer base..."):  # in the customer shards on Spark
        summary["population"], summary["health"] = base_health(ds, cfg.label, day, result.risk_list)
    if changes is not None:
        summary["changes"] = changes
    sample = frame.sample(n=min(3000, len(frame)), random_state=cfg.seed)
    # the sample's SHAP values are those scoring computed already, not computed again
    shap_values = result.contributions.set_index("customer_id").loc[
        sample["customer_id"], [f"churn_{c}" for c in bundle.feature_names]].to_numpy()
    beeswarm = plots.beeswarm_plot(shap_values, bundle.check_features(sample), "SHAP summary (churn, log-odds)")
    with OutputSet(target, record.run_id) as outputs:  # switched in together when the block ends
        outputs.write_table(risk, target.name)
        outputs.write_table(result.contributions, outputs.name_of("_shap.parquet"))
        outputs.write_bytes(json.dumps(summary, indent=1, default=str).encode(), outputs.name_of("_summary.json"))
        outputs.write_bytes(beeswarm, outputs.name_of("_shap_summary.png"))
        for name, sha in outputs.hashes.items():
            record.output(str(target.with_name(name)), sha, (outputs.tmp / name).stat().st_size)
        record.finish(0)
        outputs.write_bytes(json.dumps(record.to_dict(), indent=1, default=str).encode(), outputs.name_of("_run.json"))
    _print_score_summary(result, target)
    for text in result.summary.get("action_notes", []):
        warn(text, "note")
    if changes is not None:
        _print_changes(changes)


def _previous_list(target: Path, day: date) -> Path | None:
    """The list ``churn score`` compares with by default: the newest ``risk_asof=DATE`` list before ``day`` in
    the folder the new list goes to."""
    from pipeline.scoring.changes import previous_list_path

    folder = target.parent
    return previous_list_path(folder.iterdir(), day) if folder.is_dir() else None


def _compare_with_previous(path: Path, explicit: bool, result, frame, spec, currency: str):
    """This run's risk list with the change columns, and the summary's ``changes`` section. A list found by
    default that cannot be read or compared is passed over with a warning; one given with --previous stops the
    run (exit 3)."""
    from pipeline.outputs.sets import read_contributions, read_risk_list
    from pipeline.scoring.changes import compare

    try:
        previous, previous_summary = read_risk_list(path)
        shap_path = _sidecar(path, "_shap.parquet")
        contributions = read_contributions(shap_path) if shap_path.exists() else None
        changed = compare(result.risk_list, result.summary, previous, previous_summary, result.contributions,
                          contributions, frame, spec, currency=currency)
    except DataError as exc:
        if explicit:
            raise DataError(f"--previous {path}: {exc}") from None
        warn(f"the earlier list {path} found beside the output is not compared: {exc} (pass --previous FILE or "
             "--no-previous)")
        return result.risk_list, None
    return changed.risk_list, {"previous_list": str(path), **changed.summary}


def _print_changes(c: dict) -> None:
    since = f"since {c['previous_as_of']} ({Path(c['previous_list']).name})"
    population = f"{c['entered']:,} customers new to the population, {c['left']:,} gone from it"
    if c["comparable"]:
        out.print(f"changes {since}: {c['newly_high']:,} newly at {c['top_band']} risk ({c['newly_high_entered']:,} "
                  f"of them new); risk up 1 point or more for {c['risk_up']:,}, down for {c['risk_down']:,}; "
                  f"{population}", highlight=False)
    else:
        out.print(f"changes {since}: probabilities not compared; {population}", highlight=False)
    if c["note"]:
        note(c["note"])


def model_params(params: Path, overrides: list[str] | None, metadata: dict, day: date | None = None,
                 use: str = "score", features: bool = True) -> Params:
    """Params for using a model: its stored problem (label, population, features, columns, value settings)
    over params.yaml and ``--set`` (a contradicting ``--set`` is refused, exit 2); says which problem it is
    and warns when ``day`` lies in the period the model's training labels covered."""
    from pipeline.build.extensions import prepare_features
    from pipeline.build.problem import describe, labels_end, params_for_problem, stored_problem

    problem = stored_problem(metadata)
    cfg, notes = params_for_problem(params, overrides or [], problem)
    for text in notes:
        note(text)
    if "problem" not in metadata:
        note("this model was saved before models stored their problem definition: only its label settings are "
             "applied, the rest come from params")
    out.print(f"{use}: {describe({**problem, 'label': dataclasses.asdict(cfg.label)})}", highlight=False)
    seen_until = labels_end(metadata)
    if day is not None and seen_until is not None and day < seen_until:
        warn(f"the model was trained on labels up to {seen_until}: as of {day} it scores a period it has seen, so its "
             f"probabilities there are hindsight, not a forecast. Use a model trained as of {day} or earlier (--model) "
             "for an honest list.")
    if features:
        prepare_features(cfg)
    return cfg


def band_rule_line(rule: dict) -> str:
    """How the risk bands were drawn, with the probability thresholds where bands are thresholds."""
    if "thresholds" not in rule:
        shares = ", ".join(f"{b} top {v:.0%}" for b, v in rule["bands"].items())
        return f"risk bands by share of customers (cumulative): {shares}"
    bounds = ", ".join(f"{b} >= {v:.1%}" for b, v in rule["thresholds"].items() if v > 0)
    if rule["by"] == "base_rate_multiple":
        multiples = ", ".join(f"{b} {m:g}x" for b, m in rule["multiples"].items() if m > 0)
        return (f"risk bands: {bounds} churn probability ({multiples} the validation churn rate "
                f"{rule['base_rate']:.1%})")
    return f"risk bands: {bounds} churn probability"


def _print_score_summary(result, target: Path) -> None:
    s = result.summary
    out.print(band_rule_line(s["band_rule"]), highlight=False)
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

    def listing(moved: list[dict]) -> str:
        return ", ".join(f"{d['feature']} (PSI {d['psi']:.2f})" for d in moved)

    if s["drifted_features"]:
        warn(f"features shifted since training: {listing(s['drifted_features'])}", label="data drift")
    else:
        out.print("data drift: no feature over the PSI threshold")
    if s.get("ageing_features_moved"):
        out.print("moved with the age of the customer base, as they do by construction (not drift): "
                  f"{listing(s['ageing_features_moved'])}", highlight=False)
    out.print(f"wrote {target} (+ {_sidecar(target, '_shap.parquet').name}, {_sidecar(target, '_summary.json').name}, "
              f"{_sidecar(target, '_shap_summary.png').name}, run record {_sidecar(target, '_run.json').name}, "
              f"{_sidecar(target, '_manifest.json').name})")


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
    from pipeline.core.files import write_bytes
    from pipeline.outputs.report.html import build_report
    from pipeline.outputs.sets import read_risk_list, write_excel

    cfg = load(params, set_)
    check_outputs(out_path, xlsx)
    frame, summary = read_risk_list(scores)  # refuses a set whose parts come from different runs
    html = build_report(frame, summary, cfg.scoring.report_top_n, currency=currency_of(cfg))
    write_bytes(html.encode("utf-8"), out_path)
    out.print(f"wrote report for {len(frame):,} customers -> {out_path}")
    if xlsx is not None:
        write_excel(frame, xlsx, summary=summary, currency=currency_of(cfg))
        out.print(f"wrote Excel call list for {len(frame):,} customers -> {xlsx}")


def currency_of(cfg: Params) -> str:
    """The currency amounts are in: ``scoring.currency`` (also written in reasons); empty when not set."""
    return cfg.scoring.currency.strip()


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
    engine: EngineOpt = None,
) -> None:
    """Once a risk list's horizon has passed: was the list right, did it point at the value lost, and did the
    actions keep customers (treatment against holdout)? Logs the figures against the model version in MLflow."""
    set_ = with_engine(set_, engine)
    import json

    from pipeline.core.files import write_bytes
    from pipeline.outcomes import figures as oc
    from pipeline.outcomes.tracking import log_outcomes
    from pipeline.outputs.report.outcomes import build_outcomes_report
    from pipeline.outputs.sets import read_risk_list
    from pipeline.training import tracking

    cfg = load(params, set_)
    check_outputs(json_path, html, write_effects)
    frame, summary = read_risk_list(risk_list)  # refuses a set whose parts come from different runs
    if frame.empty:
        raise DataError(f"{risk_list} lists no customer: there is nothing to follow up. Fix: pass a list with customers")
    day = oc.list_as_of(frame, summary)
    if isinstance(summary.get("problem"), dict):  # the problem the list's model was trained for applies again
        cfg = model_params(params, set_, {"problem": summary["problem"]}, use="outcomes of", features=False)
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
        note(logged.message)
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
    auc, pr, brier = ("-" if q[k] is None else f"{q[k]:.4f}" for k in ("roc_auc", "pr_auc", "brier"))
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
    for text in f["notes"]:
        note(text)


@app.command("check-features")
@handle_errors
def check_features(
    data: DataOpt,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Date YYYY-MM-DD to build as of (default: the last transaction day less label.horizon_days).")]
    = None,
    customers: Annotated[int, typer.Option(
        "--customers", help="Check on a fixed sample of this many customers (0 = every customer).")] = 2000,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Check every registered feature family, built-in and your own (features.extra_modules), on your data:
    metadata, determinism, no look-ahead, no mutation of its input. Exit 1 naming each failing feature."""
    set_ = with_engine(set_, engine)
    from datetime import timedelta

    from pipeline.build.contracts import CHECKS, tables_of
    from pipeline.build.contracts import check_features as run_contract
    from pipeline.build.extensions import prepare_features
    from pipeline.core.config import ColumnsConfig

    cfg = load(params, set_)
    added = prepare_features(cfg)
    ds = open_data(data, cfg)
    day = parse_date(as_of) if as_of else ds.date_range()[1] - timedelta(days=cfg.label.horizon_days)
    tables = tables_of(ds, max(customers, 0))
    canonical = dataclasses.replace(cfg, columns=ColumnsConfig())  # the tables are in canonical columns already
    with console.status(f"building features as of {day} three times (again, and with rows after it)..."):
        report = run_contract(tables, canonical, day)
    if added:
        out.print(f"your families (features.extra_modules): {', '.join(added)}", highlight=False)
    for notice in report.notices:
        note(notice)
    failing = {f.feature for f in report.findings}
    t = Table(title=f"feature contract as of {day} on {report.customers:,} customers ({', '.join(CHECKS)})",
              title_justify="left")
    for c in ("family", "features", "failing"):
        t.add_column(c, justify="right" if c == "features" else "left")
    for family in dict.fromkeys(f.family for f in report.spec.features):
        names = [f.name for f in report.spec.features if f.family == family]
        bad = [n for n in names if n in failing]
        t.add_row(family, f"{len(names)}", ", ".join(bad) if bad else "-")
    out.print(t)
    for finding in report.findings:
        console.print(f"[red]fail:[/] {finding}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise ChurnError(f"{len(report.findings)} feature contract check(s) failed (listed above, each naming its "
                         "feature). Fix the family's SQL or metadata and run churn check-features again")
    out.print(f"feature contract: all {len(report.spec.features)} features pass", highlight=False)


def main() -> None:  # pragma: no cover
    app(args=normalise_flags(sys.argv[1:]), prog_name="churn")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
