"""The registry gate's comparison: a new version against the champion, only on rows neither has trained on.

A validation row at cutoff c is labelled by what happens in (c, c + horizon]. A model whose training labels
reach past c has seen part of that period, and scores it from memory: comparing it there with a model that
has not would favour the one that looked. So the rows compared are those whose cutoff is on or after the end
of both models' training labels (``labels_end`` in each model's metadata); where there are none, nothing is
compared and ``registry.when_not_comparable`` decides; where the two models answer different questions (label
kind, horizon, population), the new version never replaces the champion (``--promote`` aside): scoring by a
registered model's champion never switches problem. Pure: scores and metadata in, a decision out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from models.metrics import ranking_metrics
from pipeline.build.problem import labels_end, stored_problem
from pipeline.core.config import RegistryConfig

LABEL_RULE = ("kind", "horizon_days", "lookback_days", "min_purchases_in_lookback")


@dataclass
class GateDecision:
    decision: str  # champion | challenger
    reason: str
    new_score: float | None = None
    champion_score: float | None = None
    rows_compared: int = 0


def scored_labels_end(metadata: dict) -> date | None:
    """The last label day of the model that produced a version's validation scores: before any refit, the
    training cutoffs' (each cutoff's horizon ends by the validation cutoff)."""
    cutoffs = metadata.get("train_cutoffs") or []
    horizon = (metadata.get("label") or {}).get("horizon_days")
    if cutoffs and horizon:
        return max(date.fromisoformat(str(c)) for c in cutoffs) + timedelta(days=int(horizon))
    return labels_end(metadata)


def unseen(cutoffs: pd.Series, end: date | None) -> np.ndarray:
    """Rows whose label period (cutoff, cutoff + horizon] starts on or after ``end``, the last day of a model's
    training labels (no day of it seen); every row where ``end`` is unknown is taken as seen."""
    if end is None:
        return np.zeros(len(cutoffs), dtype=bool)
    return (pd.to_datetime(cutoffs) >= pd.Timestamp(end)).to_numpy()


def other_problem(new_meta: dict, champion_meta: dict) -> str | None:
    """What makes the champion answer another question than the new version (its label rule), or None."""
    new, old = stored_problem(new_meta).get("label", {}), stored_problem(champion_meta).get("label", {})
    differ = [f"{k} {old.get(k)} vs {new.get(k)}" for k in LABEL_RULE if k in new and k in old and new[k] != old[k]]
    return f"the champion models another problem (label {', '.join(differ)})" if differ else None


def compare(validation: pd.DataFrame, new_score: float, champion_scores: np.ndarray, new_meta: dict,
            champion_meta: dict, champion_version: str, cfg: RegistryConfig) -> GateDecision:
    """Decide champion or challenger for a new version.

    Args:
        validation: the new version's validation rows: ``cutoff``, ``churned`` and its scores in ``model``.
        new_score: its ``cfg.metric`` on all of them (what its run reports).
        champion_scores: the champion's churn probabilities for the same rows, each from the features the champion
            was built for (NaN: a row its population lacks, not compared).
        new_meta, champion_meta: the two bundles' metadata (training cutoffs, labels end, problem).
        champion_version: for the reason.
        cfg: ``registry`` settings: metric, margin and the rule when nothing can be compared.
    """
    metric, margin = cfg.metric, cfg.min_improvement
    champion_end, new_end = labels_end(champion_meta), scored_labels_end(new_meta)
    why_not = other_problem(new_meta, champion_meta)
    rows = np.zeros(len(validation), dtype=bool)
    if why_not is None:
        rows = unseen(validation["cutoff"], champion_end) & unseen(validation["cutoff"], new_end)
        rows &= np.isfinite(np.asarray(champion_scores, dtype=float))  # rows the champion's own population holds
        if not rows.any():
            first = pd.to_datetime(validation["cutoff"]).min().date() if len(validation) else None
            why_not = (f"no validation row is unseen by both: champion v{champion_version} trained on labels up to "
                       f"{champion_end or 'an unknown day'}, this version's validation rows start at cutoff {first}")
    if why_not is not None and other_problem(new_meta, champion_meta) is not None:
        # one registered model answers one question: scoring by its champion must not switch problem
        return GateDecision("challenger", f"not compared, {why_not}: a version of another problem never takes over "
                            f"champion v{champion_version}. Fix: register each problem under its own "
                            "registry.model_name (--set registry.model_name=...), or pass --promote")
    if why_not is not None:
        return _not_comparable(why_not, new_meta, champion_meta, champion_version, cfg)
    y = validation["churned"].to_numpy()[rows]
    if rows.all():
        challenger = new_score
    else:  # both scored again on the unseen rows alone
        challenger = ranking_metrics(y, validation["model"].to_numpy()[rows])[metric]
    champion = ranking_metrics(y, np.asarray(champion_scores)[rows])[metric]
    where = f"on {int(rows.sum()):,} validation rows neither has trained on"
    if challenger >= champion + margin:
        return GateDecision("champion", f"{metric} {challenger:.4f} beats champion v{champion_version} {champion:.4f} "
                            f"by at least {margin} {where}", challenger, champion, int(rows.sum()))
    return GateDecision("challenger", f"{metric} {challenger:.4f} does not beat champion v{champion_version} "
                        f"{champion:.4f} by {margin} {where}", challenger, champion, int(rows.sum()))


def _not_comparable(why: str, new_meta: dict, champion_meta: dict, champion_version: str,
                    cfg: RegistryConfig) -> GateDecision:
    rule = f"decided by registry.when_not_comparable={cfg.when_not_comparable}"
    if cfg.when_not_comparable == "keep_champion":
        return GateDecision("challenger", f"not compared, {why}; {rule}: champion v{champion_version} stays")
    new_end, champion_end = labels_end(new_meta), labels_end(champion_meta)
    if new_end is not None and (champion_end is None or new_end > champion_end):
        return GateDecision("champion", f"not compared, {why}; {rule}: this version's training labels end later "
                            f"({new_end} vs {champion_end or 'unknown'})")
    return GateDecision("challenger", f"not compared, {why}; {rule}: champion v{champion_version}'s training labels "
                        f"end as late or later ({champion_end} vs {new_end})")


def behind_baselines(margin: dict, cfg: RegistryConfig) -> str | None:
    """Why a version is not promoted because a simple baseline ranks the validation customers as well as it, or
    None: its ROC-AUC margin over the best baseline (``models.metrics.auc_margin_bootstrap``) is
    ``registry.min_margin_over_baselines`` or less. The rule is on the margin itself; its interval is reported
    beside it. No baseline (or a margin that could not be measured) is no reason."""
    value = margin.get("margin")
    if value is None or not np.isfinite(value) or value > cfg.min_margin_over_baselines:
        return None
    return (f"ROC-AUC {value:+.4f} over the best baseline ({margin['best_baseline']}; {margin['level']:.0%} interval "
            f"{margin['low']:+.4f} to {margin['high']:+.4f}) on the validation cutoff, not above "
            f"registry.min_margin_over_baselines={cfg.min_margin_over_baselines}: a simple baseline ranks customers "
            "as well as the model")
