"""params.yaml documents the config's defaults: every key in it holds the dataclass default, and every
setting the dataclasses know is written in it. The defaults live only in ``pipeline/core/config.py``."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.config import Params, _coerce, load_params

ROOT = Path(__file__).resolve().parents[2]
PARAMS_YAML = ROOT / "params.yaml"


def _plain_yaml() -> dict[str, Any]:
    return yaml.safe_load(PARAMS_YAML.read_text())


def _settings(cls: type, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, type) of every setting under the dataclass ``cls``; sections are walked into."""
    out = []
    for name, tp in typing.get_type_hints(cls).items():
        path = f"{prefix}{name}"
        if dataclasses.is_dataclass(tp):
            out += _settings(tp, f"{path}.")
        else:
            out.append((path, tp))
    return out


def _at(tree: Any, path: str) -> Any:
    for part in path.split("."):
        tree = tree[part] if isinstance(tree, dict) else getattr(tree, part)
    return tree


def test_loading_params_yaml_gives_the_defaults():
    assert load_params(None) == load_params(PARAMS_YAML)
    assert load_params(None) == Params()


def test_every_value_written_in_params_yaml_is_the_dataclass_default():
    raw, defaults = _plain_yaml(), Params()
    differ = []
    for path, tp in _settings(Params):
        if _has(raw, path):
            written = _coerce(_at(raw, path), tp, path)  # as loading reads it: [] -> (), 80 -> 80.0, actions -> rules
            if written != _at(defaults, path):
                differ.append(f"{path}: params.yaml {written!r}, default {_at(defaults, path)!r}")
    assert not differ, "params.yaml and the dataclass defaults disagree:\n" + "\n".join(differ)


def test_every_setting_is_written_in_params_yaml():
    raw = _plain_yaml()
    missing = [path for path, _ in _settings(Params) if not _has(raw, path)]
    assert not missing, f"settings not documented in params.yaml: {missing}"


def _has(tree: dict, path: str) -> bool:
    for part in path.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True
