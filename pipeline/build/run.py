"""The bodies of the data commands (``churn validate``, ``churn features``, ``churn check-features``) and the steps
every command that reads data starts with: open and validate the data (writing the quarantine files), check the
as-of date against it, build the features as of a date."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from features.registry import FAMILIES, FeatureSpec, family_label
from pipeline.build.contracts import CHECKS, ContractReport, tables_of
from pipeline.build.contracts import check_features as run_contract
from pipeline.build.extensions import check_model_modules, params_folder, prepare_features
from pipeline.build.features import build_features, context_for, feature_spec
from pipeline.build.ids import id_queries, id_report
from pipeline.build.problem import describe, labels_end, params_for_problem, stored_problem
from pipeline.core import runrecord
from pipeline.core.config import ColumnsConfig, Params, load_params
from pipeline.core.errors import DataError
from pipeline.core.files import write_table
from pipeline.core.runlog import RunLog
from pipeline.engine import open_data as open_engine_data
from pipeline.engine.base import Dataset

EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)  # as-of dates: past them, windows and horizons overflow
# --as-of in words, for a job that runs every day: the data's last transaction day, or the run's own date
DATA_END, TODAY, YESTERDAY = "data-end", "today", "yesterday"
AS_OF_WORDS = (DATA_END, TODAY, YESTERDAY)


def parse_date(text: str | date, option: str = "--as-of", today: date | None = None) -> date | None:
    """A date given as text (YYYY-MM-DD, ``today`` or ``yesterday``: ``today``, default the machine's date) or
    already a date; ``data-end`` is None, the data's last day, known once the data is open (``resolve_as_of``)."""
    if isinstance(text, date):
        day = text
    elif text.strip().lower() == DATA_END:
        return None
    elif text.strip().lower() in (TODAY, YESTERDAY):
        day = (today or date.today()) - timedelta(days=text.strip().lower() == YESTERDAY)
    else:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise DataError(f"{option} {text!r} is not a date; use YYYY-MM-DD (e.g. 2025-12-31), "
                            f"{', '.join(AS_OF_WORDS)}") from None
    if not EARLIEST <= day <= LATEST:
        raise DataError(f"{option} {day} is outside the dates a history can have ({EARLIEST} to {LATEST}); "
                        "use the date your data runs to, e.g. 2025-12-31")
    return day


def resolve_as_of(as_of: str | date, ds: Dataset, log: RunLog, today: date | None = None) -> date:
    """The as-of date of ``as_of`` (``parse_date``; ``data-end``: the data's last transaction day), kept in the run
    record with the text it was given as."""
    day = parse_date(as_of, today=today)
    if day is None:
        day = ds.date_range()[1]
        log.note(f"--as-of {DATA_END}: {day}, the day of the data's last transaction")
    runrecord.current().as_of = {"given": str(as_of), "date": day.isoformat()}
    return day


def load(params: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Params:
    """params.yaml (None: the defaults) with ``--set`` overrides, checked."""
    return load_params(params, list(overrides or []))


def open_data(data: str | Path, params: Params, log: RunLog | None = None) -> Dataset:
    """Discover and validate the tables in ``data`` on the engine ``params`` names, account for every row (a table
    in ``log``, the counts in the run record), write the quarantined rows with their reasons to
    ``validation.quarantine_dir``, and return the dataset."""
    log = log or RunLog()
    with log.status(f"validating {data}..."):
        # validated as of the moment in UTC: never the machine's time zone (a clock behind UTC would set a
        # purchase of two hours ago aside as 'in the future')
        ds = open_engine_data(data, params, datetime.now(UTC).replace(tzinfo=None))
    report = ds.report
    log.table(f"input accounting ({data})", ("table", "rows read", "rows used", "rows quarantined", "balanced"),
              [(a.table, f"{a.rows_read:,}", f"{a.rows_used:,}", f"{a.rows_quarantined:,}",
                "yes" if a.balanced else "[red]NO[/]") for a in report.accounts],
              right=("rows read", "rows used", "rows quarantined"))
    record = runrecord.current()
    record.tables = {a.table: {"rows_read": a.rows_read, "rows_used": a.rows_used, "rows_quarantined": a.rows_quarantined}
                     for a in report.accounts}
    for p in report.problems:
        log.warn(p.message(), code="data_problem")
    for n in report.notices:
        log.note(n)
    # the fingerprint and the id counts: one pass over every row where the engine holds shards
    ds.prefetch([*ds.fingerprint_queries().values(), *id_queries(ds)])
    ids = id_report(ds)
    for line in ids.warnings:
        log.warn(line, code="unmatched_ids")
    for line in ids.notes:
        log.note(line)
    for table, counts in ids.counts.items():  # distinct ids: not in the table they belong with, matched by value
        record.tables.setdefault(table, {})["customer_ids"] = counts
    if report.rows_quarantined:
        qdir = Path(params.validation.quarantine_dir)
        for a in report.accounts:
            if a.rows_quarantined:
                path = write_table(ds.quarantine_frame(a.table), qdir / f"{a.table}.csv")
                log.info(f"quarantined {a.rows_quarantined:,} {a.table} rows with their reasons -> {path}")
    record.data_hash = ds.fingerprint()["hash"]
    return ds


def check_as_of(ds: Dataset, day: date, log: RunLog, training: bool = False, max_age_days: int | None = None,
                setting: str = "", allow_stale: bool = False, today: date | None = None) -> None:
    """``day`` against the data's last transaction (one query for both checks), the data's dates and age kept in
    the run record.

    Stop (exit 3) when the last transaction is more than ``max_age_days`` (the ``setting``) before ``day``: a
    stale export scored as today's makes every customer look long gone; ``allow_stale`` (``--allow-stale``)
    turns the stop into a warning. With ``--as-of data-end`` the as-of is the data's end, so its age is judged
    against ``today`` (default the machine's date) instead: an export that stopped arriving is found, not scored
    night after night. Warn when ``day`` is after the last transaction at all: the days between look like days
    without purchases (and, when ``training``, the latest labels count them as churn)."""
    first, last = ds.date_range()
    today = today or date.today()
    record = runrecord.current()
    record.data_dates(first, last, day, today)
    by_clock = record.as_of.get("given", "").strip().lower() == DATA_END
    age = (today if by_clock else day) - last
    age = age.days
    if max_age_days is not None and age > max_age_days:
        since = f"today ({today}, --as-of {DATA_END})" if by_clock else f"--as-of {day}"
        message = (f"the data is stale: its last transaction is on {last}, {age} days before {since} ({setting} "
                   f"is {max_age_days})")
        if not allow_stale:
            raise DataError(f"{message}. Every customer would look {age} days longer gone than they are. Fix: use a "
                            "current data export, an --as-of at the end of the data, or --allow-stale if this is intended")
        log.warn(f"{message}; going on because of --allow-stale", code="stale_data")
    age = (day - last).days
    if age > 0:
        labels = "; the latest training labels count them as churn" if training else ""
        log.warn(f"--as-of {day} is after the last transaction ({last}): the "
                 f"{age} days between look like days without any purchase (every customer looks "
                 f"that much longer gone{labels}). Check that the data export is current.", code="as_of_after_data")


def check_model_tables(ds: Dataset, spec: FeatureSpec, data: str | Path) -> None:
    """Stop (exit 3) when a table the model's features come from is not in the data: named as such, with the
    families it feeds, instead of a list of every feature the build then lacks."""
    lacking: dict[str, dict[str, int]] = {}  # table -> family -> features
    for feat in spec.all_features:
        family = FAMILIES.get(feat.family)
        for table in family.requires if family is not None else ():
            if table not in ds.tables:
                counts = lacking.setdefault(table, {})
                counts[feat.family] = counts.get(feat.family, 0) + 1
    if lacking:
        said = "; ".join(f"the {table} table ({sum(fams.values())} features of the "
                         f"{', '.join(family_label(f) for f in fams)} famil{'y' if len(fams) == 1 else 'ies'})"
                         for table, fams in lacking.items())
        names = ", ".join(f"{t}.csv or {t}/ (Parquet)" for t in lacking)
        raise DataError(f"the model was trained with tables that {data} does not have: {said}. Fix: put {names} in "
                        f"{data}, as in the export the model was trained on, or retrain on the tables you have "
                        "(churn train)")


def check_population(ds: Dataset, cfg: Params, day: date, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``, a feature table as of ``day``; an empty population is a clear error, not an empty output."""
    if frame.empty:
        first, last = ds.date_range()
        raise DataError(
            f"no customer is in the population at {day}: nobody has {cfg.label.min_purchases_in_lookback} order(s) in the "
            f"{cfg.label.lookback_days} days before it (transactions run from {first} to {last}). "
            "Use an --as-of inside the data, or a longer label.lookback_days.")
    return frame


def shard_progress(day: date, update: Callable[[str], None]) -> Callable[[int, int], None]:
    """A build's ``progress(done, total)`` as a status line."""
    return lambda done, total: update(f"building features as of {day}: customer shard {done}/{total} done...")


def features_as_of(ds: Dataset, cfg: Params, day: date, log: RunLog, choices: dict | None = None) -> pd.DataFrame:
    """The feature table as of ``day``; an empty population is a clear error, not an empty output. ``choices``
    (a model's ``data_choices``) fixes the event types and the role of transactions to the model's."""
    with log.status(f"building features as of {day}...") as update:
        frame = build_features(ds, cfg, day, choices=choices or None, progress=shard_progress(day, update))
    return check_population(ds, cfg, day, frame)


def start(params: str | Path | None, data: str | Path, as_of: str | date, overrides: list[str] | tuple[str, ...] = (),
          log: RunLog | None = None) -> tuple[Params, date, Dataset]:
    """Params, the as-of date and the validated data: the start of every command that reads data (your own feature
    modules, ``features.extra_modules``, are imported here, before any build)."""
    log = log or RunLog()
    cfg = load(params, overrides)
    parse_date(as_of)  # a wrong date stops before the data is read
    prepare_features(cfg, params_folder(params))
    ds = open_data(data, cfg, log)
    return cfg, resolve_as_of(as_of, ds, log), ds


def validate(params: str | Path | None, data: str | Path, overrides: list[str] | tuple[str, ...] = (),
             log: RunLog | None = None) -> Dataset:
    """``churn validate``: the validated dataset (accounting, problems and notices said through ``log``)."""
    return open_data(data, load(params, overrides), log)


@dataclass
class FeaturesRun:
    frame: pd.DataFrame
    path: Path


def features(params: str | Path | None, data: str | Path, as_of: str | date, out: Path | None = None,
             overrides: list[str] | tuple[str, ...] = (), log: RunLog | None = None) -> FeaturesRun:
    """``churn features``: one row of features per customer in the population as of ``as_of``, written to ``out``
    (default ``features_asof=DATE.parquet``)."""
    log = log or RunLog()
    cfg, day, ds = start(params, data, as_of, overrides, log)
    _, notices = feature_spec(context_for(ds, cfg, day))
    for n in notices:
        log.note(n)
    check_as_of(ds, day, log)
    frame = features_as_of(ds, cfg, day, log)
    target = out or Path(f"features_asof={day.isoformat()}.parquet")
    write_table(frame, target)
    return FeaturesRun(frame, target)


@dataclass
class ContractRun:
    report: ContractReport
    as_of: date
    added: list[str]  # the families of features.extra_modules
    checks: tuple[str, ...] = CHECKS


def check_features(params: str | Path | None, data: str | Path, as_of: str | date | None = None, customers: int = 2000,
                   overrides: list[str] | tuple[str, ...] = (), log: RunLog | None = None) -> ContractRun:
    """``churn check-features``: every registered feature family, built-in and your own, checked on ``data`` (metadata,
    determinism, no look-ahead, no mutation) on a fixed sample of ``customers`` (0: all); ``as_of`` defaults to the
    last transaction day less the label horizon."""
    log = log or RunLog()
    cfg = load(params, overrides)
    added = prepare_features(cfg, params_folder(params))
    ds = open_data(data, cfg, log)
    day = (resolve_as_of(as_of, ds, log) if as_of else
           ds.date_range()[1] - timedelta(days=cfg.label.horizon_days))
    tables = tables_of(ds, max(customers, 0))
    canonical = dataclasses.replace(cfg, columns=ColumnsConfig())  # the tables are in canonical columns already
    with log.status(f"building features as of {day} three times (again, and with rows after it)..."):
        report = run_contract(tables, canonical, day)
    return ContractRun(report, day, added)


def params_for_model(params: str | Path | None, overrides: list[str] | tuple[str, ...], metadata: dict, log: RunLog,
                     day: date | None = None, use: str = "score", features: bool = True) -> Params:
    """Params for using a model: its stored problem (label, population, features, columns, value settings)
    over params.yaml and ``--set`` (a contradicting ``--set`` is refused, exit 2); says which problem it is
    and warns when ``day`` lies in the period the model's training labels covered. With ``features``, the feature
    modules the model was trained with must be named by the user's settings with the same content
    (``check_model_modules``, exit 4) before those settings' modules are imported; none is imported from the model."""
    problem = stored_problem(metadata)
    cfg, notes = params_for_problem(params, list(overrides or []), problem)
    for text in notes:
        log.note(text)
    if "problem" not in metadata:
        log.note("this model was saved before models stored their problem definition: only its label settings are "
                 "applied, the rest come from params")
    log.info(f"{use}: {describe({**problem, 'label': dataclasses.asdict(cfg.label)})}")
    if day is not None:
        warn_hindsight(metadata, day, log)
    if features:
        base = params_folder(params)
        legacy = [str(m) for m in (problem.get("features") or {}).get("extra_modules") or ()]
        check_model_modules(metadata.get("extra_modules"), cfg.features.extra_modules, base, legacy)
        prepare_features(cfg, base)
    return cfg


def warn_hindsight(metadata: dict, day: date, log: RunLog) -> None:
    """Warn when ``day`` lies in the period the training labels of the model (its ``metadata``) covered."""
    seen_until = labels_end(metadata)
    if seen_until is not None and day < seen_until:
        log.warn(f"the model was trained on labels up to {seen_until}: as of {day} it scores a period it has seen, so "
                 f"its probabilities there are hindsight, not a forecast. Use a model trained as of {day} or earlier "
                 "(--model) for an honest list.", code="hindsight")
