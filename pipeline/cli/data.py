"""Data commands: ``churn validate``, ``features``, ``check-features``, ``sample-data`` and ``cdnow``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import (
    AsOfOpt,
    ConsoleLog,
    DataOpt,
    EngineOpt,
    ParamsOpt,
    SetOpt,
    app,
    check_paths,
    console,
    handle_errors,
    out,
    print_table,
    with_engine,
)
from pipeline.core.config import TABLES
from pipeline.core.errors import ChurnError, OutputError


@app.command()
@handle_errors
def validate(data: DataOpt, params: ParamsOpt = Path("params.yaml"), set_: SetOpt = None,
             engine: EngineOpt = None) -> None:
    """Check the input tables against the data contract and account for every row."""
    from pipeline.build import run

    check_paths({}, {"--data": data, "--params": params})
    ds = run.validate(params, data, with_engine(set_, engine), ConsoleLog())
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
    from pipeline.build import run

    check_paths({"--out": out_path or Path(f"features_asof={as_of}.parquet")}, {"--data": data, "--params": params})
    made = run.features(params, data, as_of, out_path, with_engine(set_, engine), ConsoleLog())
    out.print(f"wrote {len(made.frame):,} customers x {made.frame.shape[1] - 1} features -> {made.path}")


@app.command("sample-data")
@handle_errors
def sample_data(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the five tables to.")],
    customers: Annotated[int, typer.Option("--customers", help="Number of customers.")] = 10_000,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet (parquet writes folders of parts).")] = "csv",
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: params seed).")] = None,
    kind: Annotated[str, typer.Option("--kind", help="retail (a shop, some customers subscribed) or subscription "
                                      "(a monthly social-network subscription: activities, renewal charges).")] = "retail",
    seasonality: Annotated[float, typer.Option(
        "--seasonality", help="Strength of the retail year: purchases peak before Christmas and lull in the summer "
        "(1 = default, 0 = no seasons, 2 = twice as strong).")] = 1.0,
    campaigns: Annotated[int, typer.Option(
        "--campaigns", help="Past retention campaigns to simulate (0-8, 60 days apart, the last as of 2025-09-30): "
        "their lists with randomised holdouts and the true effects go to OUT/campaigns, for churn learn-effects.")] = 0,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Generate realistic sample data with planted churn causes (seeded)."""
    from rich.progress import Progress

    from pipeline.build import run
    from pipeline.data.samples import check_sample, write_sample

    check_sample(kind, fmt, customers, seasonality, campaigns)
    check_paths({}, {"--params": params})
    held = sorted(p.name for p in out_dir.glob("*") if p.name.split(".")[0] in TABLES) if out_dir.is_dir() else []
    if held:
        raise OutputError(f"--out {out_dir} already holds {', '.join(held)}: sample data would replace them. Fix: "
                          "choose an empty or new folder, or remove those tables first")
    cfg = run.load(params, set_)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("generating", total=customers)
        counts = write_sample(out_dir, customers, seed if seed is not None else cfg.seed, kind, fmt,
                              progress=lambda n: progress.update(task, advance=n), seasonality=seasonality,
                              campaigns=campaigns)
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
    from pipeline.build import run

    check_paths({}, {"--data": data, "--params": params})
    made = run.check_features(params, data, as_of, customers, with_engine(set_, engine), ConsoleLog())
    report = made.report
    if made.added:
        out.print(f"your families (features.extra_modules): {', '.join(made.added)}", highlight=False)
    for notice in report.notices:
        console.print(f"[cyan]note:[/] {notice}", highlight=False, soft_wrap=True)
    failing = {f.feature for f in report.findings}
    rows = []
    for family in dict.fromkeys(f.family for f in report.spec.all_features):
        names = [f.name for f in report.spec.all_features if f.family == family]
        bad = [n for n in names if n in failing]
        rows.append([family, f"{len(names)}", ", ".join(bad) if bad else "-"])
    print_table(f"feature contract as of {made.as_of} on {report.customers:,} customers ({', '.join(made.checks)})",
                ["family", "features", "failing"], rows, left=("family", "failing"))
    for finding in report.findings:
        console.print(f"[red]fail:[/] {finding}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise ChurnError(f"{len(report.findings)} feature contract check(s) failed (listed above, each naming its "
                         "feature). Fix the family's SQL or metadata and run churn check-features again")
    out.print(f"feature contract: all {len(report.spec.all_features)} features pass", highlight=False)

