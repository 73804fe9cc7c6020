"""What a run says as it goes: warnings (kept in the run record), notes, lines, tables and progress.

A command's body (``pipeline.<stage>.run``) speaks through a ``RunLog`` and never prints: called from Python it
collects what was said (``warnings``, ``notes``, ``lines``); the command line passes one that prints as it comes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from pipeline.core import runrecord

# The stable code of each kind of warning, kept with it in the run record: a batch job alerts on a code, not on the
# wording (README "Running every night").
WARNING_CODES: dict[str, str] = {
    "stale_data": "the data ends more than the allowed age before the as-of date; the run went on (--allow-stale)",
    "as_of_after_data": "the as-of date is after the data's last transaction: customers look longer gone",
    "data_problem": "validation found a problem in an input table (rows quarantined, a column out of range)",
    "unmatched_ids": "customer ids of one table not found in another, or matching one only by integer value but not "
                     "one to one (the tables may not be from one export)",
    "hindsight": "the model was trained on labels covering the period scored: its probabilities are hindsight",
    "previous_not_compared": "the earlier risk list found beside the output could not be compared",
    "data_drift": "a feature's distribution shifted since training (PSI over scoring.drift_psi_threshold)",
    "behind_baseline": "the new model is not ahead of the best baseline on validation",
    "interrupted_run": "an MLflow run left running by a killed training run was marked failed",
    "action_note": "a scoring action rule could not be applied as written",
    "effects_not_better_than_random": "the learned action-effect model did not pass its gate; scoring keeps the set effects",
    "library": "a library's own warning (MLflow, Optuna, LightGBM, ...)",
    "other": "any other warning",
}


class RunLog:
    """Collects what a run says; subclasses show it as well (the CLI's console log)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.lines: list[str] = []

    def warn(self, message: str, label: str = "warning", code: str = "other") -> None:
        """A problem worth acting on, kept in the run record's warnings with its ``code`` (``WARNING_CODES``)."""
        self.warnings.append(message)
        runrecord.current().warn(message, code)

    def alarm(self, message: str, label: str, code: str = "other") -> None:
        """A problem that changed what the run did (a model left unpromoted), kept in the run record's warnings;
        the command line shows it in red."""
        self.warn(message, label, code)

    def note(self, message: str) -> None:
        """Something worth knowing that is not a problem."""
        self.notes.append(message)

    def info(self, message: str) -> None:
        """A line of the run's own account (what it wrote, what it found)."""
        self.lines.append(message)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]],
              right: Sequence[str] = ()) -> None:
        """A small table of text cells (``right``: the columns aligned right)."""
        self.lines.append(title)
        self.lines.extend(" | ".join(row) for row in rows)

    @contextmanager
    def status(self, message: str) -> Iterator[Callable[[str], None]]:
        """A step under way; yields a function that replaces its message."""
        yield lambda text: None

    @contextmanager
    def steps(self) -> Iterator[Callable[..., Callable[..., None]]]:
        """Progress bars: yields ``add(description, total)``, which returns ``advance(steps=1, description=None)``."""

        def add(description: str, total: int) -> Callable[..., None]:
            return lambda steps=1, description=None: None

        yield add
