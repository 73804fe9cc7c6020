"""Files written whole or not at all (atomic single-file writes), file hashes and their checks, process liveness."""

from __future__ import annotations

import csv
import functools
import hashlib
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa

from pipeline.core import runrecord
from pipeline.core.errors import DataError, OutputError, said

SUFFIXES = (".csv", ".parquet")  # outputs


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def process_ended(pid: int) -> bool:
    """Whether the process ``pid`` of this machine, not this one, no longer runs: what it left can go."""
    return pid != os.getpid() and not pid_alive(pid)


@functools.cache
def machine_id() -> str:
    """A short hash of what makes process ids comparable: the host name and, on Linux, the kernel's boot and the
    process-id namespace. A container in a namespace of its own (even one with the host's name, as with host
    networking) gets another hash, so no run ever judges a process it cannot see; a killed container's folders are
    then left, never a living one's removed."""
    def read(read_it) -> str:
        try:
            return read_it()
        except OSError:  # not Linux
            return ""

    boot = read(lambda: Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    namespace = read(lambda: os.readlink("/proc/self/ns/pid"))
    return hashlib.sha256("\0".join([socket.gethostname(), boot, namespace]).encode()).hexdigest()[:8]


def owner_gone(path: Path, prefix: str, stale_after_s: float = 3600.0) -> bool:
    """Whether a temporary file or folder named ``PREFIX`` + ``PID.`` or ``PID-`` + anything was left by a process
    that no longer exists; one without a process id (older versions) counts as left after ``stale_after_s``."""
    import time

    found = re.match(r"(\d+)[.-]", path.name[len(prefix):])
    if found:
        pid = int(found.group(1))
        return process_ended(pid)
    try:
        return time.time() - path.lstat().st_mtime > stale_after_s
    except OSError:
        return False


def clean_leftovers(target: str | Path) -> list[Path]:
    """Remove the temporary files a killed run left beside ``target`` (``.NAME.*.tmp``); returns what it removed."""
    import shutil

    target = Path(target)
    removed = []
    try:
        entries = list(target.parent.glob(f".{target.name}.*.tmp"))
    except OSError:
        return removed
    for entry in entries:
        if owner_gone(entry, f".{target.name}."):
            try:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


def output_error(path: Path, exc: OSError, kept: str = "the previous file is intact") -> OutputError:
    import errno

    what = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
            errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied"}.get(exc.errno, exc.strerror or type(exc).__name__)
    return OutputError(f"cannot write {path}: {what} ({type(exc).__name__}, errno {exc.errno}); {kept}. Fix: free space "
                       "or write to a folder you can write to (--out), then run the command again")


def check_writable(target: str | Path) -> Path:
    """Before any work: make sure ``target``'s folder takes a new file (or, where it does not exist yet, the
    nearest folder above it that does: a run that stops leaves no new folder behind), so an unwritable output is
    found before the run, not after it. Also removes the temporary files a killed run left there."""
    target = Path(target)
    folder = target.parent
    if target.is_dir() and not target.is_symlink():
        raise OutputError(f"cannot write {target}: it is a folder. Fix: pass a file name")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a folder")
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise output_error(folder if not folder.is_dir() or not os.access(folder, os.W_OK) else target, exc,
                            "nothing was done") from None
    clean_leftovers(target)
    return target


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` only if the block succeeds.

    A run killed half way leaves the previous file intact (and a ``.NAME.PID.XXXX.tmp`` file that the next write of
    ``target`` removes); a full disk or an unwritable folder is an ``OutputError`` naming the path.
    """
    target = Path(target)
    tmp_path = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600 files; outputs get the usual permissions
        yield tmp_path
        os.replace(tmp_path, target)
        if (record := runrecord.active()) is not None:
            record.output(str(target), file_sha256(target), target.stat().st_size)
    except OSError as exc:
        raise output_error(target, exc) from None
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


# Parquet is written this many rows at a time: a large frame (a million customers' SHAP values) is not copied into
# Arrow whole before the first byte is written
PARQUET_CHUNK_ROWS = 100_000


def write_parquet(df: pd.DataFrame, dest: Path, chunk_rows: int = PARQUET_CHUNK_ROWS) -> None:
    """``df.to_parquet(dest, index=False)``, converted to Arrow ``chunk_rows`` rows at a time (one row group each)
    where it is longer: the file reads back as the same frame, and the Arrow copy held is one chunk's. The schema
    is inferred over the whole frame first, column by column, so a text column empty in one chunk is still text."""
    if len(df) <= chunk_rows:
        df.to_parquet(dest, index=False)
        return
    with ParquetChunks(dest, pa.Schema.from_pandas(df, preserve_index=False), chunk_rows) as out:
        out.write(df)


class ParquetChunks:
    """A Parquet file written a frame at a time, so a table made in batches (scoring's SHAP values) goes to disk as
    each batch is made and is never held whole: ``write`` each frame (converted to Arrow ``chunk_rows`` rows at a
    time, one row group each), then ``close`` or leave the ``with`` block. The file reads back as the frames'
    concatenation. The schema is ``schema`` or else that of the first frame with rows (an empty frame's text column
    has no type yet), and every frame is converted to it. Left with an error, the partial file is removed."""

    def __init__(self, dest: str | Path, schema: pa.Schema | None = None, chunk_rows: int = PARQUET_CHUNK_ROWS):
        self.dest, self.schema, self.chunk_rows = Path(dest), schema, chunk_rows
        self._writer = None
        self._empty: pd.DataFrame | None = None  # an empty frame written before any rows: its columns, if need be
        self._closed = False

    def __enter__(self) -> ParquetChunks:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        if self._writer is not None:
            self._writer.close()
        self.dest.unlink(missing_ok=True)

    def _open(self, df: pd.DataFrame) -> None:
        import pyarrow.parquet as pq

        self.schema = self.schema or pa.Schema.from_pandas(df, preserve_index=False)
        self._writer = pq.ParquetWriter(self.dest, self.schema)

    def write(self, df: pd.DataFrame) -> None:
        if self._writer is None:
            if self.schema is None and len(df) == 0:
                self._empty = df
                return
            self._open(df)
        for start in range(0, len(df), self.chunk_rows):
            self._writer.write_table(pa.Table.from_pandas(df.iloc[start:start + self.chunk_rows], schema=self.schema,
                                                          preserve_index=False))

    def close(self) -> None:
        """Finish the file (with no rows written, an empty one of ``schema`` or of the empty frames' columns)."""
        if self._closed:
            return
        if self._writer is None:
            if self.schema is None and self._empty is None:
                raise ValueError(f"{self.dest}: nothing was written and no schema was given")
            self._open(self._empty)
        self._writer.close()
        self._closed = True


def write_frame(df: pd.DataFrame, path: Path, dest: Path) -> None:
    """Write ``df`` to ``dest`` in the format ``path``'s suffix names; CSV is formula-safe."""
    if path.suffix == ".parquet":
        write_parquet(df, dest)
    elif path.suffix == ".csv":
        from pipeline.core.safety import neutralise_formulas

        # Text quoted always: a carriage return or newline inside a cell must not split the row.
        neutralise_formulas(df).to_csv(dest, index=False, quoting=csv.QUOTE_NONNUMERIC)
    else:
        raise DataError(f"output {path}: use a .parquet or .csv file name")


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as Parquet or CSV (by suffix), atomically. CSV output is formula-safe."""
    path = Path(path)
    with atomic_path(path) as tmp:
        write_frame(df, path, tmp)
    return path


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unmatched_file(folder: Path, hashes: dict[str, str], first: str = "") -> tuple[str, Path, bool] | None:
    """The first file listed in ``hashes`` (name inside ``folder`` -> SHA-256) that is missing or whose bytes differ
    from its hash, as (name, path, missing); None when every one matches. Checked in name order, ``first`` first."""
    for name in sorted(hashes, key=lambda n: (n != first, n)):
        path = folder / name
        if not path.is_file():
            return name, path, True
        if file_sha256(path) != hashes[name]:
            return name, path, False
    return None


def read_table(path: str | Path, columns: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
    """Read a Parquet or CSV output of this pipeline (ids stay text): every column, or only ``columns`` (those of
    them the file has, in its order; the others are left unread, which for a risk list's text is most of its size)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.suffix not in SUFFIXES:
        raise DataError(f"{path}: not a .parquet or .csv file. Fix: pass the file the command wrote")
    try:
        wanted = None if columns is None else set(columns)
        if path.suffix == ".parquet":
            if wanted is None:
                return pd.read_parquet(path)
            import pyarrow.parquet as pq

            return pd.read_parquet(path, columns=[c for c in pq.read_schema(path).names if c in wanted])
        return pd.read_csv(path, dtype={"customer_id": str}, usecols=None if wanted is None else wanted.__contains__)
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


def _resolved(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def check_separate(outputs: dict[str, str | Path | None], inputs: dict[str, str | Path | None]) -> None:
    """No output over an input or over another output (each named by its option, ``None``: not given): every output
    differs from every other output and every input file, and lies outside every input folder (a data folder is
    read, never written into). Raises ``OutputError`` naming both options and the fix; nothing is written."""
    given_outputs = {option: _resolved(path) for option, path in outputs.items() if path is not None and str(path)}
    given_inputs = {option: _resolved(path) for option, path in inputs.items()
                    if path is not None and str(path) and "://" not in str(path) and not str(path).startswith("file:")}
    seen: dict[Path, str] = {}
    for option, path in given_outputs.items():
        if path in seen:
            raise OutputError(f"{option} and {seen[path]} name the same file {path}: one would replace the other. "
                              "Fix: give each output a name of its own")
        seen[path] = option
        for source, read in given_inputs.items():
            if path == read:
                raise OutputError(f"{option} {path} is the {source} input: writing it would replace what this run "
                                  "reads. Fix: write the output to another file")
            if read.is_dir() and path.is_relative_to(read):
                raise OutputError(f"{option} {path} is inside the {source} folder {read}: outputs never go where the "
                                  "inputs are read from (a later run would read it as data, or it would replace a "
                                  "table). Fix: write it elsewhere, e.g. outputs/")
