"""The problem a model was trained for, stored with it and applied wherever the model is used.

A churn model answers one question: who, of one population, will stop in one horizon, seen through one
set of features built from columns mapped one way. ``problem_of`` takes those settings from params when a
model is trained (``metadata["problem"]`` of the bundle); ``params_for_problem`` puts them back over
params.yaml when the model scores or its list is followed up, so a score run never has to repeat
``churn train``'s ``--set`` options, and a ``--set`` that asks for another problem is refused rather than
scored under the wrong rule. Pure: params and mappings in, params and notes out.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pipeline.core.config import Params, check_params, load_params, section_from_dict
from pipeline.core.errors import ConfigError

# Every section whose settings change what a model's output means: the label (kind, horizon, lookback and
# population rule), the features (windows, family settings, event-type labels, extra modules, exclusions),
# the column mapping, and the value settings that the value columns are computed under.
PROBLEM_SECTIONS = ("columns", "label", "features", "value")
# Sections that only shape training: once a model exists, they cannot change its scores.
TRAINING_ONLY = ("snapshots", "model", "loyalty", "tuning", "registry", "evaluation")
# Settings of the problem sections never stored with a model nor taken from one: code to import. A model records
# its modules' names and content hashes instead (``metadata["extra_modules"]``, pipeline/build/extensions.py); the
# modules imported are always those of the user's own settings.
NEVER_STORED = {"features": ("extra_modules",)}
# The registered model a problem's versions go to (``registry.model_name``): stored with the problem, so a version
# registered or loaded under another name is found (``registered_name``).
REGISTRY_KEYS = ("model_name",)


def problem_of(params: Params) -> dict[str, dict[str, Any]]:
    """The problem definition of params, as plain JSON-ready data (stored as ``metadata["problem"]``): the problem
    sections less the code they name (``NEVER_STORED``), and the registry model name."""
    problem = {section: _without_code(section, _plain(dataclasses.asdict(getattr(params, section))))
               for section in PROBLEM_SECTIONS if hasattr(params, section)}
    problem["registry"] = {key: _plain(getattr(params.registry, key)) for key in REGISTRY_KEYS}
    return problem


def registered_name(metadata: dict) -> str | None:
    """The registered model name stored with a model's problem (None: saved before it was stored)."""
    name = (stored_problem(metadata).get("registry") or {}).get("model_name")
    return str(name) if name else None


def _without_code(section: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in NEVER_STORED.get(section, ())}


def stored_problem(metadata: dict) -> dict[str, dict[str, Any]]:
    """The problem stored with a model; a model saved before problems were stored gives its label alone."""
    problem = metadata.get("problem")
    if isinstance(problem, dict):
        return {k: v for k, v in problem.items() if isinstance(v, dict)}
    return {"label": dict(metadata["label"])} if isinstance(metadata.get("label"), dict) else {}


def labels_end(metadata: dict) -> date | None:
    """The last day of the labels a model was trained on (``metadata["labels_end"]``). For a model saved
    before it was stored: the end of its validation cutoff's horizon, the latest it can be (a refitted model
    trained on that cutoff too), so no comparison or scoring takes a seen period for an unseen one."""
    if metadata.get("labels_end"):
        return date.fromisoformat(str(metadata["labels_end"]))
    label = metadata.get("label") or {}
    if metadata.get("validation_cutoff") and label.get("horizon_days"):
        return date.fromisoformat(str(metadata["validation_cutoff"])) + timedelta(days=int(label["horizon_days"]))
    return None


def churn_definition(label: object) -> str:
    """What churn means under a label (``{"kind", "horizon_days"}``, as stored in a model and a summary), in the
    words every output uses; empty for a label that is not a mapping."""
    if not isinstance(label, dict):
        return ""
    kind, horizon = label.get("kind", "inactivity"), label.get("horizon_days")
    if kind == "cancellation":
        within = f"the next {horizon} days" if horizon is not None else "the horizon"
        return f"a subscription active on the as-of date ends within {within} and none is active at the end"
    if kind == "inactivity":
        return f"no purchase in {f'the {horizon} days' if horizon is not None else 'the horizon'} after the as-of date"
    return f"{str(kind).replace('_', ' ')} within {f'{horizon} days' if horizon is not None else 'the horizon'}"


def population_rule(kind: str | None, lookback_days: int | None, min_purchases_in_lookback: int | None = 1
                    ) -> tuple[str, str]:
    """Who a label scores (the population rule of ``pipeline.build.labels``) in words, and why a customer with
    history is not in it."""
    if kind == "cancellation":
        return ("customers with a subscription active at the end of the as-of date",
                "no active subscription at the as-of date")
    k = int(min_purchases_in_lookback or 1)
    orders = "an order" if k == 1 else f"at least {k} orders"
    reason = (f"no order in the {lookback_days} days before the as-of date (already churned)" if k == 1
              else f"fewer than {k} orders in the {lookback_days} days before the as-of date")
    return f"customers with {orders} in the {lookback_days} days up to the as-of date", reason


def describe(problem: dict[str, dict[str, Any]]) -> str:
    """One line saying what churn means for this problem and who is scored (logged where a model is used)."""
    label = problem.get("label") or {}
    rule, _ = population_rule(label.get("kind"), label.get("lookback_days", "?"), label.get("min_purchases_in_lookback"))
    text = f"churn = {churn_definition(label)}; population: {rule}"
    features = problem.get("features") or {}
    extra = [str(m) for m in features.get("extra_modules") or ()]
    excluded = [str(x) for x in features.get("exclude") or ()]
    if extra:
        text += f"; extra feature modules: {', '.join(extra)}"
    if excluded:
        text += f"; features switched off: {', '.join(excluded)}"
    return text


def params_for_problem(params_path: str | Path | None, overrides: list[str] | tuple[str, ...],
                       problem: dict[str, dict[str, Any]]) -> tuple[Params, list[str]]:
    """Params for using a model: params.yaml and ``overrides``, with the model's stored problem over them.

    Args:
        params_path: params.yaml (None: defaults).
        overrides: the command's ``--set dotted.key=value`` options.
        problem: the stored problem definition (``stored_problem``).

    Returns:
        The params and notes: params.yaml settings the model's replace, and ``--set`` options ignored.

    Raises:
        ConfigError: a ``--set`` asks for a value of the problem other than the model's (names both values).

    The code a model could name (``NEVER_STORED``: ``features.extra_modules``) is never taken from it, even from a
    model saved when it was stored: the params' own apply (checked against the model's records by
    ``extensions.check_model_modules``).
    """
    given = load_params(params_path, list(overrides))
    problem = {section: _without_code(section, dict(settings)) for section, settings in problem.items()}
    resolved = {section: _plain(dataclasses.asdict(getattr(given, section))) for section in problem
                if hasattr(given, section)}
    notes: list[str] = []
    set_keys = set()
    for assignment in overrides:
        key = assignment.split("=", 1)[0].strip()
        section = key.split(".", 1)[0]
        set_keys.add(key)
        if section in problem:
            stored = _lookup(problem, key)
            if stored is _MISSING:
                continue  # a setting the model did not record (saved before it existed): params apply
            asked = _lookup(resolved, key)
            if asked != stored:
                raise ConfigError(
                    f"--set {key}={_show(asked)} contradicts the model, which was trained with {key}={_show(stored)}. "
                    f"Fix: drop the --set (the model's own {key} applies), or train a model with "
                    f"`churn train --set {key}={_show(asked)}` and pass it with --model")
            notes.append(f"--set {key}: the model was trained with {_show(stored)} already")
        elif section in TRAINING_ONLY:
            notes.append(f"--set {key} is ignored: {section} settings shape training and cannot change what a "
                         f"trained model gives")
    for section, stored in problem.items():
        current = resolved.get(section, {})
        for key, value in stored.items():
            full = f"{section}.{key}"
            if key in current and _plain(current[key]) != _plain(value) and full not in set_keys:
                notes.append(f"{full}: the model was trained with {_show(value)}, params say {_show(current[key])}; "
                             "the model's applies")
    rebuilt = {section: section_from_dict(section, {**resolved[section], **stored})
               for section, stored in problem.items() if section in resolved}
    return check_params(dataclasses.replace(given, **rebuilt)), notes


_MISSING = object()


def _lookup(tree: dict, dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return _plain(node)


def _plain(value: Any) -> Any:
    """JSON's view of a value (tuples as lists), so stored and resolved settings compare equal."""
    return json.loads(json.dumps(value, default=str))


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
