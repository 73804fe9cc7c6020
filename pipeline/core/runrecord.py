"""The machine-readable record of one command run: what it read, used and wrote, and how it ended.

Every command writes it with ``--run-record FILE``; ``churn score`` always writes one into its output set
(``STEM_run.json`` beside the risk list). The CLI fills it as the command goes; nothing here touches storage.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

RECORD_VERSION = 1


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
    mlflow_run_id: str | None = None  # the MLflow run this command logged (churn train, churn outcomes)
    outputs: dict[str, dict] = field(default_factory=dict)  # path -> {"sha256": ..., "bytes": ...}
    warnings: list[str] = field(default_factory=list)
    _t0: float = field(default_factory=time.monotonic, repr=False)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

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
                "mlflow_run_id": self.mlflow_run_id, "outputs": self.outputs, "warnings": self.warnings}


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
