"""What every command shares: the Typer app, the options, the consoles, the error handling that turns the
pipeline's own errors into a message and an exit code, and the console ``RunLog`` that prints as a run speaks."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.core import runrecord
from pipeline.core.errors import ChurnError, OutputError
from pipeline.core.files import check_separate, check_writable, write_bytes
from pipeline.core.runlog import RunLog

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Churn prediction pipeline.")


class _Stamped:
    """Standard error as the console writes it: without a terminal (a log file, a batch job) every line starts with
    the local time, so a log read the next morning says when each thing happened. Results on standard output stay
    as they are, for a script to read."""

    def __init__(self) -> None:
        self.line_start = True

    @property
    def encoding(self) -> str:
        return getattr(sys.stderr, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return sys.stderr.isatty()

    def write(self, text: str) -> int:
        target = sys.stderr
        if target.isatty() or not text:
            return target.write(text)
        stamp = datetime.now().astimezone().isoformat(timespec="seconds") + " "
        lines = text.split("\n")
        stamped = []
        for i, line in enumerate(lines):
            at_start = self.line_start if i == 0 else True
            stamped.append(stamp + line if at_start and line else line)  # a blank line stays blank
        self.line_start = text.endswith("\n")
        return target.write("\n".join(stamped))

    def flush(self) -> None:
        sys.stderr.flush()


# Without a terminal (a log file, a batch job) lines are never wrapped: a path or a command stays on one line.
console = Console(file=_Stamped(), width=None if sys.stderr.isatty() else 130, soft_wrap=not sys.stderr.isatty())
out = Console(width=None if sys.stdout.isatty() else 130, soft_wrap=not sys.stdout.isatty())
PROGRESS_EVERY_S = 10.0  # without a terminal, a long step says how far it has got at most this often

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


def warn(message: str, label: str = "warning", colour: str = "yellow", code: str = "other") -> None:
    """Print a warning of the project's own and keep it in the run record with its ``code`` (``colour``: red for an
    alarm)."""
    console.print(f"[{colour}]{label}:[/] {message}", highlight=False, soft_wrap=True)
    runrecord.current().warn(message, code)


def note(message: str) -> None:
    """Print something worth knowing that is not a problem (kept out of the run record's warnings)."""
    console.print(f"[cyan]note:[/] {message}", highlight=False, soft_wrap=True)


def _library_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library's Python warning, said as the project's: one line, no source path."""
    warn(f"{category.__name__}: {str(message).splitlines()[0] if str(message) else ''}", code="library")


class _LibraryLog:
    """Library log records at WARNING and above, said as the project's warnings (MLflow, Optuna, ...)."""

    def __init__(self):
        import logging

        class Handler(logging.Handler):
            def emit(self, record):
                warn(f"{record.name}: {record.getMessage().splitlines()[0]}", code="library")

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
        record = runrecord.start(fn.__name__.replace("_", "-"), sys.argv[1:])
        _RUN_RECORD[0] = run_record
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
            from pipeline.engine import engine_error

            translated = engine_error(exc)  # an engine's own error the user can act on (out of memory)
            if translated is not None:
                code, error = translated.exit_code, str(translated)
                console.print(f"[bold red]error:[/] {escape(str(translated))}", highlight=False, markup=True, soft_wrap=True)
                raise typer.Exit(translated.exit_code) from None
            code, error = 1, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)
            record.finish(code, error)
            _write_run_record(record, _RUN_RECORD[0])
            if not console.is_terminal:  # a log file's last line: how the run ended, how long, how much memory
                document = record.to_dict()
                console.print(f"{record.command} {'finished' if code == 0 else 'failed'}: exit {code} in "
                              f"{document['duration_s']:.1f} s, peak memory {document['peak_memory_mib']:,.0f} MiB, "
                              f"{len(record.warnings)} warning(s)"
                              + (f", run record {_RUN_RECORD[0]}" if _RUN_RECORD[0] else ""),
                              highlight=False, markup=False, soft_wrap=True)

    sig = inspect.signature(fn, eval_str=True)
    extra = inspect.Parameter("run_record", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=RunRecordOpt)
    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])
    wrapper.__annotations__ = {**{k: v.annotation for k, v in sig.parameters.items()}, "run_record": RunRecordOpt}
    return wrapper


_RUN_RECORD: list[Path | None] = [None]  # the --run-record of the command now running (one per process)


def check_paths(outputs: dict[str, Path | None], inputs: dict[str, str | Path | None]) -> None:
    """Before any work: the outputs asked for (option -> path; ``None``: not asked for) can be written, and none
    lands on an input, inside an input folder, or on another output (``--run-record`` included). Separation is
    checked first: checking that an output can be written creates its folder, which must never land in an input."""
    try:
        check_separate({**outputs, "--run-record": _RUN_RECORD[0]}, inputs)
    except OutputError as exc:
        if "--run-record" in str(exc):
            _RUN_RECORD[0] = None  # not written either: it would replace that file
        raise
    check_outputs(*outputs.values())


def check_outputs(*targets: Path | None) -> None:
    """Before any work: each output asked for (``None``: not asked for) can be written (``check_writable``)."""
    for target in targets:
        if target is not None:
            check_writable(target)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def with_engine(overrides: list[str] | None, engine: str | None) -> list[str] | None:
    """``--engine`` as the setting it stands for (``engine.kind``, checked with every other setting)."""
    return overrides if engine is None else [*(overrides or []), f"engine.kind={engine}"]


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


class ConsoleLog(RunLog):
    """A run's words printed as they come: warnings and notes on standard error, its account on standard output."""

    def warn(self, message: str, label: str = "warning", code: str = "other") -> None:
        self.warnings.append(message)
        warn(message, label, code=code)

    def alarm(self, message: str, label: str, code: str = "other") -> None:
        self.warnings.append(message)
        warn(message, label, colour="red", code=code)

    def note(self, message: str) -> None:
        self.notes.append(message)
        note(message)

    def info(self, message: str) -> None:
        self.lines.append(message)
        out.print(message, highlight=False)

    def table(self, title, columns, rows, right=()) -> None:
        t = Table(title=title, title_justify="left")
        for c in columns:
            t.add_column(c, justify="right" if c in right else "left")
        for row in rows:
            t.add_row(*row)
        console.print(t)

    @contextmanager
    def status(self, message: str) -> Iterator[Callable[[str], None]]:
        if console.is_terminal:
            with console.status(message) as shown:
                yield shown.update
            return
        # a log file: the step as a line when it starts, its progress at most every PROGRESS_EVERY_S, and its time
        started = last = time.monotonic()
        console.print(message, highlight=False, markup=False)

        def update(text: str) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                last = time.monotonic()
                console.print(text, highlight=False, markup=False)

        yield update
        console.print(f"{message.rstrip('.')}: done in {time.monotonic() - started:.1f} s", highlight=False,
                      markup=False)

    @contextmanager
    def steps(self):
        if not console.is_terminal:
            yield _logged_steps
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn()]
        with Progress(*columns, console=console, transient=True) as progress:
            def add(description: str, total: int):
                task = progress.add_task(description, total=total)

                def advance(steps: int = 1, description: str | None = None) -> None:
                    progress.update(task, advance=steps, **({"description": description} if description else {}))

                return advance

            yield add


def _logged_steps(description: str, total: int) -> Callable[..., None]:
    """A progress bar as a log file has it: a line per step at most every ``PROGRESS_EVERY_S`` (the last always),
    with the count done and the time since the bar started."""
    started, last, done = time.monotonic(), [float("-inf")], [0]

    def advance(steps: int = 1, description: str | None = None) -> None:
        done[0] += steps
        now = time.monotonic()
        if done[0] >= total or now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            console.print(f"{description or label}: {done[0]}/{total} ({now - started:.0f} s)", highlight=False,
                          markup=False)

    label = description
    if total:
        console.print(f"{description}: 0/{total}", highlight=False, markup=False)
    return advance


def print_table(title: str, columns: list[str], rows: list[list[str]], left: tuple[str, ...] = ()) -> None:
    """A table on standard output: the columns named in ``left`` (default the first) aligned left, the rest right."""
    t = Table(title=title, title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if (c in left if left else i == 0) else "right")
    for row in rows:
        t.add_row(*row)
    out.print(t)


def main() -> None:  # pragma: no cover
    app(args=normalise_flags(sys.argv[1:]), prog_name="churn")
