"""The only module that touches storage: finding input tables, opening the engine, writing outputs."""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from pipeline import runrecord
from pipeline.config import TABLES, EngineConfig, FormatConfig
from pipeline.errors import ConfigError, DataError, OutputError, said

SUFFIXES = (".csv", ".parquet")  # outputs
INPUT_SUFFIXES = (".csv", ".tsv", ".xlsx", ".parquet")  # what a data folder's tables may be
TEXT_SUFFIXES = (".csv", ".tsv")
# encodings the engine's CSV reader decodes itself; others are transcoded to a UTF-8 copy first
ENGINE_ENCODINGS = {"utf-8": "utf-8", "utf-16": "utf-16", "utf-16-le": "utf-16", "iso8859-1": "latin-1"}
CHUNK = 1 << 20


def sql_string(text: str) -> str:
    """``text`` as an SQL string literal (a path, an id)."""
    return "'" + text.replace("'", "''") + "'"


URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/|file:", re.IGNORECASE)  # s3a://b/x, hdfs:///x, file:/x, file:x


def is_uri(data: str | Path) -> bool:
    """Whether ``--data`` names a place by URI (``s3a://bucket/churn``, ``file:///data``), not a local path. A
    one-letter scheme is a Windows drive (``C:\\data``); a ``pathlib.Path`` made of a URI (``s3a:/bucket/churn``,
    one slash left) still counts."""
    return URI.match(str(data)) is not None


@dataclass(frozen=True)
class TableSource:
    """Where one input table comes from: a file, a folder of Parquet parts, or an in-memory frame.

    ``path`` is a ``pathlib.Path``, or for the Spark engine a ``pipeline.engine.spark_fs.HadoopPath`` (a URI read
    through Hadoop's file systems) with the same ``name``, ``suffix``, ``is_dir``, ``is_file``, ``iterdir``, ``rglob``,
    ``absolute`` and ``open``. ``fmt`` says how the file is written; ``staged`` is what is read in its place where
    the engine cannot read it as it is (a UTF-8 copy of a file in another encoding, a workbook's sheet as text), and
    ``encoding`` the engine's own decoding of a text file."""

    name: str
    path: Path | None = None
    frame: pd.DataFrame | None = None
    fmt: FormatConfig = field(default_factory=FormatConfig)
    staged: Path | pa.Table | None = None
    encoding: str = "utf-8"

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else f"<{self.name} frame>"

    @property
    def suffix(self) -> str:
        return "" if self.path is None or self.path.is_dir() else self.path.suffix.lower()

    @property
    def is_text(self) -> bool:
        """CSV, TSV and workbooks: every value is text that validation parses (and stores once, typed)."""
        return self.suffix in (*TEXT_SUFFIXES, ".xlsx")

    @property
    def is_csv(self) -> bool:
        return self.suffix in TEXT_SUFFIXES

    def csv_options(self) -> str:
        """The CSV reader's options: text only, quotes as RFC 4180 has them whatever the sniffer's sample saw
        (a quoted delimiter or line break first met after its 20,480 lines stops the read otherwise)."""
        options = ["all_varchar=true", "header=true", "quote='\"'", "escape='\"'"]
        delimiter = self.fmt.delimiter_char or ("\t" if self.suffix == ".tsv" else "")
        if delimiter:
            options.append(f"delim={sql_string(delimiter)}")
        if self.encoding != "utf-8" and not isinstance(self.staged, Path):
            options.append(f"encoding={sql_string(self.encoding)}")
        return ", ".join(options)

    def scan_sql(self, con: duckdb.DuckDBPyConnection) -> str:
        """A FROM-clause expression that reads this table; CSV is read as text so nothing is lost."""
        if self.frame is not None or isinstance(self.staged, pa.Table):
            view = f"_frame_{self.name}"
            con.register(view, self.frame if self.frame is not None else self.staged)
            return view
        assert self.path is not None
        path = str(self.path)
        if self.path.is_dir():
            return f"read_parquet({sql_string(path + '/**/*.parquet')}, union_by_name=true)"
        if self.suffix == ".parquet":
            return f"read_parquet({sql_string(path)})"
        read = str(self.staged) if isinstance(self.staged, Path) else path
        return f"read_csv({sql_string(read)}, {self.csv_options()})"


def discover_tables(data_dir) -> tuple[dict[str, TableSource], list[str]]:
    """Find the known tables in ``data_dir``; return them and the names of entries that are not tables.

    ``data_dir`` is a local folder (``str`` or ``Path``), or a folder at a URI as a path object of the Spark engine
    (``pipeline.engine.spark_fs.hadoop_folder``); a URI given as text is an error saying so."""
    if isinstance(data_dir, str | Path) and is_uri(data_dir):
        local = re.sub(r"^file:(//(localhost)?)?", "", str(data_dir), flags=re.IGNORECASE)
        fix = (f"pass it as the local path {local}, or run with --engine spark" if str(data_dir).lower().startswith("file:")
               else "run with --engine spark (engine.kind: spark), which reads it through Hadoop's file systems, or copy "
               "the data to a local folder and pass that")
        raise DataError(f"--data {data_dir} is a URI: the single-machine engine (engine.kind: duckdb) reads local "
                        f"folders only. Fix: {fix}")
    root = Path(data_dir) if isinstance(data_dir, str) else data_dir
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist. Pass --data DIR with a transactions table in it "
                        "(.csv, .tsv, .xlsx or .parquet).")
    found: dict[str, TableSource] = {}
    unknown: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.name.lower() in {"readme.md", "license", "attribution.md"}:
            continue
        stem = entry.name
        for suffix in INPUT_SUFFIXES:
            if entry.is_file() and stem.lower().endswith(suffix):
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


def unusable_entry(name: str) -> tuple[str, str, bool]:
    """Why an entry of a data folder is not read, the fix, and whether it looks meant as a table (a known
    table's name in a format that is not read: going on without it would quietly drop a table)."""
    stem, _, rest = name.partition(".")
    formats = "CSV (.csv), tab-separated text (.tsv), an Excel workbook (.xlsx) or Parquet (.parquet or a folder of parts)"
    if stem in TABLES:
        kind = {"xls": "an old-style Excel workbook (.xls)", "xlsm": "a macro workbook (.xlsm)"}.get(
            rest.lower(), f"a .{rest} file" if rest else "a folder without Parquet parts")
        return (f"the {stem} table is {kind}, a format that is not read",
                f"save it as {formats}, named {stem}.csv, {stem}.tsv, {stem}.xlsx or {stem}.parquet", True)
    return ("unknown table, not read",
            f"name it after one of the tables {', '.join(TABLES)} as {formats}, or move it out", False)


def sniff_encoding(path: Path) -> tuple[str, str]:
    """The encoding a text file's first bytes show beyond doubt (a byte order mark, or UTF-16's zero bytes
    beside ASCII), and a note saying so; ``("", "")`` when they show none (then UTF-8 is assumed). ``path``: a
    ``Path`` or another path object with ``open`` (a URI read through Hadoop)."""
    with open(path, "rb") if isinstance(path, str | os.PathLike) else path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", "starts with a UTF-16 byte order mark"
    sample = head[: len(head) // 2 * 2]
    if len(sample) >= 8:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > 0.4 * len(sample) / 2 and even == 0:
            return "utf-16-le", "has UTF-16 (little-endian) zero bytes beside its ASCII"
        if even > 0.4 * len(sample) / 2 and odd == 0:
            return "utf-16-be", "has UTF-16 (big-endian) zero bytes beside its ASCII"
    return "", ""


def first_bad_bytes(path: Path, encoding: str = "utf-8") -> tuple[int, bytes, bytes] | None:
    """The number of the line holding the first bytes that are not ``encoding``, those bytes and the line's
    (None when there are none). Streams the file in chunks."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines, tail = 0, b""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                start = max(0, exc.start)
                before = chunk[:start]
                line_start = tail + before if b"\n" not in before else before.rsplit(b"\n", 1)[1]
                rest = chunk[start:].split(b"\n", 1)[0]
                return lines + before.count(b"\n") + 1, chunk[start:start + 4], (line_start + rest)[:200]
            lines += chunk.count(b"\n")
            tail = chunk.rsplit(b"\n", 1)[-1] if b"\n" in chunk else tail + chunk
    return None


def likely_encoding(path: Path) -> tuple[str, str]:
    """For a text file that is not UTF-8: the legacy encoding it most likely is, and a word as it reads
    in it (a guess for the message, never applied: an 8-bit encoding reads any bytes). Chinese (GBK/GB18030)
    decodes without an error into CJK characters; accented Western letters (latin-1) stand alone among ASCII
    ones or in pairs; Cyrillic (cp1251) comes in runs of letters."""
    with open(path, "rb") as fh:
        sample = fh.read(CHUNK)
    if len(sample) == CHUNK and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]  # whole lines: no character cut in two
    high = [i for i, b in enumerate(sample) if b >= 0x80]
    if not high:
        return "latin-1", ""
    chinese = sample.decode("gb18030", errors="replace")
    wide = [c for c in chinese if ord(c) >= 0x80]
    if "\ufffd" not in chinese and sum(1 for c in wide if "\u4e00" <= c <= "\u9fff") >= 0.5 * len(wide):
        encoding = "gb18030"
    else:
        runs = sum(1 for i in high if i == 0 or sample[i - 1] < 0x80)  # runs of consecutive non-ASCII bytes
        encoding = "latin-1" if len(high) < 2 * runs else "cp1251"
    words = re.findall(r"\w*[^\x00-\x7f]\w*", sample.decode(encoding, errors="replace"))
    return encoding, words[0] if words else ""


def transcode(path: Path, encoding: str, folder: str | None) -> Path:
    """A UTF-8 copy of a text file in ``encoding``, streamed in chunks, in ``folder`` (the system's
    temporary folder when None); the caller removes it."""
    fd, tmp = tempfile.mkstemp(prefix=f"churn-{path.stem}-", suffix=".csv", dir=folder)
    decoder = codecs.getincrementaldecoder("utf-8-sig" if encoding == "utf-8" else encoding)()
    lines = 0
    try:
        with open(path, "rb") as src, os.fdopen(fd, "w", encoding="utf-8", newline="") as dst:
            while chunk := src.read(CHUNK):
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    at = lines + chunk[:max(0, exc.start)].decode(encoding, errors="replace").count("\n") + 1
                    raise DataError(
                        f"{path}: line {at} holds bytes that are not {encoding} ({chunk[exc.start:exc.start + 4]!r}). "
                        f"Fix: set input.encoding (or input.tables.{path.stem}.encoding) to the file's encoding, or "
                        "save it as UTF-8 text") from None
                lines += text.count("\n")
                dst.write(text)
            dst.write(decoder.decode(b"", final=True))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _cell_text(value: object) -> str | None:
    """A workbook cell as the text a CSV export would hold: whole numbers without a decimal point, other
    numbers in full (shortest exact form), dates and times in ISO 8601."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    text = str(value)
    return text if text.strip() else None


def read_sheet(path: Path, sheet: str = "") -> pa.Table:
    """A workbook's sheet (``sheet``, or the first) as a table of text, read row by row (openpyxl read-only)
    so it goes through the same checks as CSV. Rows with no value at all are skipped, as blank lines are. A
    workbook at a URI (a path object of the Spark engine) is read into memory first: a zip file is read by seeking."""
    from openpyxl import load_workbook

    stored = path if isinstance(path, str | os.PathLike) else io.BytesIO(path.read_bytes())
    try:
        book = load_workbook(stored, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zip, XML and its own errors for a damaged file
        raise DataError(f"{path}: cannot be read as an Excel workbook ({said(exc, 160)}). Fix: save it again "
                        "from Excel as .xlsx (Excel Workbook), or export the sheet as CSV UTF-8") from None
    try:
        if sheet and sheet not in book.sheetnames:
            raise DataError(f"{path}: has no sheet {sheet!r}; its sheets are {', '.join(book.sheetnames)}. Fix: set "
                            "input.sheet (or input.tables.NAME.sheet) to one of them")
        page = book[sheet] if sheet else book.worksheets[0]
        rows = page.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None or all(h is None for h in header):
            raise DataError(f"{path}: the sheet {page.title!r} is empty or does not start with a header row. Fix: put "
                            "the table on the first sheet (a header row, then a row per record) or name its sheet "
                            "in input.sheet")
        names = [str(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(header)]
        while names and header[len(names) - 1] is None:  # empty header cells at the right end: no column
            names.pop()
        columns: list[list[str | None]] = [[] for _ in names]
        for row in rows:
            cells = [_cell_text(v) for v in row[: len(names)]]
            if any(c is not None for c in cells):
                cells += [None] * (len(names) - len(cells))
                for column, cell in zip(columns, cells, strict=True):
                    column.append(cell)
        return pa.table({n: pa.array(c, pa.string()) for n, c in zip(names, columns, strict=True)})
    finally:
        book.close()


def sniffed_note(source: TableSource, why: str) -> str:
    """The notice that a text file was read as UTF-16 because its first bytes show it (``sniff_encoding``)."""
    return (f"{source.name}: {source.path.name} {why}, so it was read as UTF-16 (set input.tables."
            f"{source.name}.encoding to say so)")


@contextmanager
def readable(source: TableSource, fmt: FormatConfig, temp_dir: str | None = None) -> Iterator[tuple[TableSource, str]]:
    """``source`` made readable by the engine under the format settings ``fmt``, with a note of what was
    detected ("" if nothing): an Excel sheet as text, a file in an encoding the engine cannot decode
    copied to UTF-8 (under ``temp_dir``, removed afterwards), a byte order mark followed."""
    if source.path is None or not source.is_text:
        yield replace(source, fmt=fmt), ""
        return
    if source.suffix == ".xlsx":
        yield replace(source, fmt=fmt, staged=read_sheet(source.path, fmt.sheet)), ""
        return
    note, encoding = "", fmt.encoding
    sniffed, why = sniff_encoding(source.path)
    if not encoding and sniffed:
        encoding = sniffed
        note = sniffed_note(source, why)
    name = codecs.lookup(encoding or "utf-8").name
    engine = ENGINE_ENCODINGS.get(name)
    if name.startswith("utf-16"):  # the engine reads little-endian UTF-16; Python the rest
        with open(source.path, "rb") as fh:
            big_mark = fh.read(2) == b"\xfe\xff"
        if big_mark:
            engine, name = None, "utf-16"  # Python's utf-16 codec follows the mark
        elif sniffed == "utf-16-be":
            engine, name = None, "utf-16-be"
    if engine is not None:
        yield replace(source, fmt=fmt, encoding=engine), note
        return
    copy = transcode(source.path, name, temp_dir)
    try:
        yield replace(source, fmt=fmt, staged=copy), note
    finally:
        copy.unlink(missing_ok=True)


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


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _owner_gone(path: Path, prefix: str, stale_after_s: float = 3600.0) -> bool:
    """Whether a temporary file or folder named ``PREFIX`` + ``PID.`` or ``PID-`` + anything was left by a process
    that no longer exists; one without a process id (older versions) counts as left after ``stale_after_s``."""
    import time

    found = re.match(r"(\d+)[.-]", path.name[len(prefix):])
    if found:
        pid = int(found.group(1))
        return pid != os.getpid() and not pid_alive(pid)
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
        if _owner_gone(entry, f".{target.name}."):
            try:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


def _output_error(path: Path, exc: OSError, kept: str = "the previous file is intact") -> OutputError:
    import errno

    what = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
            errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied"}.get(exc.errno, exc.strerror or type(exc).__name__)
    return OutputError(f"cannot write {path}: {what} ({type(exc).__name__}, errno {exc.errno}); {kept}. Fix: free space "
                       "or write to a folder you can write to (--out), then run the command again")


def check_writable(target: str | Path) -> Path:
    """Before any work: make sure ``target``'s folder exists (creating it) and takes a new file, so an unwritable
    output is found before the run, not after it. Also removes the temporary files a killed run left there."""
    target = Path(target)
    folder = target.parent
    if target.is_dir() and not target.is_symlink():
        raise OutputError(f"cannot write {target}: it is a folder. Fix: pass a file name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _output_error(folder if not folder.is_dir() or not os.access(folder, os.W_OK) else target, exc,
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
        raise _output_error(target, exc) from None
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def _write_frame(df: pd.DataFrame, path: Path, dest: Path) -> None:
    """Write ``df`` to ``dest`` in the format ``path``'s suffix names; CSV is formula-safe."""
    if path.suffix == ".parquet":
        df.to_parquet(dest, index=False)
    elif path.suffix == ".csv":
        from pipeline.safety import neutralise_formulas

        # Text quoted always: a carriage return or newline inside a cell must not split the row.
        neutralise_formulas(df).to_csv(dest, index=False, quoting=csv.QUOTE_NONNUMERIC)
    else:
        raise DataError(f"output {path}: use a .parquet or .csv file name")


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as Parquet or CSV (by suffix), atomically. CSV output is formula-safe."""
    path = Path(path)
    with atomic_path(path) as tmp:
        _write_frame(df, path, tmp)
    return path


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    import hashlib

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
            raise _output_error(self.root, exc, "the previous outputs are intact") from None
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
                    raise _output_error(self.main, failed, "the previous outputs are intact") from None
                raise
        shutil.rmtree(self.tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise _output_error(getattr(exc, "filename", None) or self.main, exc,
                                "the previous outputs are intact") from None

    def name_of(self, suffix: str) -> str:
        """The name of the sidecar ``STEM + suffix`` (``_summary.json``) of the main output."""
        return f"{self.main.stem}{suffix}"

    def write_table(self, df: pd.DataFrame, name: str) -> None:
        dest = self.tmp / name
        _write_frame(df, self.main.with_name(name), dest)
        self._written(dest)

    def write_bytes(self, data: bytes, name: str) -> None:
        dest = self.tmp / name
        dest.write_bytes(data)
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
        from datetime import UTC, datetime

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
                if _owner_gone(entry, ".current."):
                    entry.unlink(missing_ok=True)
            elif entry.is_symlink():
                continue
            elif entry.name.startswith(".tmp-"):
                if _owner_gone(entry, ".tmp-"):
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
    check_output_set(path)
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
                max_rows: int | None = None) -> Path:
    """Write the risk list as an .xlsx workbook for retention teams, atomically.

    Three sheets (see :mod:`pipeline.excel`): the call list in priority order, every column, and the
    run's definitions. Text cells are stored as text (never formulas), numbers stay numbers. Linear in rows.

    Args:
        frame: The risk list, one row per customer.
        out: The .xlsx file to write; replaced only once it is complete.
        summary: The risk list's summary sidecar, as :func:`read_risk_list` returns it.
        currency: Currency shown with amounts (``"EUR"``); empty for plain numbers.
        max_rows: Customers a sheet may hold (None: Excel's limit); beyond it the top by priority.

    Returns:
        The path written.
    """
    from pipeline.excel import EXCEL_MAX_ROWS, write_workbook

    out = Path(out)
    with atomic_path(out) as tmp:
        write_workbook(frame, tmp, summary, currency, EXCEL_MAX_ROWS if max_rows is None else max_rows)
    return out


def read_contributions(path: str | Path, prefix: str = "churn_") -> pd.DataFrame:
    """A risk list's SHAP file (``<stem>_shap.parquet``): ``customer_id`` and the columns starting with ``prefix``
    (the churn model's contributions in log-odds by default), the others left unread."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        names = pq.read_schema(path).names
        return pd.read_parquet(path, columns=["customer_id", *(c for c in names if c.startswith(prefix))])
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"{path}: cannot be read as a risk list's SHAP file ({said(exc, 160)}). Fix: pass the list "
                        "`churn score` wrote with its SHAP file beside it, complete and unchanged, or remove the "
                        "SHAP file (changes are then given without their reasons)") from None
