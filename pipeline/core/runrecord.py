"""The machine-readable record of one command run: what it read, used and wrote, and how it ended.

Every command writes it with ``--run-record FILE``; ``churn score`` always writes one into its output set
(``STEM_run.json`` beside the risk list). The CLI fills it as the command goes; nothing here touches storage.
"""

from __future__ import annotations

import resource
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

# 2: warnings as {code, message}; as_of, data (end date and age), customers_scored, bands, drift, timings and
# peak_memory_mib added (README "Running every night" lists what to alert on)
RECORD_VERSION = 2


def peak_memory_mib() -> float:
    """The process's peak resident memory so far, in MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


@dataclass
class RunRecord:
    """What a batch job needs to know about a run without reading its log."""

    command: str
    argv: list[str]
    run_id: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8])
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    status: str = "running"
    exit_code: int | None = None
    error: str | None = None
    tables: dict[str, dict] = field(default_factory=dict)  # per table: rows_read, rows_used, rows_quarantined
    data_hash: str | None = None
    model: dict = field(default_factory=dict)  # uri, version, run_id (the MLflow run that trained it)
    mlflow_run_id: str | None = None  # the MLflow run this command logged (churn train, evaluate, outcomes)
    outputs: dict[str, dict] = field(default_factory=dict)  # path -> {"sha256": ..., "bytes": ...}
    warnings: list[dict] = field(default_factory=list)  # {"code": a stable code (runlog.WARNING_CODES), "message"}
    as_of: dict = field(default_factory=dict)  # given (the text: a date, data-end, today, yesterday), date
    data: dict = field(default_factory=dict)  # first_day, last_day, age_days (run date - last day), as_of_after_end_days
    customers_scored: int | None = None
    bands: dict[str, int] = field(default_factory=dict)  # risk band -> customers
    drift: list[dict] = field(default_factory=list)  # per feature: psi, flagged, moves_by_construction
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    _t0: float = field(default_factory=time.monotonic, repr=False)

    def warn(self, message: str, code: str = "other") -> None:
        if all(w["message"] != message for w in self.warnings):
            self.warnings.append({"code": code, "message": message})

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a step of the run into ``timings`` (added to, if the phase runs more than once)."""
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.monotonic() - t0, 3)

    def data_dates(self, first: date, last: date, as_of: date, today: date) -> None:
        """The data's span and how old it is: days from its last transaction to the run's date and to the as-of."""
        self.data = {"first_day": first.isoformat(), "last_day": last.isoformat(), "age_days": (today - last).days,
                     "as_of_after_end_days": (as_of - last).days}

    def output(self, path: str, sha256: str, size: int) -> None:
        self.outputs[path] = {"sha256": sha256, "bytes": size}

    def finish(self, exit_code: int, error: str | None = None) -> None:
        self.exit_code = exit_code
        self.status = "ok" if exit_code == 0 else "failed"
        self.error = error

    def to_dict(self) -> dict:
        return {"record_version": RECORD_VERSION, "command": self.command, "argv": self.argv, "run_id": self.run_id,
                "status": self.status, "exit_code": self.exit_code, "error": self.error,
                "started_at": self.started_at, "duration_s": round(time.monotonic() - self._t0, 3),
                "tables": self.tables, "data_hash": self.data_hash, "model": self.model,
                "mlflow_run_id": self.mlflow_run_id, "outputs": self.outputs, "warnings": self.warnings,
                "warning_codes": sorted({w["code"] for w in self.warnings}), "as_of": self.as_of, "data": self.data,
                "customers_scored": self.customers_scored, "bands": self.bands, "drift": self.drift,
                "timings": self.timings, "peak_memory_mib": peak_memory_mib()}


_current: RunRecord | None = None


def start(command: str, argv: list[str]) -> RunRecord:
    """Begin the record of the command now running (one per process)."""
    global _current
    _current = RunRecord(command, argv)
    return _current


def active() -> RunRecord | None:
    """The record of the command now running, None outside a command."""
    return _current


def current() -> RunRecord:
    """The record of the command now running (a throwaway one outside a command, e.g. in tests)."""
    global _current
    if _current is None:
        _current = RunRecord("library", [])
    return _current
