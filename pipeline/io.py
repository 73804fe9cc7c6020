"""The only module that touches storage: finding input tables, opening the engine, writing outputs."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from pipeline.config import TABLES, EngineConfig
from pipeline.errors import ConfigError, DataError, said

SUFFIXES = (".csv", ".parquet")


def sql_string(text: str) -> str:
    """``text`` as an SQL string literal (a path, an id)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class TableSource:
    """Where one input table comes from: a file, a folder of Parquet parts, or an in-memory frame."""

    name: str
    path: Path | None = None
    frame: pd.DataFrame | None = None

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else f"<{self.name} frame>"

    @property
    def is_text(self) -> bool:
        """CSV: every value is text that validation parses (and stores once, typed)."""
        return self.path is not None and not self.path.is_dir() and self.path.suffix != ".parquet"

    def scan_sql(self, con: duckdb.DuckDBPyConnection) -> str:
        """A FROM-clause expression that reads this table; CSV is read as text so nothing is lost."""
        if self.frame is not None:
            view = f"_frame_{self.name}"
            con.register(view, self.frame)
            return view
        assert self.path is not None
        path = str(self.path)
        if self.path.is_dir():
            return f"read_parquet({sql_string(path + '/**/*.parquet')}, union_by_name=true)"
        if self.path.suffix == ".parquet":
            return f"read_parquet({sql_string(path)})"
        return f"read_csv({sql_string(path)}, all_varchar=true, header=true)"


def discover_tables(data_dir: str | Path) -> tuple[dict[str, TableSource], list[str]]:
    """Find the known tables in ``data_dir``; return them and the names of entries that are not tables."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist. Pass --data DIR with a transactions.csv or .parquet in it.")
    found: dict[str, TableSource] = {}
    unknown: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.name.lower() in {"readme.md", "license", "attribution.md"}:
            continue
        stem = entry.name
        for suffix in SUFFIXES:
            if entry.is_file() and stem.endswith(suffix):
                stem = stem[: -len(suffix)]
                break
        else:
            if not (entry.is_dir() and any(entry.rglob("*.parquet"))):
                unknown.append(entry.name)
                continue
        if stem not in TABLES:
            unknown.append(entry.name)
            continue
        if stem in found:
            raise DataError(
                f"{root}: table '{stem}' is given twice ({found[stem].path.name} and {entry.name}). Keep one."
            )
        found[stem] = TableSource(stem, path=entry)
    return found, unknown


def frames_as_sources(frames: dict[str, pd.DataFrame]) -> dict[str, TableSource]:
    """Wrap in-memory frames (tests, notebooks) as sources, so they pass through the same validation."""
    unknown = set(frames) - set(TABLES)
    if unknown:
        raise DataError(f"unknown tables {sorted(unknown)}; known tables are {', '.join(TABLES)}")
    return {name: TableSource(name, frame=df) for name, df in frames.items()}


def connect(engine: EngineConfig, temp_dir: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to disk beyond ``engine.memory_limit`` (out of core)."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    try:
        con.execute(f"SET memory_limit = {sql_string(engine.memory_limit)}")
    except duckdb.Error as exc:
        raise ConfigError(f"engine.memory_limit: '{engine.memory_limit}' is not a memory size ({exc}). Fix: use a "
                          "size such as 8GB or 500MB, or a share of the machine's memory such as 50%") from None
    con.execute("SET preserve_insertion_order = false")
    if engine.threads > 0:
        con.execute(f"SET threads = {int(engine.threads)}")
    if temp_dir is not None:
        con.execute(f"SET temp_directory = {sql_string(str(temp_dir))}")
    return con


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` only if the block succeeds.

    A run killed half way leaves the previous file intact.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600 files; outputs get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as Parquet or CSV (by suffix), atomically. CSV output is formula-safe."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            from pipeline.safety import neutralise_formulas

            # Text quoted always: a carriage return or newline inside a cell must not split the row.
            neutralise_formulas(df).to_csv(tmp, index=False, quoting=csv.QUOTE_NONNUMERIC)
        else:
            raise DataError(f"output {path}: use a .parquet or .csv file name")
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a Parquet or CSV output of this pipeline (ids stay text)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.suffix not in SUFFIXES:
        raise DataError(f"{path}: not a .parquet or .csv file. Fix: pass the file the command wrote")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"customer_id": str})
    except (OSError, ValueError, UnicodeDecodeError, pa.ArrowException) as exc:  # ParserError is a ValueError
        kind = "CSV" if path.suffix == ".csv" else "Parquet"
        raise DataError(f"{path}: cannot be read as {kind} ({said(exc, 160)}). Fix: pass the file the command "
                        "wrote, complete and unchanged (write it again if it was cut short or edited)") from None


def write_bytes(data: bytes, path: str | Path) -> Path:
    """Write bytes (a report page, a chart, a JSON summary) atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def read_risk_list(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """The risk list and, when present beside it, its summary sidecar."""
    path = Path(path)
    frame = read_table(path)
    required = {"customer_id", "churn_probability", "risk_band", "loyalty_tier", "value_at_risk", "as_of",
                "model_version", "action"}
    missing = required - set(frame.columns)
    if missing:
        raise DataError(f"{path} is not a risk list from `churn score`: it lacks {sorted(missing)}")
    if path.suffix == ".csv":  # CSV output carries neutralising quotes; show the original text
        from pipeline.safety import restore_formulas

        frame = restore_formulas(frame)
    summary_path = path.with_name(f"{path.stem}_summary.json")
    try:
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{summary_path}: the risk list's summary is not valid JSON ({exc}). Fix: run `churn score` "
                        "again to rewrite it, or remove it (the report then leaves out the drift warnings and "
                        "other figures only it holds)") from None
    return frame, summary


def write_excel(frame: pd.DataFrame, out: str | Path, summary: dict | None = None, currency: str = "",
                max_rows: int = 1_048_575) -> Path:
    """Write the risk list as an .xlsx workbook for retention teams, atomically.

    Three sheets (see :mod:`pipeline.excel`): the call list in priority order, every column, and the
    run's definitions. Text cells are stored as text (never formulas), numbers stay numbers. Linear in rows.

    Args:
        frame: The risk list, one row per customer.
        out: The .xlsx file to write; replaced only once it is complete.
        summary: The risk list's summary sidecar, as :func:`read_risk_list` returns it.
        currency: Currency shown with amounts (``"EUR"``); empty for plain numbers.
        max_rows: Customers a sheet may hold (Excel's limit by default); beyond it the top by priority.

    Returns:
        The path written.
    """
    from pipeline.excel import write_workbook

    out = Path(out)
    with atomic_path(out) as tmp:
        write_workbook(frame, tmp, summary, currency, max_rows)
    return out
