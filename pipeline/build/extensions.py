"""Your own feature families: modules or ``.py`` files outside the package (``features.extra_modules``).

Each registers its families the way the built-in ones do (``features.registry.register``), when imported.
The CLI imports them once, before any build (``prepare_features``); nothing is imported at import time of
this module. A module name (``my_company.churn_features``) is imported as it is; a file path is imported
with importlib under a safe module name of its own, so it neither shadows nor is shadowed by another
module. A module that fails to import, or registers a family or feature name already taken, is a config
error naming it, and leaves the registry as it was.

Relative paths start from the params file's folder (the working folder when there is none), so a job run from
anywhere imports the same file. A model records each module's name (a file's name, or the module name) and the
SHA-256 of the bytes imported (``module_records``), never a path to load: scoring imports only the modules the
user's own settings name, and only when their content is the content the model was trained with
(``check_model_modules``, exit 4 otherwise).
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
from pipeline.core.errors import ChurnError, ConfigError, ModelError, said

_LOADED: dict[str, ModuleType] = {}  # entry (module name or resolved file path) -> module: each is imported once
_RECORDS: dict[str, dict[str, str]] = {}  # the same keys -> {"name", "sha256"} of the bytes that were imported


def is_file_entry(entry: str) -> bool:
    """Whether an ``extra_modules`` entry is a file path (``.py`` or with a folder) rather than a module name."""
    return entry.endswith(".py") or "/" in entry or "\\" in entry


def module_name_for(path: Path) -> str:
    """The module name a file is imported under: its stem made an identifier, plus a hash of its full path."""
    stem = re.sub(r"\W", "_", path.stem) or "module"
    return f"churn_extra_features_{stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:10]}"


def params_folder(params_path: str | Path | None) -> Path | None:
    """The folder relative ``extra_modules`` paths start from: the params file's (None: the working folder)."""
    return None if params_path is None else Path(params_path).expanduser().resolve().parent


def _resolve(entry: str, base: Path | None) -> tuple[str, Path | None]:
    """The cache key of an entry (a module name, or a file's resolved path) and the file (None for a module name)."""
    if not is_file_entry(entry):
        return entry, None
    path = Path(entry).expanduser()
    path = (path if path.is_absolute() else (base or Path.cwd()) / path).resolve()
    return str(path), path


def _no_file(entry: str, path: Path) -> ConfigError:
    return ConfigError(f"params: 'features.extra_modules' names {entry}, and there is no such file ({path}). "
                       "Fix: give the path of a .py file that registers feature families, relative to the folder "
                       "of the params file, or a module name")


def module_record(entry: str, base: Path | None = None) -> dict[str, str]:
    """What a model records of an ``extra_modules`` entry: its name (a file's name, or the module name) and the
    SHA-256 of its content: the bytes imported when it is loaded already, else the file's bytes now (read, never
    imported; a module name is found without being imported, its parent packages aside)."""
    key, path = _resolve(entry, base)
    if key in _RECORDS:
        return dict(_RECORDS[key])
    if path is None:
        try:
            spec = importlib.util.find_spec(entry)
        except (ImportError, ValueError):
            spec = None
        origin = Path(spec.origin) if spec is not None and spec.origin and spec.origin != "built-in" else None
        if origin is None or not origin.is_file():
            raise ConfigError(f"params: 'features.extra_modules' names module {entry}, which cannot be found. Fix: "
                              "install it, put its folder on PYTHONPATH, or give the path of its .py file")
        return {"name": entry, "sha256": hashlib.sha256(origin.read_bytes()).hexdigest()}
    if not path.is_file():
        raise _no_file(entry, path)
    return {"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def module_records(entries: Sequence[str], base: Path | None = None) -> list[dict[str, str]]:
    """``module_record`` of each entry (stored with a model as ``metadata["extra_modules"]``)."""
    return [module_record(entry, base) for entry in entries]


def check_model_modules(recorded: Sequence[dict] | None, entries: Sequence[str], base: Path | None = None,
                        legacy: Sequence[str] = ()) -> None:
    """Before any module is imported for a model: every module the model was trained with (``recorded``, its
    ``metadata["extra_modules"]``) must be named by the user's own settings (``entries``, from ``base``) with the
    same content. Nothing the model names is ever imported; the check reads files only.

    Args:
        recorded: the model's records ({"name", "sha256"}); None for a model saved before modules were recorded.
        entries: ``features.extra_modules`` of the user's params and ``--set``.
        base: the folder relative entries start from (``params_folder``).
        legacy: module paths an older model stored in its problem (never loaded; only refused).

    Raises:
        ModelError (exit 4): a module the model needs that the settings do not name, or one whose content differs.
    """
    if recorded is None:
        if legacy:
            raise ModelError(
                f"the model was trained with feature modules ({', '.join(map(str, legacy))}) and saved before models "
                "recorded their content, so what it would run cannot be checked. Refusing to load it. Fix: retrain "
                "with `churn train` (with the module named in your features.extra_modules)")
        return
    mine = [module_record(entry, base) for entry in entries]
    where = f"the folder of the params file ({base})" if base is not None else "the working folder"
    for rec in recorded:
        name, sha = str(rec.get("name", "")), str(rec.get("sha256", ""))
        same_name = [m for m in mine if m["name"] == name]
        if not same_name:
            raise ModelError(
                f"the model was trained with the feature module {name} (SHA-256 {sha[:12]}), which your settings do "
                "not name; no code is run because a model names it. Fix: read the module, then add its path to "
                f"features.extra_modules in params.yaml (relative to {where}) or pass --set "
                "features.extra_modules=[...]")
        if not any(m["sha256"] == sha for m in same_name):
            raise ModelError(
                f"the feature module {name} named in your settings is not the one the model was trained with (SHA-256 "
                f"{same_name[0]['sha256'][:12]}, the model's {sha[:12]}): edited since, its features would not mean "
                "what the model learned. Fix: restore the module as it was when the model was trained, or retrain "
                "with `churn train`")


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
        key, path = _resolve(entry, base)
        file = path is not None
        if key in _LOADED:
            continue
        if file and not path.is_file():
            raise _no_file(entry, path)
        before = list(FAMILIES)
        try:
            if file:
                source = path.read_bytes()  # hashed and executed: the record is of exactly what ran
                module = _import_file(path, source)
                record = {"name": path.name, "sha256": hashlib.sha256(source).hexdigest()}
            else:
                module = importlib.import_module(entry)
                record = module_record(entry)
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
        _LOADED[key], _RECORDS[key] = module, record
        added += [f for f in FAMILIES if f not in before]
    return added


def _import_file(path: Path, source: bytes) -> ModuleType:
    """Import ``source``, the bytes of the ``.py`` file ``path``, under its own module name (``module_name_for``); a
    failed import leaves no module."""
    name = module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a module up by name while it runs
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - the user's own configured module
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def prepare_features(params, base: Path | None = None) -> list[str]:
    """The edge's one step before any build: import ``features.extra_modules`` (once each; relative paths from
    ``base``, the params file's folder, see ``params_folder``). Returns the families they registered."""
    return load_extra_modules(tuple(params.features.extra_modules), base)
