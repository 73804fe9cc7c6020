"""Evaluation metrics for churn scores and value rankings."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean probability| over equal-width probability bins, weighted by count."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / len(y))


def top_positions(score: np.ndarray, share: float) -> np.ndarray:
    """Positions of the top ``share`` of rows by ``score`` (at least one row), highest first; ties broken by
    position, so the cut is deterministic."""
    score = np.asarray(score, float)
    n_top = max(1, int(round(share * len(score))))
    return np.lexsort((np.arange(len(score)), -score))[:n_top]


def lift_and_capture(y: np.ndarray, score: np.ndarray, share: float) -> tuple[float, float]:
    """Lift (churn rate in the top ``share`` / base rate) and capture (share of all churners found there)."""
    y = np.asarray(y, float)
    top = y[top_positions(score, share)]
    base = y.mean()
    return float(top.mean() / base) if base > 0 else float("nan"), float(top.sum() / y.sum()) if y.sum() else float("nan")


def ranking_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Metrics that need only a ranking: ROC-AUC, PR-AUC, lift and capture at 10% and 20%."""
    out = {"roc_auc": float(roc_auc_score(y, score)), "pr_auc": float(average_precision_score(y, score))}
    for share in (0.1, 0.2):
        lift, capture = lift_and_capture(y, score, share)
        out[f"lift_at_{int(share * 100)}"] = lift
        out[f"capture_at_{int(share * 100)}"] = capture
    return out


def churn_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """All churn metrics for probabilities ``p``."""
    p = np.clip(np.asarray(p, float), 1e-7, 1 - 1e-7)
    return {**ranking_metrics(y, p), "log_loss": float(log_loss(y, p, labels=[0, 1])),
            "brier": float(brier_score_loss(y, p)), "ece": expected_calibration_error(y, p)}


def value_metrics(actual: np.ndarray, predicted: np.ndarray, top_share: float = 0.2) -> dict[str, float]:
    """Spearman with actual future spend and the share of next-horizon revenue in the predicted top 20%."""
    actual, predicted = np.asarray(actual, float), np.asarray(predicted, float)
    rho = spearmanr(predicted, actual).statistic
    total = actual.sum()
    captured = actual[top_positions(predicted, top_share)].sum()
    return {"spearman": float(rho), "top20_revenue_capture": float(captured / total) if total else 0.0}


def _weighted_aucs(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC of ``score`` under each row of ``weights`` (draws x rows: how often each row was drawn), ties
    counted half, as ``roc_auc_score`` counts them. Sorted once; each draw is a few cumulative sums over
    the groups of tied scores, so hundreds of draws over tens of thousands of rows take well under a second."""
    order = np.argsort(score, kind="stable")
    sorted_score, sorted_y = score[order], y[order]
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    w = weights[:, order]
    positive = np.add.reduceat(w * sorted_y, starts, axis=1)  # per draw, per tie group
    negative = np.add.reduceat(w * (1 - sorted_y), starts, axis=1)
    below = np.cumsum(negative, axis=1) - negative  # negatives scored strictly lower
    pairs = positive.sum(axis=1) * negative.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (positive * (below + 0.5 * negative)).sum(axis=1) / pairs


def auc_margin_bootstrap(y: np.ndarray, model: np.ndarray, baselines: dict[str, np.ndarray], draws: int = 500,
                         seed: int = 0, level: float = 0.90, chunk: int = 50) -> dict:
    """ROC-AUC margin of ``model`` over the best of ``baselines`` with a paired bootstrap interval.

    Customers (rows) are resampled with replacement ``draws`` times (seeded); in each draw the model and every
    baseline are scored on the same resample and the margin is model minus the best baseline *of that draw*,
    so the interval also carries the luck of which baseline comes out best. The interval is the central
    ``level`` (percentile) of the draws' margins.

    Returns ``margin`` (on all rows, against the baseline best on all rows), ``best_baseline``, ``low``,
    ``high``, ``level`` and ``draws``; the margin is NaN where there is no baseline or only one class.
    """
    y = np.asarray(y, float)
    out = {"margin": float("nan"), "best_baseline": None, "low": float("nan"), "high": float("nan"),
           "level": level, "draws": draws}
    if not baselines or len(np.unique(y)) < 2:
        return out
    scorers = {"model": np.asarray(model, float), **{k: np.asarray(v, float) for k, v in baselines.items()}}
    full = {k: ranking_metrics(y, s)["roc_auc"] for k, s in scorers.items()}
    best = max(baselines, key=lambda k: full[k])
    # rounded: two AUCs of the same ranking differ by float noise (1e-16), which must not read as "ahead"
    out.update(margin=round(full["model"] - full[best], 12), best_baseline=best)
    rng = np.random.default_rng(seed)
    margins = []
    for start in range(0, draws, chunk):
        counts = rng.multinomial(len(y), np.full(len(y), 1 / len(y)), size=min(chunk, draws - start)).astype(float)
        aucs = {k: _weighted_aucs(y, s, counts) for k, s in scorers.items()}
        margins.append(aucs["model"] - np.max([aucs[k] for k in baselines], axis=0))
    margins = np.concatenate(margins)
    margins = margins[np.isfinite(margins)]
    if len(margins):
        tail = (1 - level) / 2
        out.update(low=float(np.quantile(margins, tail)), high=float(np.quantile(margins, 1 - tail)))
    return out
