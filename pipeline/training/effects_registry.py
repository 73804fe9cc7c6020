"""The effect model (``models.uplift.ActionEffects``) on disk and in the MLflow registry, beside the churn model:
its own registered name (``<registry.model_name>-effects``), aliases (``champion`` only when its held-out Qini
passes the gate, else ``challenger``), the gate's figures as version tags, and a model card.

On disk: ``effects.json`` (the boosters as LightGBM text, the settings, the evaluation), ``model_card.md`` and
``manifest.json`` (SHA-256 of both): loading checks every hash before anything is parsed and never unpickles.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from models.uplift import ActionEffects
from pipeline.core.errors import ModelError, StoreError, said
from pipeline.core.files import file_sha256

EFFECTS_FILE, CARD_FILE, MANIFEST = "effects.json", "model_card.md", "manifest.json"
ARTIFACT_PATH = "effect_model"
EXPERIMENT = "churn"


def effects_model_name(churn_model_name: str) -> str:
    """The effect model's registered name, beside the churn model's."""
    return f"{churn_model_name}-effects"


@dataclass
class LoadedEffects:
    """An effect model, what it was learned from and how it did (``metadata``), and where it came from."""

    model: ActionEffects
    metadata: dict
    label: str
    version: str | None = None


def model_card(metadata: dict) -> str:
    """The model card: what the model predicts, from what, how it did on customers it never saw, and its limits."""
    ev = metadata["evaluation"]
    q, qr = ev["qini"], ev["qini_by_risk"]
    lines = [
        f"# Effect model `{metadata['name']}`", "",
        "Predicts, per customer and action, the fall in churn probability over "
        f"{metadata['horizon_days']} days if contacted with that action (negative: the contact pushes them away).", "",
        "## Learned from",
        f"- {len(metadata['lists'])} past list(s): " + ", ".join(f"{x['as_of']} ({x['contacted']:,} contacted, "
                                                                 f"{x['held_out']:,} held out)" for x in metadata["lists"]),
        f"- actions: {', '.join(metadata['actions'])}",
        f"- X-learner on LightGBM, {metadata['fitted_rows']:,} rows; {ev['customers']:,} rows of other customers kept "
        "for the figures below", "",
        "## On customers it never saw",
        f"- Qini coefficient {q['coefficient']:.4f} ({q['level']:.0%} interval {q['interval'][0]:.4f} to "
        f"{q['interval'][1]:.4f}); ranking by risk: {qr['coefficient']:.4f}",
        f"- gate: {'passed' if metadata['passed'] else 'not passed'}: {metadata['gate_reason']}", "",
        "## Limits",
        "- Trust it only as far as the past lists reach: actions never tried, customers unlike those listed and a "
        "single campaign's season are outside what it learned.",
        "- Few held-out customers give wide intervals; the gate then keeps the configured average effects.",
    ]
    return "\n".join(lines) + "\n"


def save_effects(folder: str | Path, model: ActionEffects, metadata: dict) -> Path:
    """Write the effect model's folder (effects.json, model_card.md, manifest.json)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / EFFECTS_FILE).write_text(json.dumps({"model": model.to_dict(), "metadata": metadata}))
    (folder / CARD_FILE).write_text(model_card(metadata))
    manifest = {"files": {name: file_sha256(folder / name) for name in (EFFECTS_FILE, CARD_FILE)}}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return folder


def load_effects(folder: str | Path, label: str | None = None, version: str | None = None,
                 manifest_sha256: str | None = None) -> LoadedEffects:
    """The effect model of a folder, every file checked against its manifest (and the manifest against
    ``manifest_sha256`` when the registry recorded one)."""
    folder = Path(folder)
    try:
        if manifest_sha256 is not None and file_sha256(folder / MANIFEST) != manifest_sha256:
            raise ModelError(f"{folder / MANIFEST} does not match the hash recorded when the effect model was registered")
        files = json.loads((folder / MANIFEST).read_text())["files"]
        for name, sha in files.items():
            if file_sha256(folder / name) != sha:
                raise ModelError(f"{folder / name} does not match its manifest (changed, cut short or replaced). Fix: "
                                 "learn the effects again with `churn learn-effects`")
        doc = json.loads((folder / EFFECTS_FILE).read_text())
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot read the effect model in {folder} ({said(exc)}). Fix: learn the effects again with "
                         "`churn learn-effects`") from None
    return LoadedEffects(ActionEffects.from_dict(doc["model"]), doc["metadata"], label or f"local:{folder.name}",
                         version)


def register_effects(folder: str | Path, metadata: dict, passed: bool) -> tuple[str, str, str]:
    """Log the folder as an MLflow run's artifacts and register it under ``metadata['name']``; alias
    ``champion`` when it passed the gate, else ``challenger``. Returns (run id, version, alias)."""
    import mlflow
    from mlflow import MlflowClient

    name = metadata["name"]
    ev = metadata["evaluation"]
    try:
        mlflow.set_experiment(EXPERIMENT)
        with mlflow.start_run(run_name=f"learn effects as of {metadata['as_of']}") as run:
            mlflow.set_tags({"kind": "effects", "as_of": metadata["as_of"], "passed": str(passed).lower()})
            mlflow.log_metrics({"qini": ev["qini"]["coefficient"], "qini_low": ev["qini"]["interval"][0],
                                "qini_high": ev["qini"]["interval"][1], "qini_by_risk": ev["qini_by_risk"]["coefficient"]})
            mlflow.log_artifacts(str(folder), ARTIFACT_PATH)
            source = mlflow.get_artifact_uri(ARTIFACT_PATH)
        client = MlflowClient()
        manifest_sha = file_sha256(Path(folder) / MANIFEST)
        tags = {"manifest_sha256": manifest_sha, "passed": str(passed).lower(),
                "qini": f"{ev['qini']['coefficient']:.6f}", "qini_low": f"{ev['qini']['interval'][0]:.6f}",
                "horizon_days": str(metadata["horizon_days"])}
        try:
            client.get_registered_model(name)
        except Exception:  # the first version: the name is created beside the churn model's
            client.create_registered_model(name, description="Per customer and action, the predicted fall in churn "
                                           "probability if contacted (churn learn-effects)")
        # the folder's files, not an MLflow flavour: nothing of it is ever unpickled
        version = client.create_model_version(name, source, run_id=run.info.run_id, tags=tags).version
        alias = "champion" if passed else "challenger"
        client.set_registered_model_alias(name, alias, version)
    except Exception as exc:
        raise StoreError(f"registering the effect model {name} in MLflow at {mlflow.get_tracking_uri()} failed "
                         f"({said(exc)}). Fix: check the tracking store, then run again") from None
    return run.info.run_id, str(version), alias


def load_registered_effects(name: str, alias: str = "champion") -> tuple[LoadedEffects | None, str]:
    """The registered effect model under ``alias``, or None and why (no such model or alias)."""
    import mlflow
    from mlflow import MlflowClient

    try:
        mv = MlflowClient().get_model_version_by_alias(name, alias)
    except Exception:
        return None, (f"no effect model is registered as {name}@{alias} (`churn learn-effects` registers one as "
                      "champion when its held-out Qini is above zero with its interval)")
    with tempfile.TemporaryDirectory(prefix="churn-effects-") as tmp:
        try:
            root = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}@{alias}", dst_path=tmp))
        except Exception as exc:
            raise ModelError(f"cannot load the effect model {name}@{alias} ({said(exc)}). Fix: learn the effects again "
                             "with `churn learn-effects`") from None
        folder = root if (root / MANIFEST).exists() else root / ARTIFACT_PATH
        loaded = load_effects(folder, f"{name} v{mv.version} ({alias})", str(mv.version),
                              (mv.tags or {}).get("manifest_sha256"))
    return loaded, ""


__all__ = ["LoadedEffects", "effects_model_name", "load_effects", "load_registered_effects", "model_card",
           "register_effects", "save_effects"]
