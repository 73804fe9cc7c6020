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
