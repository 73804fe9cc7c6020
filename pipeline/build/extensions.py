"""Your own feature families: modules or ``.py`` files outside the package (``features.extra_modules``).

Each registers its families the way the built-in ones do (``features.registry.register``), when imported.
The CLI imports them once, before any build (``prepare_features``); nothing is imported at import time of
this module. A module name (``my_company.churn_features``) is imported as it is; a file path is imported
with importlib under a safe module name of its own, so it neither shadows nor is shadowed by another
module. A module that fails to import, or registers a family or feature name already taken, is a config
error naming it, and leaves the registry as it was.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from features.registry import FAMILIES
from pipeline.core.errors import ChurnError, ConfigError, said

_LOADED: dict[str, ModuleType] = {}  # entry (module name or resolved file path) -> module: each is imported once


def is_file_entry(entry: str) -> bool:
    """Whether an ``extra_modules`` entry is a file path (``.py`` or with a folder) rather than a module name."""
    return entry.endswith(".py") or "/" in entry or "\\" in entry


def module_name_for(path: Path) -> str:
    """The module name a file is imported under: its stem made an identifier, plus a hash of its full path."""
    stem = re.sub(r"\W", "_", path.stem) or "module"
    return f"churn_extra_features_{stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:10]}"


def load_extra_modules(entries: Sequence[str], base: Path | None = None) -> list[str]:
    """Import each module or file of ``entries`` once; return the families they registered (new this call).

    Args:
        entries: module names or ``.py`` paths (relative paths from ``base``, default the working folder).
        base: the folder relative paths start from.

    Raises:
        ConfigError: a file that does not exist, a module that cannot be imported or fails, or a family
            registered twice; the message names the entry and the fix.
    """
    added: list[str] = []
    for entry in entries:
        file = is_file_entry(entry)
        if file:
            path = Path(entry).expanduser()
            path = (path if path.is_absolute() else (base or Path.cwd()) / path).resolve()
        key = str(path) if file else entry
        if key in _LOADED:
            continue
        if file and not path.is_file():
            raise ConfigError(f"params: 'features.extra_modules' names {entry}, and there is no such file ({path}). "
                              "Fix: give the path of a .py file that registers feature families, relative to the "
                              "folder you run from, or a module name")
        before = list(FAMILIES)
        try:
            module = _import_file(path) if file else importlib.import_module(entry)
        except Exception as exc:
            for family in [f for f in FAMILIES if f not in before]:
                del FAMILIES[family]
            if isinstance(exc, ChurnError):
                raise
            if isinstance(exc, ModuleNotFoundError) and not file and exc.name == entry.split(".")[0]:
                raise ConfigError(f"params: 'features.extra_modules' names module {entry}, which cannot be found. Fix: "
                                  "install it, put its folder on PYTHONPATH, or give the path of its .py file") from None
            taken = "registered twice" in str(exc)
            fix = ("give the family a name of its own (built-in families: see README 'Feature families')" if taken
                   else "fix the module so that importing it registers its families")
            raise ConfigError(f"params: 'features.extra_modules': {entry} failed to load ({said(exc)}). Fix: {fix}") from None
        _LOADED[key] = module
        added += [f for f in FAMILIES if f not in before]
    return added


def _import_file(path: Path) -> ModuleType:
    """Import a ``.py`` file under its own module name (``module_name_for``); a failed import leaves no module."""
    name = module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a module up by name while it runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def prepare_features(params) -> list[str]:
    """The edge's one step before any build: import ``features.extra_modules`` (once each). Returns the
    families they registered."""
    return load_extra_modules(tuple(params.features.extra_modules))
