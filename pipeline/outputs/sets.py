"""Output sets: the files one run writes, switched in together with a manifest of their hashes; reading them back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from pipeline.core.errors import DataError, OutputError, said
from pipeline.core.files import (
    atomic_path,
    clean_leftovers,
    file_sha256,
    output_error,
    owner_gone,
    read_table,
    unmatched_file,
    write_frame,
)


def set_folder(main: str | Path) -> Path:
    """The hidden folder holding the output sets of a main output (``.risk.parquet.set`` for ``risk.parquet``)."""
    main = Path(main)
    return main.with_name(f".{main.name}.set")


def manifest_path(main: str | Path) -> Path:
    """The manifest beside a main output: which run wrote the set, and every file's SHA-256."""
    main = Path(main)
    return main.with_name(f"{main.stem}_manifest.json")


class OutputSet:
    """The files of one run (a risk list and its sidecars), written as one set: all new or all old.

    The files are written into a fresh folder ``.NAME.set/.tmp-PID-RUN``, fsynced, given a manifest (run id and
    every file's SHA-256) and renamed to ``.NAME.set/RUN``; then one rename switches the link ``.NAME.set/current``
    to it. Each output name (``risk.parquet``, ``risk_summary.json``...) is a fixed link through ``current``, so a
    run killed at any moment leaves the previous set whole, and readers see one set or the other. Earlier sets
    and the folders of killed runs are removed by the next run. A full disk or an unwritable folder is an
    ``OutputError`` naming the path, with the previous set intact.

    Use as a context manager: the set is switched in when the block ends without an error.
    """

    def __init__(self, main: str | Path, run_id: str):
        self.main = Path(main)
        self.run_id = run_id
        self.root = set_folder(self.main)
        self.tmp = self.root / f".tmp-{os.getpid()}-{run_id}"
        self.hashes: dict[str, str] = {}

    def __enter__(self) -> OutputSet:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with self._lock():
                self._clean(keep=None)
            self.tmp.mkdir()
        except OSError as exc:
            raise output_error(self.root, exc, "the previous outputs are intact") from None
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        import shutil

        if exc_type is None:
            try:
                self._commit()
                return
            except BaseException as failed:
                shutil.rmtree(self.tmp, ignore_errors=True)
                if isinstance(failed, OSError):
                    raise output_error(self.main, failed, "the previous outputs are intact") from None
                raise
        shutil.rmtree(self.tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise output_error(getattr(exc, "filename", None) or self.main, exc,
                                "the previous outputs are intact") from None

    def name_of(self, suffix: str) -> str:
        """The name of the sidecar ``STEM + suffix`` (``_summary.json``) of the main output."""
        return f"{self.main.stem}{suffix}"

    def write_table(self, df: pd.DataFrame, name: str) -> None:
        dest = self.tmp / name
        write_frame(df, self.main.with_name(name), dest)
        self._written(dest)

    def write_bytes(self, data: bytes, name: str) -> None:
        dest = self.tmp / name
        dest.write_bytes(data)
        self._written(dest)

    def move_in(self, source: Path, name: str) -> None:
        """Take the complete file ``source`` into the set as ``name``, moved rather than copied where it is on the
        same file system (the SHAP file, written batch by batch while scoring)."""
        import shutil

        dest = self.tmp / name
        shutil.move(source, dest)
        self._written(dest)

    def _written(self, dest: Path) -> None:
        with open(dest, "rb") as fh:
            os.fsync(fh.fileno())
        self.hashes[dest.name] = file_sha256(dest)

    @contextmanager
    def _lock(self):
        import fcntl

        with open(self.root / "lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _commit(self) -> None:
        from datetime import UTC

        doc = {"run_id": self.run_id, "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
               "main": self.main.name, "files": dict(sorted(self.hashes.items()))}
        manifest = self.tmp / manifest_path(self.main).name
        manifest.write_text(json.dumps(doc, indent=1))
        with open(manifest, "rb") as fh:
            os.fsync(fh.fileno())
        final = self.root / self.run_id
        with self._lock():
            os.rename(self.tmp, final)
            _fsync_dir(self.root)
            link = self.root / f".current.{os.getpid()}.tmp"
            if link.is_symlink():
                link.unlink()
            os.symlink(self.run_id, link)
            os.replace(link, self.root / "current")  # the switch: one rename
            _fsync_dir(self.root)
            for name in [*self.hashes, manifest.name]:
                entry = self.main.with_name(name)
                clean_leftovers(entry)  # links a killed switch left half made
                want = f"{self.root.name}/current/{name}"
                if entry.is_symlink() and os.readlink(entry) == want:
                    continue
                tmp_link = entry.with_name(f".{name}.{os.getpid()}.link.tmp")
                if tmp_link.is_symlink() or tmp_link.exists():
                    tmp_link.unlink()
                os.symlink(want, tmp_link)
                os.replace(tmp_link, entry)
            self._clean(keep=self.run_id)

    def _clean(self, keep: str | None) -> None:
        """Remove the folders of killed runs and, once a set is switched in (``keep``), the sets before it."""
        import shutil

        for entry in self.root.iterdir():
            if entry.name in ("current", "lock", keep):
                continue
            if entry.name.startswith(".current."):  # the link of a switch that was killed before its rename
                if owner_gone(entry, ".current."):
                    entry.unlink(missing_ok=True)
            elif entry.is_symlink():
                continue
            elif entry.name.startswith(".tmp-"):
                if owner_gone(entry, ".tmp-"):
                    shutil.rmtree(entry, ignore_errors=True)
            elif keep is not None and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_output_set(main: str | Path) -> dict | None:
    """Check that the files beside a main output belong to one run: every file its manifest lists is there with
    its recorded SHA-256. Returns the manifest (None for outputs written before manifests, which are not checked).

    Raises:
        DataError: naming the file that is missing or belongs to another run.
    """
    main = Path(main)
    path = manifest_path(main)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        files = dict(doc["files"])
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: the output set's manifest cannot be read ({type(exc).__name__}). Fix: run `churn score` "
                        "again to write the set again") from None
    if main.name not in files:
        raise DataError(f"{path} does not list {main.name}: the manifest belongs to another output. Fix: run `churn "
                        "score` again, or pass the risk list the manifest names")
    bad = unmatched_file(main.parent, files, first=main.name)
    if bad is not None:
        _, part, missing = bad
        if missing:
            raise DataError(f"{part} is missing from the output set of run {doc.get('run_id')} ({path.name}). Refusing a "
                            "set whose parts disagree. Fix: run `churn score` again to write the whole set")
        raise DataError(f"{part} does not belong to run {doc.get('run_id')} that wrote this set ({path.name}: its "
                        "content differs from the one recorded). Refusing a set whose parts disagree (files from "
                        "two runs, or edited). Fix: run `churn score` again to write the whole set")
    return doc


def read_risk_list(path: str | Path, columns: list[str] | tuple[str, ...] | None = None) -> tuple[pd.DataFrame, dict]:
    """The risk list and, when present beside it, its summary sidecar. ``columns``: only those are read (the file is
    still checked to be a whole risk list): comparing with an earlier list needs five of its 40-odd columns, and
    its reasons' text is most of its size."""
    path = Path(path)
    check_output_set(path)
    required = {"customer_id", "churn_probability", "risk_band", "loyalty_tier", "value_at_risk", "as_of",
                "model_version", "action"}
    frame = read_table(path, None if columns is None else [*required, *columns])
    missing = required - set(frame.columns)
    if missing:
        raise DataError(f"{path} is not a risk list from `churn score`: it lacks {sorted(missing)}")
    if columns is not None:
        frame = frame[[c for c in frame.columns if c in set(columns)]]
    if path.suffix == ".csv":  # CSV output carries neutralising quotes; show the original text
        from pipeline.core.safety import restore_formulas

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
                max_rows: int | None = None) -> Path:
    """Write the risk list as an .xlsx workbook for retention teams, atomically.

    Sheets (see :mod:`pipeline.outputs.excel`): the call list of customers to contact in priority order, the
    held-out and win-back customers, every column for analysts, and the run's definitions. Text cells are stored
    as text (never formulas), numbers stay numbers. Linear in rows.

    Args:
        frame: The risk list, one row per customer.
        out: The .xlsx file to write; replaced only once it is complete.
        summary: The risk list's summary sidecar, as :func:`read_risk_list` returns it.
        currency: Currency shown with amounts (``"EUR"``); empty for plain numbers.
        max_rows: Customers a sheet may hold (None: Excel's limit); beyond it the top by priority.

    Returns:
        The path written.
    """
    from pipeline.outputs.excel import EXCEL_MAX_ROWS, write_workbook

    out = Path(out)
    with atomic_path(out) as tmp:
        write_workbook(frame, tmp, summary, currency, EXCEL_MAX_ROWS if max_rows is None else max_rows)
    return out


def read_contributions(path: str | Path, prefix: str = "churn_", ids: Iterable | None = None) -> pd.DataFrame:
    """A risk list's SHAP file (``<stem>_shap.parquet``): ``customer_id`` and the columns starting with ``prefix``
    (the churn model's contributions in log-odds by default), the others left unread; with ``ids`` (customer ids,
    compared as text) only those customers' rows, in the file's order, read a row group at a time (a comparison
    with the previous list needs the customers whose risk rose, not the 580 MB of every customer's at 684,000)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        names = pq.read_schema(path).names
        columns = ["customer_id", *(c for c in names if c.startswith(prefix))]
        if ids is None:
            return pd.read_parquet(path, columns=columns)
        wanted, file = pa.array([str(i) for i in ids], pa.string()), pq.ParquetFile(path)
        parts = []
        # one row group held at a time (``write_parquet``: 100,000 rows); no customer asked for: nothing read
        for group in range(file.num_row_groups if len(wanted) else 0):
            rows = file.read_row_group(group, columns=columns)
            parts.append(rows.filter(pc.is_in(rows.column("customer_id").cast(pa.string()), value_set=wanted)))
        return (pa.concat_tables(parts) if parts else file.schema_arrow.empty_table().select(columns)).to_pandas()
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:  # KeyError: no customer_id column
        raise DataError(f"{path}: cannot be read as a risk list's SHAP file ({said(exc, 160)}). Fix: pass the list "
                        "`churn score` wrote with its SHAP file beside it, complete and unchanged, or remove the "
                        "SHAP file (changes are then given without their reasons)") from None
