"""The trained models as one bundle: churn booster, calibrator, value booster (value if retained, behind the
loyalty score), feature spec and the training reference (loyalty score distribution and feature
distributions for drift).

Saved as LightGBM text files plus one JSON document: loading never unpickles anything. A manifest
(``manifest.json``) holds the SHA-256 of every file; loading checks every hash before any file is parsed, so a
changed, truncated, missing or foreign file is refused (``ModelError`` naming it) before LightGBM reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.registry import FeatureSpec
from models.calibration import Calibrator
from models.lgbm import EncodedRows, LGBMChurnClassifier, LGBMValueRegressor, check_feature_frame
from pipeline.core.errors import ModelError, said
from pipeline.core.files import file_sha256, unmatched_file

# 2: the value booster predicts value if retained (1: every customer's spend, churners' zeros included)
FORMAT_VERSION = 2
SCORE_LEVELS = np.linspace(0, 1, 1001)
# Identifiers and labels that may travel with a feature table; everything else must match the spec.
KEY_COLUMNS = ("customer_id", "cutoff", "as_of", "churned", "future_value")
MANIFEST = "manifest.json"
BUNDLE_FILES = ("bundle.json", "churn_model.txt", "loyalty_model.txt")


def bundle_hashes(folder: str | Path) -> dict[str, str]:
    """The hashes a bundle folder's manifest records (file name -> SHA-256); a ModelError when it has none."""
    path = Path(folder) / MANIFEST
    try:
        doc = json.loads(path.read_text())
        files = doc["files"]
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            raise ValueError("files is not a mapping of names to hashes")
    except FileNotFoundError:
        raise ModelError(f"{path} is missing: the model bundle has no record of its files' hashes, so it cannot be "
                         "checked. Fix: retrain with `churn train` (or save the bundle again with this version)") from None
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: the model bundle's manifest cannot be read ({type(exc).__name__}). Fix: use the model "
                         "as it was saved, complete and unchanged, or retrain with `churn train`") from None
    return {str(k): v for k, v in files.items()}


def verify_bundle(folder: str | Path, expected: dict[str, str] | None = None) -> None:
    """Check every file of a bundle folder against its manifest and, when given, against ``expected`` (the hashes
    recorded in the model registry when it was registered). Reads bytes only: nothing is parsed or executed.

    Raises:
        ModelError: naming the first file that is missing, changed, truncated or not part of the bundle.
    """
    folder = Path(folder)
    recorded = bundle_hashes(folder)
    if expected is not None and recorded != expected:
        changed = sorted(k for k in set(recorded) | set(expected) if recorded.get(k) != expected.get(k))
        raise ModelError(f"{folder / MANIFEST}: the bundle's manifest does not match the hashes recorded in the model "
                         f"registry (differs for {', '.join(changed)}): the stored model was changed after it was "
                         "registered. Refusing to load it. Fix: restore the model or retrain with `churn train`")
    missing = [name for name in BUNDLE_FILES if name not in recorded]
    if missing:
        raise ModelError(f"{folder / MANIFEST} does not list {', '.join(missing)}. Refusing to load the model. "
                         "Fix: retrain with `churn train`")
    outside = next((name for name in sorted(recorded) if Path(name).is_absolute() or ".." in Path(name).parts), None)
    if outside is not None:
        raise ModelError(f"{folder / MANIFEST} names a file outside the bundle ({outside}). Refusing to load the model")
    bad = unmatched_file(folder, recorded)
    if bad is not None:
        _, path, missing = bad
        if missing:
            raise ModelError(f"{path} is missing from the model bundle. Refusing to load the model. Fix: restore the "
                             "model as it was registered, or retrain with `churn train`")
        raise ModelError(f"{path} does not match the hash recorded when the model was saved (changed, cut short or "
                         "replaced). Refusing to load the model. Fix: restore the model as it was registered, or "
                         "retrain with `churn train`")
    foreign = sorted(p.name for p in folder.iterdir() if p.name not in recorded and p.name != MANIFEST)
    if foreign:
        raise ModelError(f"{folder / foreign[0]} is not part of the model bundle (not in its manifest). Refusing to load "
                         "the model. Fix: remove it, or restore the model as it was registered")


def _restore(cls, text: str, state: dict):
    """Rebuild a fitted wrapper from LightGBM's text format and its small JSON state."""
    est = cls()
    est.booster_ = lgb.Booster(model_str=text)
    est.feature_names_ = list(state["feature_names"])
    est.feature_names_in_ = np.asarray(est.feature_names_, dtype=object)
    est.n_features_in_ = len(est.feature_names_)
    est.categories_ = {k: list(v) for k, v in state["categories"].items()}
    est.best_iteration_ = int(state["best_iteration"])
    if cls is LGBMChurnClassifier:
        est.classes_ = np.array([0, 1])
    return est


def _state(est) -> dict:
    return {"feature_names": est.feature_names_, "categories": est.categories_, "best_iteration": est.best_iteration_}


# A labelled cutoff this close in the time of year to the date scored stands for the same season in drift checks
SAME_SEASON_DAYS = 21


def feature_reference(frame: pd.DataFrame, spec: FeatureSpec, bins: int = 10) -> dict[str, dict]:
    """Per feature: decile edges and shares (numeric), category shares, or the share on each day of its cycle
    (``Feature.cycle_days``), for population stability."""
    ref: dict[str, dict] = {}
    for feat in spec.features:
        col = frame[feat.name]
        if getattr(feat, "cycle_days", None):
            counts = cycle_counts(col.to_numpy(float), feat.cycle_days)
            ref[feat.name] = {"kind": "cyclic", "cycle_days": int(feat.cycle_days),
                              "shares": (counts / max(len(col), 1)).tolist()}
            continue
        if feat.kind == "categorical":
            shares = col.fillna("<missing>").astype(str).value_counts(normalize=True).sort_index()
            ref[feat.name] = {"kind": "categorical", "shares": {str(k): float(v) for k, v in shares.items()}}
            continue
        values = col.to_numpy(float)
        finite = values[np.isfinite(values)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])) if finite.size else np.array([])
        ref[feat.name] = {"kind": "numeric", "edges": edges.tolist(),
                          "shares": bin_shares(values, edges).tolist()}
    return ref


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many values fall in each bin (right-closed) between ``edges``, plus a last bin for missing values."""
    values = np.asarray(values, float)
    missing = ~np.isfinite(values)
    idx = np.searchsorted(np.asarray(edges, float), values[~missing], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return np.append(counts, missing.sum())


def cycle_counts(values: np.ndarray, cycle_days: int) -> np.ndarray:
    """How many values fall on each day of a cycle of ``cycle_days`` (whole days, modulo the cycle), plus a last
    bin for missing values."""
    values = np.asarray(values, float)
    missing = ~np.isfinite(values)
    days = np.mod(np.floor(values[~missing]), cycle_days).astype(int)
    return np.append(np.bincount(days, minlength=cycle_days).astype(float), missing.sum())


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of values in each bin (right-closed) between ``edges``, plus a last bin for missing values."""
    return bin_counts(values, edges) / max(len(values), 1)


@dataclass
class ModelBundle:
    """Everything scoring needs, with no reference to training data beyond summary distributions."""

    spec: FeatureSpec
    churn: LGBMChurnClassifier
    calibrator: Calibrator
    loyalty: LGBMValueRegressor
    loyalty_reference: list[float]
    tiers: dict[str, float]
    horizon_days: int
    drift_reference: dict[str, dict] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    # the same per labelled cutoff (ISO date -> reference): drift is judged against the time of year scored
    seasonal_drift_references: dict[str, dict[str, dict]] = field(default_factory=dict)

    def drift_reference_for(self, as_of: object) -> tuple[dict[str, dict], str | None]:
        """The drift reference for customers scored as of ``as_of`` and the cutoff it was taken at: that of the
        labelled cutoff nearest in the time of year (within ``SAME_SEASON_DAYS``, the latest of equals), else the
        validation cutoff's. Judged against the validation cutoff, a date a season away flags every feature that
        moves with the season (December's orders against September's), every time it runs."""
        if self.seasonal_drift_references and as_of is not None:
            day = pd.Timestamp(as_of)

            def distance(cutoff: str) -> float:
                apart = abs(day.day_of_year - pd.Timestamp(cutoff).day_of_year)
                return min(apart, 365.25 - apart)

            near = [c for c in self.seasonal_drift_references if distance(c) <= SAME_SEASON_DAYS]
            if near:
                best = min(near, key=lambda c: (distance(c), -pd.Timestamp(c).value))
                return self.seasonal_drift_references[best], best
        return self.drift_reference, self.metadata.get("validation_cutoff")

    @property
    def feature_names(self) -> list[str]:
        return self.spec.names

    def check_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's features of ``frame`` in training order; a mismatch is a ModelError naming them. The
        condition-only features (``Feature.model_input``) a feature table also holds are no model input: left out."""
        keys = [c for c in (*KEY_COLUMNS, *self.spec.condition_names) if c in frame.columns]
        return check_feature_frame(frame.drop(columns=keys), self.feature_names)

    def encode_rows(self, X: pd.DataFrame) -> tuple[EncodedRows, EncodedRows]:
        """The model inputs ``X`` (``check_features``) as the churn and the value model read them, encoded once where
        both read the same features and categories (they are trained on the same table)."""
        churn = self.churn.encode_rows(X)
        return churn, churn if self.loyalty.reads(churn) else self.loyalty.encode_rows(X)

    def churn_probability(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator.transform(self.churn.predict_proba(X)[:, 1])

    def value_if_retained(self, X: pd.DataFrame | EncodedRows) -> np.ndarray:
        """Spend expected in the horizon if the customer stays (never negative)."""
        return np.clip(self.loyalty.predict(X), 0, None)

    def loyalty_score(self, expected_value: np.ndarray) -> np.ndarray:
        """0-100: the share of the training reference with a lower expected value (same meaning every run)."""
        ref = np.asarray(self.loyalty_reference, float)  # quantiles of the reference's expected values at SCORE_LEVELS
        return np.round(100 * np.interp(expected_value, ref, SCORE_LEVELS), 2)

    def loyalty_tier(self, score: np.ndarray) -> np.ndarray:
        ordered = sorted(self.tiers.items(), key=lambda kv: -kv[1])
        out = np.full(len(score), ordered[-1][0], dtype=object)
        for name, bound in reversed(ordered):
            out[np.asarray(score) >= bound] = name
        return out

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """churn_probability, value_if_retained, expected_value ((1 - p) x value if retained), value_at_risk
        (p x value if retained), loyalty_score and loyalty_tier per row of a feature table."""
        X = self.check_features(frame)
        p = self.churn_probability(X)
        retained = self.value_if_retained(X)
        expected = (1 - p) * retained
        score = self.loyalty_score(expected)
        return pd.DataFrame({"churn_probability": p, "value_if_retained": retained, "expected_value": expected,
                             "value_at_risk": p * retained, "loyalty_score": score,
                             "loyalty_tier": self.loyalty_tier(score)}, index=frame.index)

    # -- persistence ------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "churn_model.txt").write_text(self.churn.booster_.model_to_string())
        (folder / "loyalty_model.txt").write_text(self.loyalty.booster_.model_to_string())
        doc = {
            "format_version": FORMAT_VERSION,
            "spec": self.spec.to_records(),
            "churn": _state(self.churn),
            "loyalty": _state(self.loyalty),
            "calibrator": self.calibrator.to_dict(),
            "loyalty_reference": self.loyalty_reference,
            "tiers": self.tiers,
            "horizon_days": self.horizon_days,
            "drift_reference": self.drift_reference,
            "seasonal_drift_references": self.seasonal_drift_references,
            "metadata": self.metadata,
        }
        (folder / "bundle.json").write_text(json.dumps(doc, indent=1, sort_keys=True, default=str))
        manifest = {"files": {name: file_sha256(folder / name) for name in BUNDLE_FILES}}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        return folder

    @classmethod
    def load(cls, folder: str | Path, expected_hashes: dict[str, str] | None = None) -> ModelBundle:
        """Load a saved bundle after checking every file's hash (see :func:`verify_bundle`); parse errors after
        that (a bundle saved by a damaged writer) are ModelErrors too."""
        folder = Path(folder)
        verify_bundle(folder, expected_hashes)
        try:
            return cls._parse(folder)
        except ModelError:
            raise
        except Exception as exc:  # the hashes matched, so the bundle was written this way: not loadable by this version
            raise ModelError(f"{folder}: the model bundle cannot be read ({said(exc, 160)}). Fix: "
                             "retrain with `churn train`") from None

    @classmethod
    def _parse(cls, folder: Path) -> ModelBundle:
        doc = json.loads((folder / "bundle.json").read_text())
        if doc.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"{folder}: model bundle format {doc.get('format_version')} is not supported by this version "
                             f"(it reads format {FORMAT_VERSION}). Fix: retrain with `churn train`")
        return cls(
            spec=FeatureSpec.from_records(doc["spec"]),
            churn=_restore(LGBMChurnClassifier, (folder / "churn_model.txt").read_text(), doc["churn"]),
            calibrator=Calibrator.from_dict(doc["calibrator"]),
            loyalty=_restore(LGBMValueRegressor, (folder / "loyalty_model.txt").read_text(), doc["loyalty"]),
            loyalty_reference=list(doc["loyalty_reference"]),
            tiers={k: float(v) for k, v in doc["tiers"].items()},
            horizon_days=int(doc["horizon_days"]),
            drift_reference=doc["drift_reference"],
            metadata=doc["metadata"],
            seasonal_drift_references=doc.get("seasonal_drift_references") or {},
        )
