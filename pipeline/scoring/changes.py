"""What changed since the last run: each customer's risk then and now, and why it rose.

How it works, and why: docs/outputs.md, section "pipeline/scoring/changes.py".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.registry import FeatureSpec
from models.explain import _fields, _plain, _reasons, _values
from pipeline.core.errors import DataError

CHANGE_COLUMNS = ("previous_probability", "probability_change", "previous_band", "change_reason")
MIN_RISE = 0.01  # a rise smaller than one probability point gets no change_reason: it is noise, not news
REASON_FAMILIES = 2  # families named in a change_reason
LARGEST_RISES = 20
DEFINITION_KEYS = ("kind", "horizon_days")  # what a probability is a probability of
POPULATION_KEYS = ("lookback_days", "min_purchases_in_lookback")  # who is in the population
LIST_NAME = re.compile(r"^risk_asof=(\d{4}-\d{2}-\d{2})\.(parquet|csv)$")


@dataclass
class Changes:
    risk_list: pd.DataFrame  # the current list plus CHANGE_COLUMNS, in its own order
    summary: dict  # the summary's ``changes`` section


def previous_list_path(paths: Iterable[str | Path], as_of: date) -> Path | None:
    """The newest ``risk_asof=YYYY-MM-DD.parquet`` (or ``.csv``) among ``paths`` dated before ``as_of``: the
    previous list ``churn score`` compares with by default. Parquet wins over CSV of the same date."""
    found = []
    for path in map(Path, paths):
        match = LIST_NAME.match(path.name)
        if match:
            try:
                day = date.fromisoformat(match.group(1))
            except ValueError:
                continue
            if day < as_of:
                found.append((day, match.group(2) == "parquet", path))
    return max(found)[2] if found else None


def top_band(band_rule: Mapping[str, Any]) -> str | None:
    """The highest risk band of a summary's ``band_rule``: the highest probability threshold, the smallest top
    share, else the first band listed (params list the highest first)."""
    bands = band_rule.get("bands") or {}
    thresholds = band_rule.get("thresholds")
    if thresholds:
        return max(thresholds, key=thresholds.get)
    if band_rule.get("by") == "top_share" and bands:
        return min(bands, key=bands.get)
    return next(iter(bands), None)


# Risen customers whose sentences are worked out at a time: what it holds per customer (every feature's change, a
# few times over) is held for a batch, not for every customer who rose (a third of 684,000 a month apart)
RISE_BATCH = 20_000

# What ``compare`` reads of the previous list: the rest of it (reasons, actions, values) is left unread
COMPARED_COLUMNS = ("customer_id", "churn_probability", "risk_band", "model_version", "as_of")


def compare(current: pd.DataFrame, current_summary: Mapping[str, Any], previous: pd.DataFrame,
            previous_summary: Mapping[str, Any],
            current_contributions: pd.DataFrame | Callable[[pd.Index], pd.DataFrame] | None = None,
            previous_contributions: pd.DataFrame | Callable[[pd.Index], pd.DataFrame] | None = None,
            features: pd.DataFrame | Callable[[pd.Index], pd.DataFrame] | None = None,
            spec: FeatureSpec | None = None, currency: str = "", largest: int = LARGEST_RISES) -> Changes:
    """Compare this run's risk list with a previous one.

    Args:
        current: this run's risk list (``customer_id``, ``churn_probability``, ``risk_band``, ``model_version``).
        current_summary: its summary (``as_of``, ``model_version``, ``label``, ``band_rule``).
        previous: the previous risk list, as ``pipeline.outputs.sets.read_risk_list`` returns it.
        previous_summary: its summary sidecar (empty when there is none).
        current_contributions: this run's SHAP values (``customer_id``, ``churn_<feature>`` in log-odds), or a
            function that reads the rows of the customer ids it is given from its SHAP file (only the customers
            whose risk rose are asked for).
        previous_contributions: the previous run's (``<stem>_shap.parquet``), the same way; None when it is not
            there.
        features: today's feature table (``customer_id`` and the features), for the sentences, or a function that
            gives the rows of the customer ids it is given (only the customers whose risk rose are asked for).
        spec: the features' metadata (families, sentences).
        currency: written with amounts in the sentences.
        largest: how many of the largest rises the summary lists.

    Returns:
        The risk list with the change columns, and the summary's ``changes`` section.
    """
    cur_day = date.fromisoformat(str(current_summary["as_of"])[:10])
    prev_day = list_as_of(previous, previous_summary)
    prev_version = previous_summary.get("model_version") or _first(previous.get("model_version"))
    cur_version = current_summary.get("model_version") or _first(current.get("model_version"))
    notes: list[str] = []
    comparable = _same_question(current_summary.get("label"), previous_summary.get("label"), notes)
    if prev_day >= cur_day:
        comparable = False
        notes.append(f"the previous list is as of {prev_day}, not before this one ({cur_day}): nothing is compared. "
                     "Pass --previous with an earlier list.")
    if comparable and prev_version != cur_version:
        notes.append(f"the previous list was scored by {prev_version}, this one by {cur_version}: a change in "
                     "probability mixes the customer's change with the model's.")

    cur_ids, prev_ids = _ids(current), _ids(previous)
    first = ~prev_ids.duplicated()
    at = prev_ids[first].get_indexer(cur_ids)  # position among the previous list's customers, -1 if new
    known = at >= 0
    entered = int((~known).sum())
    left = int((~prev_ids[first].isin(cur_ids)).sum())

    out = current.copy(deep=False)  # its own columns added below; the list's are not copied (copy-on-write)
    p_now = current["churn_probability"].to_numpy(float)
    if comparable:
        before = np.where(known, previous["churn_probability"].to_numpy(float)[first][at], np.nan)
        band_before = np.where(known, previous["risk_band"].to_numpy(dtype=object)[first][at], None)
    else:
        before = np.full(len(current), np.nan)
        band_before = np.full(len(current), None, dtype=object)
    change = p_now - before
    out["previous_probability"] = before
    out["probability_change"] = change
    out["previous_band"] = band_before
    with np.errstate(invalid="ignore"):
        risen = np.flatnonzero(change >= MIN_RISE)
    families = _rise_families(cur_ids[risen], current_contributions, previous_contributions, features, spec,
                              currency, comparable, notes)
    reasons = np.full(len(current), None, dtype=object)
    for pos, row in enumerate(risen):
        head = f"Risk up {round(change[row] * 100)} points since {prev_day}"
        said = families[pos] if families is not None else []
        reasons[row] = f"{head}: {'; '.join(_lower_first(s) for s in said)}" if said else head
    out["change_reason"] = reasons

    high = top_band(current_summary.get("band_rule") or {})
    prev_rule = (previous_summary.get("band_rule") or {})
    if comparable and prev_rule and prev_rule.get("bands") != (current_summary.get("band_rule") or {}).get("bands"):
        notes.append("the previous list drew its risk bands by other rules: 'newly high' compares band names.")
    in_high = (current["risk_band"] == high).to_numpy() if high is not None else np.zeros(len(current), bool)
    newly_high = (in_high & (band_before != high)) if comparable else np.zeros(len(current), bool)
    summary = {
        "previous_as_of": str(prev_day),
        "previous_model_version": prev_version,
        "comparable": bool(comparable),
        "note": " ".join(notes) or None,
        "entered": entered,
        "left": left,
        "customers_compared": int(known.sum()) if comparable else 0,
        "risk_up": int(risen.size),
        "risk_down": int((change <= -MIN_RISE).sum()),
        "top_band": high,
        "newly_high": int(newly_high.sum()),
        "newly_high_entered": int((newly_high & ~known).sum()),
        "largest_rises": _largest_rises(out, risen, largest),
    }
    return Changes(out, summary)


def _rows(frame: pd.DataFrame, columns: list[str], positions: np.ndarray) -> np.ndarray:
    """``columns`` of the rows of ``frame`` at ``positions``, as floats: those rows alone are copied."""
    at = frame.columns.get_indexer(columns)
    if (at < 0).any():  # (never silently another column: -1 would be the last)
        raise KeyError(f"not in the contributions: {[c for c, i in zip(columns, at, strict=True) if i < 0]}")
    return frame.iloc[positions, at].to_numpy(float)


def _ids(frame: pd.DataFrame) -> pd.Index:
    """Customer ids as text (a CSV list keeps them as text, a Parquet one as they were), in a plain object index:
    hashing Python strings is many times faster than pandas' Arrow-backed strings here."""
    return pd.Index(frame["customer_id"].astype(str).to_numpy(dtype=object), dtype=object)


def _first(column: pd.Series | None) -> str | None:
    return None if column is None or not len(column) else str(column.iloc[0])


def _same_question(current: Any, previous: Any, notes: list[str]) -> bool:
    """Whether both lists answer the same question (label kind and horizon); notes on what differs."""
    if not isinstance(previous, Mapping) or not isinstance(current, Mapping):
        notes.append("the previous list does not record the churn definition it was scored under (no summary "
                     "beside it, or one from an older `churn score`): probabilities are not compared.")
        return False
    if any(previous.get(k) != current.get(k) for k in DEFINITION_KEYS):
        def said(label: Mapping) -> str:
            return f"{label.get('kind', 'unknown kind')} churn over {label.get('horizon_days', '?')} days"
        notes.append(f"the previous list predicts {said(previous)}, this one {said(current)}: another question, so "
                     "probabilities are not compared.")
        return False
    population = [k for k in POPULATION_KEYS if k in previous and k in current and previous[k] != current[k]]
    if population:
        notes.append("the population was drawn by other rules (" + ", ".join(
            f"{k} {previous[k]} then, {current[k]} now" for k in population) + "): customers entered or left by "
            "that change too.")
    return True


def _rise_families(ids: pd.Index, cur_contrib: pd.DataFrame | Callable[[pd.Index], pd.DataFrame] | None,
                   prev_contrib: pd.DataFrame | Callable[[pd.Index], pd.DataFrame] | None,
                   features: pd.DataFrame | Callable[[pd.Index], pd.DataFrame] | None, spec: FeatureSpec | None,
                   currency: str, comparable: bool, notes: list[str]) -> list[list[str]] | None:
    """For each risen customer (``ids``, as text), the sentences of the families whose SHAP
    contributions rose most; None with a note where the two runs' contributions cannot be compared."""
    if not comparable:
        return None
    if cur_contrib is None or prev_contrib is None or features is None or spec is None:
        notes.append("the previous list has no SHAP file beside it (<name>_shap.parquet): a rise is given without "
                     "its reasons.")
        return None
    # read only the risen customers' rows
    cur_contrib = cur_contrib(ids) if callable(cur_contrib) else cur_contrib
    prev_contrib = prev_contrib(ids) if callable(prev_contrib) else prev_contrib
    features = features(ids) if callable(features) else features
    names = [f.name for f in spec.features]
    cur_cols = {c.removeprefix("churn_") for c in cur_contrib.columns if c.startswith("churn_")} - {"base_value"}
    prev_cols = {c.removeprefix("churn_") for c in prev_contrib.columns if c.startswith("churn_")} - {"base_value"}
    if cur_cols != set(names) or prev_cols != cur_cols:
        notes.append("the previous run's model used other features: a rise is given without its reasons.")
        return None
    if not ids.size:
        return []
    cur_index, prev_index, feature_index = _ids(cur_contrib), _ids(prev_contrib), _ids(features)
    out: list[list[str]] = []
    for start in range(0, ids.size, RISE_BATCH):  # a batch of risen customers at a time: each is said on its own
        part = ids[start:start + RISE_BATCH]
        out += _rise_sentences(cur_contrib, cur_index.get_indexer(part), prev_contrib, prev_index.get_indexer(part),
                               features, feature_index.get_indexer(part), spec, currency)
    return out


def _rise_sentences(cur_contrib: pd.DataFrame, at_now: np.ndarray, prev_contrib: pd.DataFrame, at_before: np.ndarray,
                    features: pd.DataFrame, at_features: np.ndarray, spec: FeatureSpec, currency: str) -> list[list[str]]:
    """The sentences of ``_rise_families`` for the customers at positions ``at_now`` of this run's contributions,
    ``at_before`` of the previous run's and ``at_features`` of the feature table (-1: not there; no sentence)."""
    names = [f.name for f in spec.features]
    cols = [f"churn_{n}" for n in names]
    ok = (at_now >= 0) & (at_before >= 0) & (at_features >= 0)
    delta = np.zeros((at_now.size, len(names)))
    # the risen customers' rows only: every customer's contributions copied, twice, to take a few rows (1.2 GB at
    # 684,000 customers)
    delta[ok] = _rows(cur_contrib, cols, at_now[ok]) - _rows(prev_contrib, cols, at_before[ok])

    can_drive = np.array([f.can_drive for f in spec.features])
    families = list(dict.fromkeys(f.family for f in spec.features))
    fam_index = np.array([families.index(f.family) for f in spec.features])
    said_delta = np.where(can_drive, delta, 0.0)
    fam_delta = np.stack([said_delta[:, fam_index == j].sum(axis=1) for j in range(len(families))], axis=1)
    rising = np.where(can_drive & (delta > 0), delta, -np.inf)
    leader = np.stack([np.flatnonzero(fam_index == j)[np.argmax(rising[:, fam_index == j], axis=1)]
                       for j in range(len(families))], axis=1)
    named = np.isfinite(np.take_along_axis(rising, leader, axis=1)) & (fam_delta > 0) & ok[:, None]
    ranked = np.where(named, fam_delta, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")
    out: list[list[str]] = [[] for _ in range(at_now.size)]
    found = np.zeros(at_now.size, dtype=int)  # sentences found so far, per risen customer
    everyone = np.arange(at_now.size)
    known = set(names) & set(features.columns)
    # one more candidate than needed per slot: a family whose sentence cannot be said gives way to the next. Only
    # the customers still short of sentences are rendered, once per distinct combination of values (explain's way).
    for slot in range(min(REASON_FAMILIES + 1, len(families))):
        fam = order[:, slot]
        feat_at = leader[everyone, fam]
        wanted = np.isfinite(ranked[everyone, fam]) & (found < REASON_FAMILIES)
        for fi in np.unique(feat_at[wanted]):
            pick = np.flatnonzero(wanted & (feat_at == fi))
            feat, at = spec.features[fi], at_features[pick]
            others = {f: _values(features, f, at) for f in _fields(feat) if f in known and f != feat.name}
            for r, text in zip(pick, _reasons(feat, _values(features, feat.name, at), others, currency), strict=True):
                if text:
                    out[r].append(text)
                    found[r] += 1
    return out


def _lower_first(text: str) -> str:
    """A sentence continued after a colon: its first letter in lower case, unless it starts an acronym."""
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


def _largest_rises(out: pd.DataFrame, risen: np.ndarray, n: int) -> list[dict]:
    if not risen.size:
        return []
    part = out.iloc[risen]
    part = part.iloc[np.lexsort((part["customer_id"].astype(str).to_numpy(), -part["probability_change"].to_numpy()))]
    return [{"customer_id": _plain(r.customer_id), "previous_probability": float(r.previous_probability),
             "churn_probability": float(r.churn_probability), "probability_change": float(r.probability_change),
             "change_reason": r.change_reason}
            for r in part.head(n).itertuples(index=False)]


def list_as_of(frame: pd.DataFrame, summary: Mapping[str, Any]) -> date:
    """The list's as-of date (its ``as_of`` column, else its summary's)."""
    days = pd.to_datetime(frame["as_of"], errors="coerce").dropna().dt.normalize().unique() if "as_of" in frame else []
    if len(days) > 1:
        shown = ", ".join(str(pd.Timestamp(d).date()) for d in sorted(days)[:3])
        raise DataError(f"the risk list holds several as-of dates ({shown}...): outcomes follow one scoring run. "
                        "Fix: pass one list written by `churn score`")
    if len(days) == 1:
        return pd.Timestamp(days[0]).date()
    if summary.get("as_of"):
        return date.fromisoformat(str(summary["as_of"])[:10])
    raise DataError("the risk list has no as-of date (empty `as_of` column and no summary). Fix: pass a list "
                    "written by `churn score`")
