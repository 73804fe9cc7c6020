"""Scratch folders a run writes beside its work (the engine's spills, validation's checked rows, customer shards, the
SHAP file before it joins the outputs), named after the machine and process that made them, so that the next run
can remove what a run that was killed left behind.

A run removes its own scratch folders when it ends, by any exception or signal Python sees. A run killed outright
(``kill -9``, the kernel's out-of-memory killer, a scheduler's hard timeout) cannot: at a million customers
validation's checked rows alone are 2.4 GB, and a nightly job killed a few times would fill the disk. Each folder's
name holds a short hash of the machine's name and the process id (``churn-<kind>-h<host>-p<pid>-<random>``); before
a run makes its own, :func:`sweep` removes those of this machine whose process no longer exists. Another machine's
folders (a shared scratch disk) and a living process's are never touched; a folder whose process id has since been
given to another process stays until that process ends too. Machines are told apart by their host name, the
kernel's boot and the process-id namespace (``machine_id``): processes that cannot see each other's ids never judge each
other's folders. What that leaves behind: a killed run's folders are swept only by a later run on the same machine in
the same namespace, so a job that starts in a fresh container each night (a new namespace) leaves a killed run's
folders on a persistent ``engine.temp_dir`` for someone to remove.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from pipeline.core.files import machine_id, process_ended

_NAME = re.compile(r"churn-[a-z]+(?:-[a-z]+)*-h(?P<host>[0-9a-f]{8})-p(?P<pid>[0-9]+)-")


def prefix(kind: str) -> str:
    """The start of this process's scratch folder names of ``kind`` (``spill``, ``checked``, ``shards``...)."""
    return f"churn-{kind}-h{machine_id()}-p{os.getpid()}-"


def make(kind: str, folder: str | Path | None = None) -> Path:
    """A new scratch folder of ``kind`` under ``folder`` (None: the system's temporary folder), after sweeping it."""
    sweep(folder)
    return Path(tempfile.mkdtemp(prefix=prefix(kind), dir=folder))


def temporary(kind: str, folder: str | Path | None = None) -> tempfile.TemporaryDirectory:
    """:func:`make` as a ``TemporaryDirectory``: removed when the block or the object ends."""
    sweep(folder)
    return tempfile.TemporaryDirectory(prefix=prefix(kind), dir=folder)


def sweep(folder: str | Path | None = None) -> list[Path]:
    """Remove the scratch folders under ``folder`` (None: the system's temporary folder) that processes of this
    machine left behind and that no longer run; returns them. A folder that cannot be read or removed is left."""
    root = Path(folder) if folder is not None else Path(tempfile.gettempdir())
    host, removed = machine_id(), []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for path in entries:
        match = _NAME.match(path.name)
        if not match or match["host"] != host or not process_ended(int(match["pid"])):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
                removed.append(path)
        except OSError:
            continue
    return removed
