"""What a run says as it goes: warnings (kept in the run record), notes, lines, tables and progress.

A command's body (``pipeline.<stage>.run``) speaks through a ``RunLog`` and never prints: called from Python it
collects what was said (``warnings``, ``notes``, ``lines``); the command line passes one that prints as it comes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from pipeline.core import runrecord


class RunLog:
    """Collects what a run says; subclasses show it as well (the CLI's console log)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.lines: list[str] = []

    def warn(self, message: str, label: str = "warning") -> None:
        """A problem worth acting on, kept in the run record's warnings."""
        self.warnings.append(message)
        runrecord.current().warn(message)

    def alarm(self, message: str, label: str) -> None:
        """A problem that changed what the run did (a model left unpromoted), kept in the run record's warnings;
        the command line shows it in red."""
        self.warn(message, label)

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
