"""The body of ``churn score``: load the model, apply its problem, open the data, score every customer on the
engine, compare with the previous list, measure the health of the base, and write the output set. Callable from
Python (``score(...)``); what it says goes through a ``RunLog`` and what it made comes back as a ``ScoreRun``."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from features.registry import FeatureSpec
from models.bundle import KEY_COLUMNS, ModelBundle
from pipeline.build.features import build_plan
from pipeline.build.run import (
    DATA_END,
    check_as_of,
    check_model_tables,
    check_population,
    load,
    open_data,
    params_for_model,
    parse_date,
    resolve_as_of,
    shard_progress,
    warn_hindsight,
)
from pipeline.core import runrecord, scratch
from pipeline.core.config import DEFAULT_ACTION_EFFECTS, TargetingConfig
from pipeline.core.errors import DataError, OutputError
from pipeline.core.files import ParquetChunks, check_writable
from pipeline.core.runlog import RunLog
from pipeline.engine.base import FeatureRows
from pipeline.outputs.labels import currency_of
from pipeline.outputs.report import plots
from pipeline.outputs.sets import OutputSet, read_contributions, read_risk_list
from pipeline.scoring.changes import COMPARED_COLUMNS, compare, previous_list_path
from pipeline.scoring.health import base_health
from pipeline.scoring.score import Scorer, ScoreResult
from pipeline.training import tracking
from pipeline.training.effects_registry import (
    LoadedEffects,
    effects_model_name,
    load_effects,
    load_registered_effects,
)

SIDECARS = ("_shap.parquet", "_summary.json", "_shap_summary.png", "_run.json", "_manifest.json")


def sidecar(path: Path, suffix: str) -> Path:
    """A file written beside the risk list ``path`` (its SHAP values, summary, chart, run record, manifest)."""
    return path.with_name(f"{path.stem}{suffix}")


@dataclass
class ScoreRun:
    """What ``score`` made: the scoring result, the risk list as written (with the change columns when compared),
    the summary written beside it, the comparison with the earlier list (None: none), and where it went."""

    result: ScoreResult
    risk_list: pd.DataFrame
    summary: dict
    changes: dict | None
    path: Path


def without_unused_features(frame: pd.DataFrame, bundle: ModelBundle, log: RunLog) -> pd.DataFrame:
    """Today's features less those the model was not trained on (a column or table added to the data since),
    with a note: a new column in an export must not stop a scoring job. A feature the model needs and the
    data no longer gives still stops it (``ModelError``)."""
    kept = {*bundle.feature_names, *bundle.spec.condition_names, *KEY_COLUMNS}  # conditions: reasons and actions read them
    unused = [c for c in frame.columns if c not in kept]
    if unused:
        shown = ", ".join(unused[:10]) + (f" and {len(unused) - 10} more" if len(unused) > 10 else "")
        log.note(f"{len(unused)} feature(s) of today's data are not in the model and are left out of scoring: {shown}. "
                 "Retrain to use them.")
    return frame.drop(columns=unused)


def previous_list(target: Path, day: date) -> Path | None:
    """The list ``churn score`` compares with by default: the newest ``risk_asof=DATE`` list before ``day`` in
    the folder the new list goes to."""
    folder = target.parent
    return previous_list_path(folder.iterdir(), day) if folder.is_dir() else None


def compare_with_previous(path: Path, explicit: bool, result: ScoreResult, own: OwnContributions,
                          features: FeatureRows, spec: FeatureSpec, currency: str, log: RunLog
                          ) -> tuple[pd.DataFrame, dict | None]:
    """This run's risk list with the change columns, and the summary's ``changes`` section (``own``: this run's SHAP
    file, of which only the risen customers' rows are read, with the chart's sample in the same pass; ``features``:
    the feature table as the engine keeps it, of which only the risen customers' rows are read). A list found
    by default that cannot be read or compared is passed over with a warning; one given explicitly stops the run
    (exit 3)."""
    try:
        previous, previous_summary = read_risk_list(path, COMPARED_COLUMNS)
        previous_shap = sidecar(path, "_shap.parquet")
        # of both runs' SHAP files, only the rows of the customers whose risk rose are read, when compare asks
        contributions = (lambda ids: read_contributions(previous_shap, ids=ids)) if previous_shap.exists() else None
        changed = compare(result.risk_list, result.summary, previous, previous_summary,
                          own, contributions, features.rows, spec,
                          currency=currency)
    except DataError as exc:
        if explicit:
            raise DataError(f"--previous {path}: {exc}") from None
        log.warn(f"the earlier list {path} found beside the output is not compared: {exc} (pass --previous FILE or "
                 "--no-previous)", code="previous_not_compared")
        return result.risk_list, None
    return changed.risk_list, {"previous_list": str(path), **changed.summary}


def read_own_contributions(path: Path, ids) -> pd.DataFrame:
    """The rows of ``ids`` of the SHAP file this run is writing: a failure to read it back is this run's (an
    ``OutputError``), never the previous list's."""
    try:
        return read_contributions(path, ids=ids)
    except DataError as exc:
        raise OutputError(f"this run's SHAP values, written while scoring, cannot be read back ({exc}). Fix: check "
                          "the free space and permissions of engine.temp_dir (default: the system's temporary "
                          "folder) and run again") from None


class OwnContributions:
    """This run's SHAP file, written while scoring, read back once for the rows that what follows scoring needs: the
    SHAP summary chart's sample of 3,000 customers and, when an earlier list is compared, the customers whose risk
    rose. Each read is a pass over the file's row groups (684,000 customers: 580 MB), so the comparison's read takes
    the sample's rows with it, and the chart reads the file only when no comparison did."""

    def __init__(self, path: Path, features: FeatureRows, seed: int):
        self.path = path
        self.sample = features.sample(3000, seed)
        self.sample_ids = pd.Index(self.sample["customer_id"].astype(str))
        self.sample_values: pd.DataFrame | None = None

    def __call__(self, ids) -> pd.DataFrame:
        """The rows of ``ids`` in the file's order (``read_contributions``), read in one pass with the sample's."""
        wanted = pd.Index(pd.Series(list(ids), dtype=object).astype(str))
        rows = read_own_contributions(self.path, wanted.union(self.sample_ids))
        key = rows["customer_id"].astype(str)
        self.sample_values = rows[key.isin(self.sample_ids)].reset_index(drop=True)
        return rows[key.isin(wanted)].reset_index(drop=True)

    def sample_rows(self) -> pd.DataFrame:
        """The sample's rows, in the sample's order."""
        if self.sample_values is None:
            self.sample_values = read_own_contributions(self.path, self.sample_ids)
        rows = pd.Index(self.sample_values["customer_id"].astype(str)).get_indexer(self.sample_ids)
        return self.sample_values.iloc[rows].reset_index(drop=True)


def explanations_chart(own: OwnContributions, bundle: ModelBundle) -> bytes:
    """The SHAP summary chart (a beeswarm) of a sample of 3,000 customers: their SHAP values are those scoring wrote
    to the SHAP file, read back for these customers only, not computed again."""
    shap_values = own.sample_rows()[[f"churn_{c}" for c in bundle.feature_names]].to_numpy()
    return plots.beeswarm_plot(shap_values, bundle.check_features(own.sample), "SHAP summary (churn, log-odds)")


def effect_model_for(churn_model_name: str, horizon_days: int, uri: str | Path | None = None, off: bool = False
                     ) -> tuple[LoadedEffects | None, str]:
    """The effect model to target by, and a note saying which effects the call list uses and why.

    ``uri``: a saved effect model folder (default: the registered ``<model>-effects@champion``). It is used only
    when it passed its gate (held-out Qini above zero with its interval) and predicts over the churn model's
    horizon; otherwise the configured or measured average effects (``targeting.action_effects``) are."""
    fallback = "the call list uses the average effects of targeting.action_effects"
    if off:
        return None, f"--no-effects: {fallback}"
    if uri is not None:
        loaded = load_effects(uri)
    else:
        loaded, why = load_registered_effects(effects_model_name(churn_model_name))
        if loaded is None:
            latest, _ = load_registered_effects(effects_model_name(churn_model_name), "challenger")
            if latest is not None:  # learned, but it did not pass its gate: say why
                why = f"{why}; the latest, {latest.label}, is not used: {latest.metadata.get('gate_reason')}"
            return None, f"{why}: {fallback}"
    meta = loaded.metadata
    if not meta.get("passed"):
        return None, f"the effect model {loaded.label} is not used: {meta.get('gate_reason')}; {fallback}"
    if int(meta.get("horizon_days", -1)) != int(horizon_days):
        return None, (f"the effect model {loaded.label} predicts over {meta.get('horizon_days')} days and the churn "
                      f"model over {horizon_days}: {fallback}")
    return loaded, f"the call list targets by the effect model {loaded.label}: {meta.get('gate_reason')}"


def effects_used(effect_model: LoadedEffects | None, targeting: TargetingConfig, actions: list[str]) -> dict:
    """What the report says about the effects the call list used (the summary's ``targeting.effects``, beside the
    groups and the note): with an effect model, its last evaluation on customers it never saw (Qini coefficient
    and interval, against ranking by risk, the measured effect in the top of the list, the uplift curve), so the
    report needs no model; without one, the average effect of each action on the list and whether they are the
    shipped assumptions or values set in ``targeting.action_effects``."""
    if effect_model is not None:
        meta = effect_model.metadata
        ev = meta.get("evaluation") or {}
        return {"used": "effect_model", "learned_as_of": meta.get("as_of"), "lists": len(meta.get("lists") or []),
                "actions": list(meta.get("actions") or []),
                "evaluation": {k: ev.get(k) for k in ("customers", "contacted", "held_out", "qini", "qini_by_risk",
                                                      "effect_overall", "effect_in_top", "curve")}}
    shipped = all(targeting.action_effects.get(a) == DEFAULT_ACTION_EFFECTS.get(a) for a in actions)
    used = "measured" if targeting.action_effects_measured else "defaults" if shipped else "configured"
    return {"used": used, **({"measured_on": targeting.action_effects_measured} if used == "measured" else {}),
            "average_effects": {a: float(targeting.action_effects.get(a, targeting.default_effect)) for a in actions}}


def score(params: str | Path | None, data: str | Path, as_of: str | date, out: str | Path | None = None,
          model: str | None = None, overrides: list[str] | tuple[str, ...] = (), allow_stale: bool = False,
          previous: str | Path | None = None, no_previous: bool = False, log: RunLog | None = None,
          effects: str | Path | None = None, no_effects: bool = False) -> ScoreRun:
    """``churn score``: every customer as of ``as_of`` scored by ``model`` (an MLflow model URI or a saved bundle
    folder; default the registry's champion), the risk list with drivers and actions written to ``out`` (default
    ``risk_asof=DATE.parquet``) with its SHAP values, summary, chart, run record and manifest, as one output set.

    ``previous`` is an earlier list to compare with (default: the newest ``risk_asof=DATE`` list before ``as_of``
    beside ``out``; ``no_previous``: none). Safe to re-run: the outputs are switched in together (all new or all
    old, whatever stops the run), and the same inputs give the same files."""
    log = log or RunLog()
    record = runrecord.current()
    cfg = load(params, overrides)
    day = parse_date(as_of)  # None: data-end, known once the data is open
    named = Path(out) if out is not None else Path(f"risk_asof={day or DATA_END}.parquet")
    if named.suffix not in (".parquet", ".csv"):
        raise DataError(f"--out {named}: use a .parquet or .csv file name")
    check_writable(named)  # before any work: a read-only or missing folder is found now, not after scoring
    model = model or f"models:/{cfg.registry.model_name}@champion"
    with record.phase("loading the model"):
        tracking.configure()
        if model.startswith(("models:/", "runs:/")):
            tracking.check_stores(cfg, tuning=False)
        with log.status(f"loading model {model}..."):
            loaded = tracking.load_model(model)
    bundle, version = loaded.bundle, loaded.label
    record.model = {"uri": loaded.uri, "label": loaded.label, "version": loaded.version, "run_id": loaded.run_id}
    cfg = params_for_model(params, overrides, bundle.metadata, log, day)
    with record.phase("reading and validating the data"):
        ds = open_data(data, cfg, log)
        if day is None:
            day = resolve_as_of(as_of, ds, log)
            warn_hindsight(bundle.metadata, day, log)
        else:
            resolve_as_of(day, ds, log)
            record.as_of["given"] = str(as_of)
        check_as_of(ds, day, log, max_age_days=cfg.scoring.max_data_age_days, setting="scoring.max_data_age_days",
                    allow_stale=allow_stale)
        check_model_tables(ds, bundle.spec, data)
    target = Path(out) if out is not None else Path(f"risk_asof={day.isoformat()}.parquet")
    plan = build_plan(ds, cfg, day, choices=bundle.metadata.get("data_choices") or None)
    effect_model, effects_note = effect_model_for(cfg.registry.model_name, bundle.horizon_days, effects, no_effects)
    log.note(effects_note)
    record.model["effects"] = effect_model.label if effect_model is not None else None
    scorer = Scorer(bundle, day, cfg.scoring, version, cfg.targeting, cfg.value, cfg.seed, effect_model)
    # Each batch's SHAP values go to the SHAP file as the batch is scored (never every customer's at once), in a
    # scratch folder under engine.temp_dir (like the engine's spills); what follows reads back only the rows it
    # needs, and the file is moved into the output set with the rest.
    with scratch.temporary("shap", cfg.engine.temp_dir or None) as folder, contextlib.ExitStack() as held:
        shap_path = Path(folder) / "shap.parquet"
        with record.phase("building features and scoring"), \
                log.status(f"building features as of {day} and scoring...") as update, \
                ParquetChunks(shap_path) as shap:
            features, result = ds.score(
                plan, scorer, lambda f: without_unused_features(check_population(ds, cfg, day, f), bundle, log),
                progress=shard_progress(day, update), contributions_to=shap.write)
            held.callback(features.close)  # the engine's copy of the feature table, let go however the run ends
        record.customers_scored = int(result.summary["customers"])
        record.bands = {str(band): int(n) for band, n in result.summary["bands"].items()}
        record.drift = [{"feature": r.feature, "psi": round(float(r.psi), 4), "flagged": bool(r.flagged),
                         "moves_by_construction": bool(r.ages)} for r in result.drift.itertuples()]
        risk, changes = result.risk_list, None
        own = OwnContributions(shap_path, features, cfg.seed)
        previous = Path(previous) if previous is not None else None
        previous_path = previous if previous is not None else None if no_previous else previous_list(target, day)
        if previous_path is not None:
            with record.phase("comparing with the previous list"):
                risk, changes = compare_with_previous(previous_path, previous is not None, result, own, features,
                                                      bundle.spec, currency_of(cfg), log)
        result.summary["targeting"]["effects"]["note"] = effects_note
        result.summary["targeting"]["effects"].update(effects_used(
            effect_model, cfg.targeting, sorted(map(str, result.risk_list["action"].dropna().unique()))))
        summary = {**result.summary, "currency": currency_of(cfg),
                   "global_families": result.global_families.to_dict("records"),
                   "global_features": result.global_features.head(30).to_dict("records"),
                   "drift": result.drift.to_dict("records")}
        with record.phase("measuring the health of the base"), \
                log.status("measuring the health of the customer base..."):  # in the engine's customer shards
            summary["population"], summary["health"] = base_health(ds, cfg.label, day, result.risk_list)
        if changes is not None:
            summary["changes"] = changes
        else:  # the report says no earlier list was compared, and how to pass one
            summary["no_previous"] = {"asked_none": bool(no_previous), "looked_in": str(target.parent)}
        with record.phase("drawing the explanations chart"):
            beeswarm = explanations_chart(own, bundle)
        check_writable(target)
        with record.phase("writing the output set"), \
                OutputSet(target, record.run_id) as outputs:  # switched in together when the block ends
            outputs.write_table(risk, target.name)
            outputs.move_in(shap_path, outputs.name_of("_shap.parquet"))
            outputs.write_bytes(json.dumps(summary, indent=1, default=str).encode(), outputs.name_of("_summary.json"))
            outputs.write_bytes(beeswarm, outputs.name_of("_shap_summary.png"))
            for name, sha in outputs.hashes.items():
                record.output(str(target.with_name(name)), sha, (outputs.tmp / name).stat().st_size)
            record.finish(0)
            outputs.write_bytes(json.dumps(record.to_dict(), indent=1, default=str).encode(),
                                outputs.name_of("_run.json"))
    return ScoreRun(result, risk, summary, changes, target)
