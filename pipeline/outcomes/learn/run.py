"""The body of ``churn learn-effects``: gather past lists whose horizon has passed (each customer's features as
of their list, the action, contacted or held out, churned), learn each action's effect per customer, judge it on
customers it never saw, and store it beside the churn model in the registry (champion only when it beats random
targeting). Callable from Python (``learn_effects(...)``); what it says goes through a ``RunLog``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.uplift import ActionEffects
from pipeline.build.features import build_features
from pipeline.build.run import load, open_data
from pipeline.core import runrecord
from pipeline.core.errors import DataError, OutputError
from pipeline.core.files import check_writable, file_sha256, read_table, write_bytes
from pipeline.core.runlog import RunLog
from pipeline.outcomes import effects as fx
from pipeline.outcomes import figures as oc
from pipeline.scoring.changes import list_as_of
from pipeline.training import tracking
from pipeline.training.effects_registry import (
    CARD_FILE,
    EFFECTS_FILE,
    MANIFEST,
    effects_model_name,
    register_effects,
    save_effects,
)

LIST_SUFFIXES = (".parquet", ".csv")


@dataclass
class LearnEffectsRun:
    """The effect model, everything measured about it (``metadata``, as ``--json`` writes it), and where it went."""

    model: ActionEffects
    metadata: dict
    written: dict[str, Path] = field(default_factory=dict)
    registered: dict | None = None
    test_rows: pd.DataFrame | None = None  # the rows of customers kept out of fitting, that the figures are on


def list_files(lists: list[str | Path]) -> list[Path]:
    """The risk lists named: files as given, folders for their ``risk_asof=*`` lists (not their SHAP tables)."""
    found: list[Path] = []
    for item in map(Path, lists):
        if item.is_dir():
            found += sorted(p for p in item.iterdir() if p.name.startswith("risk_asof=") and p.suffix in LIST_SUFFIXES
                            and not p.stem.endswith(("_shap", "_summary")))
        elif item.is_file():
            found.append(item)
        else:
            raise DataError(f"--lists {item}: no such file or folder. Fix: pass risk lists written by `churn score` or "
                            "a folder holding them")
    if not found:
        raise DataError(f"--lists {', '.join(map(str, lists))}: no risk list (risk_asof=DATE.parquet or .csv) found")
    return found


def read_list(path: Path) -> tuple[pd.DataFrame, dict]:
    frame = read_table(path)
    summary_path = path.with_name(f"{path.stem}_summary.json")
    try:
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{summary_path}: not valid JSON ({exc}). Fix: remove it (the params' label is then used)") \
            from None
    return frame, summary


def learn_effects(params: str | Path | None, lists: list[str | Path], data: str | Path, out: Path | None = None,
                  json_path: Path | None = None, register: bool = True, overrides: list[str] | tuple[str, ...] = (),
                  log: RunLog | None = None) -> LearnEffectsRun:
    """``churn learn-effects``: learn whom each action helps from past lists and their holdouts.

    Args:
        params: params.yaml (targeting costs, seed, the churn model's registered name).
        lists: risk lists (or folders of them) from past campaigns; each needs held-out customers and a horizon
            that the data covers. Lists from several campaigns and as-of dates are learned from together.
        data: the data folder, reaching the end of every list's horizon.
        out: a folder to save the effect model in (effects.json, model_card.md, manifest.json); None: a temporary
            one, registered and then dropped.
        json_path: write every figure here.
        register: register the model in MLflow (``<registry.model_name>-effects``; alias champion when it passes
            the gate, else challenger).
    """
    log = log or RunLog()
    record = runrecord.current()
    cfg = load(params, overrides)
    if out is not None:
        check_model_folder(out)
    for target in (out, json_path):
        if target is not None:
            check_writable(target / EFFECTS_FILE if target is out else target)
    paths = list_files(lists)
    loaded = []
    for path in paths:  # every list read and checked for columns before the data is
        frame, summary = read_list(path)
        as_of = list_as_of(frame, summary)
        label, notes = oc.list_label(summary, cfg.label)
        loaded.append((path, frame, as_of, label, notes))
    horizons = {x[3].horizon_days for x in loaded}
    if len(horizons) > 1:
        raise DataError(f"the lists were scored with different horizons ({sorted(horizons)} days): one effect model "
                        "predicts over one horizon. Fix: pass lists with the same label.horizon_days")
    with record.phase("reading and validating the data"):
        ds = open_data(data, cfg, log)
    first_day, last_day = ds.date_range()
    record.data = {"first_day": str(first_day), "last_day": str(last_day)}
    parts, sources, notes = [], [], []
    for path, frame, as_of, label, list_notes in loaded:
        fx.check_past_list(frame, str(path), as_of, label.horizon_days, last_day)
        notes += [f"{path.name}: {n}" for n in list_notes]
        with record.phase("gathering past lists"), log.status(f"gathering {path.name}: features as of {as_of} and outcomes to "
                        f"{oc.horizon_end(as_of, label.horizon_days)}..."):
            features = build_features(ds, cfg, as_of)
            realised = oc.realised_outcomes(ds, cfg, label, as_of, frame["customer_id"].astype(str))
            rows = fx.training_rows(frame, features, realised, as_of)
        listed = int(frame["contact_group"].isin([fx.TREATMENT, fx.HOLDOUT]).sum())
        if len(rows) < listed:
            notes.append(f"{path.name}: {listed - len(rows):,} of {listed:,} listed customers are outside the data's "
                         f"population at {as_of} and are left out")
        parts.append(rows)
        sources.append({"list": str(path), "as_of": as_of.isoformat(), "contacted": int(rows["contacted"].sum()),
                        "held_out": int((~rows["contacted"]).sum())})
    rows, combine_notes = fx.combine(parts)
    notes += combine_notes
    if len(parts) == 1:
        notes.append("one campaign only: the effects are those of one season and one offer; learn again when the next "
                     "campaign's horizon has passed")
    test = fx.held_out(rows["customer_id"], cfg.seed)
    train, held = rows[~test], rows[test]
    names = fx.feature_columns(rows)
    record.as_of = {"date": max(s["as_of"] for s in sources), "lists": [s["as_of"] for s in sources]}
    with record.phase("learning the effects"), \
            log.status(f"learning the effect of {rows['action'].nunique()} action(s) on {len(train):,} rows..."):
        model = ActionEffects(random_state=cfg.seed).fit(train[names], train["action"], train["contacted"],
                                                          train["churned"])
    risk, value, sources_of = figures_inputs(held, model, label.horizon_days)
    notes += sources_of
    with record.phase("judging it on customers it never saw"), \
            log.status(f"judging it on {len(held):,} rows of customers it never saw..."):
        evaluation = fx.evaluate(model, held, risk, value, cfg.targeting.contact_cost, cfg.targeting.offer_cost,
                                 cfg.seed)
    passed, reason = fx.passes(evaluation)
    metadata = {"name": effects_model_name(cfg.registry.model_name), "as_of": max(s["as_of"] for s in sources),
                "horizon_days": label.horizon_days, "lists": sources, "actions": model.actions_,
                "fitted_rows": int(len(train)), "features": names, "evaluation": evaluation, "passed": passed,
                "gate_reason": reason, "notes": notes,
                "contact_cost": cfg.targeting.contact_cost, "offer_cost": cfg.targeting.offer_cost,
                "currency": cfg.scoring.currency.strip()}
    result = LearnEffectsRun(model, metadata, test_rows=held)
    if passed:
        log.info(f"the effect model passes the gate: {reason}")
    else:
        log.warn(f"the effect model does not pass the gate: {reason}; scoring keeps the configured average effects",
                 code="effects_not_better_than_random")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="churn-effects-") as tmp:
        folder = save_effects(out if out is not None else Path(tmp) / "effect_model", model, metadata)
        if out is not None:
            result.written["model"] = out
        if register:
            tracking.configure()
            tracking.check_stores(cfg, tuning=False)
            with record.phase("registering"), log.status("registering the effect model in MLflow..."):
                run_id, version, alias = register_effects(folder, metadata, passed)
            result.registered = {"name": metadata["name"], "version": version, "alias": alias, "run_id": run_id}
            record.mlflow_run_id = run_id
        if out is not None:
            for name in (EFFECTS_FILE, CARD_FILE, MANIFEST):
                record.output(str(out / name), file_sha256(out / name), (out / name).stat().st_size)
    q = evaluation["qini"]
    record.model = {"name": metadata["name"], "kind": "effects", "passed": passed, "qini": q["coefficient"],
                    "qini_interval": q["interval"], "horizon_days": label.horizon_days,
                    **({k: result.registered[k] for k in ("version", "alias", "run_id")} if result.registered else {}),
                    **({"folder": str(out)} if out is not None else {})}
    if json_path is not None:
        write_bytes(json.dumps({**metadata, "registered": result.registered}, indent=1, default=str).encode(),
                    json_path)
        record.output(str(json_path), file_sha256(json_path), json_path.stat().st_size)
        result.written["json"] = json_path
    return result


def check_model_folder(out: Path) -> None:
    """``--out`` is a folder for the effect model's files: refused when it is a file, or a folder holding anything
    but an earlier effect model's files (which it replaces), so no other file is ever overwritten or mixed in."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; the effect model is a folder of files ({EFFECTS_FILE}, {CARD_FILE}, "
                          f"{MANIFEST}). Fix: pass a folder name, e.g. models/effects")
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if p.name not in (EFFECTS_FILE, CARD_FILE, MANIFEST))
        if others:
            raise OutputError(f"--out {out} holds other files ({', '.join(others[:3])}"
                              f"{' and more' if len(others) > 3 else ''}); the effect model's folder holds only its own "
                              "files, which a new run replaces. Fix: pass a new or empty folder")


def figures_inputs(held: pd.DataFrame, model: ActionEffects, horizon_days: int
                   ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The churn probability and value if retained the figures rank by: the lists' own (what the call list used)
    where every list has them, else the effect model's churn probability without contact and the customer's spend
    over the last horizon, with a note saying so."""
    notes = []
    if "list_churn_probability" in held.columns and held["list_churn_probability"].notna().all():
        risk = held["list_churn_probability"].to_numpy(float)
    else:
        risk = model.churn_if_not_contacted(held[model.feature_names_])
        notes.append("the lists hold no churn probability: ranking by risk uses the effect model's churn probability "
                     "without contact (learned on the held-out customers)")
    spend = f"spend_last_{horizon_days}d"
    if "list_value_if_retained" in held.columns and held["list_value_if_retained"].notna().all():
        value = held["list_value_if_retained"].to_numpy(float)
    elif spend in held.columns:
        value = held[spend].fillna(0.0).to_numpy(float)
        notes.append(f"the lists hold no value if retained: the figures value a customer at their spend over the last "
                     f"{horizon_days} days ({spend})")
    else:
        value = np.ones(len(held))
        notes.append("the lists hold no value if retained and the features no spend over the horizon: every customer "
                     "counts as 1")
    return risk, value, notes


__all__ = ["LearnEffectsRun", "check_model_folder", "figures_inputs", "learn_effects", "list_files"]
