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
console = Console(stderr=True)
out = Console()

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
    from pipeline.build import build_features, context_for, feature_spec
    from pipeline.io import write_table

    cfg = load(params, set_)
    day = parse_date(as_of)
    ds = open_data(data, cfg)
    _, notices = feature_spec(context_for(ds, cfg, day))
    for n in notices:
        console.print(f"[cyan]note:[/] {n}")
    with console.status(f"building features as of {day}..."):
        frame = build_features(ds, cfg, day)
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


def main() -> None:  # pragma: no cover
    app(prog_name="churn")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
