"""Finding the input tables in a data folder and reading them: formats, encodings, workbooks."""

from __future__ import annotations

import codecs
import csv
import io
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

from pipeline.core.config import TABLES, FormatConfig
from pipeline.core.errors import DataError, said
from pipeline.core.sql import sql_string

INPUT_SUFFIXES = (".csv", ".tsv", ".xlsx", ".parquet")  # what a data folder's tables may be


TEXT_SUFFIXES = (".csv", ".tsv")


# encodings the engine's CSV reader decodes itself; others are transcoded to a UTF-8 copy first
ENGINE_ENCODINGS = {"utf-8": "utf-8", "utf-16": "utf-16", "utf-16-le": "utf-16", "iso8859-1": "latin-1"}


CHUNK = 1 << 20


URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/|file:", re.IGNORECASE)  # s3a://b/x, hdfs:///x, file:/x, file:x


def is_uri(data: str | Path) -> bool:
    """Whether ``--data`` names a place by URI (``s3a://bucket/churn``, ``file:///data``), not a local path. A
    one-letter scheme is a Windows drive (``C:\\data``); a ``pathlib.Path`` made of a URI (``s3a:/bucket/churn``,
    one slash left) still counts."""
    return URI.match(str(data)) is not None


@dataclass(frozen=True)
class TableSource:
    """Where one input table comes from: a file, a folder of Parquet parts, or an in-memory frame.

    ``path`` is a ``pathlib.Path``, or for the Spark engine a ``pipeline.engine.spark.fs.HadoopPath`` (a URI read
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
    (``pipeline.engine.spark.fs.hadoop_folder``); a URI given as text is an error saying so."""
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
            if not (entry.is_dir() and _has_parquet_parts(entry)):
                _refuse_unreadable_table(entry)
                unknown.append(entry.name)
                continue
        # table names are matched as file suffixes are, whatever their case (Customers.csv, transactions.CSV)
        stem = stem.lower()
        if stem not in TABLES:
            unknown.append(entry.name)
            continue
        if stem in found:
            raise DataError(
                f"{root}: table '{stem}' is given twice ({found[stem].path.name} and {entry.name}). Keep one."
            )
        if isinstance(entry, Path) and entry.is_file() and entry.stat().st_size == 0:
            raise DataError(f"{entry}: the file is empty (0 bytes), without even a header row, so the {stem} table "
                            f"cannot be read. Fix: export the table again, or remove the file if there is no {stem} table")
        found[stem] = TableSource(stem, path=entry)
    return found, unknown


def _has_parquet_parts(folder) -> bool:
    try:
        return any(folder.rglob("*.parquet"))
    except OSError:  # a link loop inside: no parts this tool can read
        return False


def _refuse_unreadable_table(entry) -> None:
    """Stop with what an entry named as a table file is, where it is no file that can be read: a folder without
    Parquet parts (``transactions.csv/``), a link that loops or leads nowhere. Going on would drop the table."""
    stem, _, rest = entry.name.partition(".")
    if stem.lower() not in TABLES or not isinstance(entry, Path):
        return
    if entry.is_symlink() and not entry.exists():  # exists() follows the link: a loop or a missing target
        try:
            entry.resolve(strict=True)
            what = "a link that leads nowhere"
        except RuntimeError:
            what = "a link that loops back to itself"
        except OSError as exc:
            what = ("a link that loops back to itself" if "loop" in str(exc).lower()
                    else "a link whose target does not exist")
        raise DataError(f"{entry}: is {what} ({os.readlink(entry)!r}), not a file, so the {stem.lower()} table cannot "
                        f"be read. Fix: point the link at the table's file, or put the file itself there")
    if entry.is_dir() and rest:
        raise DataError(f"{entry}: is a folder, not a .{rest} file, and holds no Parquet parts, so the {stem.lower()} "
                        f"table cannot be read. Fix: put the table's file at {entry} instead of the folder, or its "
                        f"Parquet parts in a folder named {stem.lower()}/")


def unusable_entry(name: str) -> tuple[str, str, bool]:
    """Why an entry of a data folder is not read, the fix, and whether it looks meant as a table (a known
    table's name in a format that is not read: going on without it would quietly drop a table)."""
    stem, _, rest = name.partition(".")
    stem = stem.lower()
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
        refuse_repeated_columns(f"{path} (sheet {page.title!r})", names)
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


HEADER_DELIMITERS = (",", ";", "\t", "|")  # looked for in a header line when no delimiter is given


def refuse_repeated_columns(label: str, names: list[str]) -> None:
    """Stop when a header names one column twice (two ``amount`` columns): which of them is meant cannot be told,
    and a reader would quietly rename or drop one."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        key = name.strip()
        if key in seen:
            raise DataError(f"{label}: the header names the column {key!r} twice (columns {seen[key]} and {i}), so "
                            "which one holds the values cannot be told. Fix: rename one of them (or remove the one not "
                            "meant) and export the table again")
        seen[key] = i


def check_text_header(source: TableSource, fmt: FormatConfig, encoding: str = "") -> None:
    """``refuse_repeated_columns`` for a CSV or TSV file's header line, split as its reader would split it."""
    if source.path is None or source.suffix not in TEXT_SUFFIXES:
        return
    name = codecs.lookup(encoding or "utf-8").name
    with source.path.open("rb") as fh:
        head = fh.read(CHUNK)
    text = head.decode("utf-8-sig" if name == "utf-8" else name, errors="replace").lstrip("\ufeff")
    line = text.splitlines()[0] if text else ""
    delimiter = fmt.delimiter_char or ("\t" if source.suffix == ".tsv" else "")
    if not delimiter:
        counts = [line.count(d) for d in HEADER_DELIMITERS]
        delimiter = HEADER_DELIMITERS[counts.index(max(counts))] if max(counts) else ","
    names = next(csv.reader([line], delimiter=delimiter), [])
    refuse_repeated_columns(source.label, names)


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
    check_text_header(source, fmt, name)
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
