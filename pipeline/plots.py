"""Evaluation and explanation charts as PNG bytes (matplotlib, headless)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def roc_plot(y: np.ndarray, scores: dict[str, np.ndarray]) -> bytes:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=name, lw=2 if name == "model" else 1)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, validation cutoff")
    ax.legend(loc="lower right")
    return _png(fig)


def calibration_plot(y: np.ndarray, p: np.ndarray, bins: int = 10) -> bytes:
    idx = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    frame = pd.DataFrame({"y": y, "p": p, "bin": idx}).groupby("bin").agg(observed=("y", "mean"), predicted=("p", "mean"))
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.plot(frame["predicted"], frame["observed"], "o-")
    ax.set(xlabel="predicted churn probability", ylabel="observed churn rate", title="Calibration")
    return _png(fig)


def _capture_plot(outcome: np.ndarray, rankings: dict[str, np.ndarray], xlabel: str, ylabel: str, title: str) -> bytes:
    """Share of the total ``outcome`` reached by the top share of customers under each ranking."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    shares = np.linspace(0.01, 1, 100)
    outcome = np.asarray(outcome, float)
    for name, s in rankings.items():
        order = np.argsort(-np.asarray(s), kind="stable")
        captured = np.cumsum(outcome[order]) / max(outcome.sum(), 1e-9)
        ax.plot(shares, captured[(shares * len(outcome)).astype(int) - 1], label=name, lw=2 if name == "model" else 1)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(loc="lower right")
    return _png(fig)


def lift_plot(y: np.ndarray, scores: dict[str, np.ndarray]) -> bytes:
    return _capture_plot(y, scores, "share of customers contacted (highest risk first)", "share of churners reached",
                         "Cumulative gains")


def value_capture_plot(actual: np.ndarray, rankings: dict[str, np.ndarray]) -> bytes:
    return _capture_plot(actual, rankings, "share of customers (highest predicted value first)",
                         "share of next-horizon revenue", "Loyalty: revenue capture")


def importance_plot(importance: pd.Series, top: int = 20) -> bytes:
    imp = importance.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(imp) + 1))
    ax.barh(imp.index, imp.values)
    ax.set(xlabel="total gain", title="Feature importance")
    return _png(fig)


def beeswarm_plot(contributions: np.ndarray, features: pd.DataFrame, title: str, max_display: int = 15) -> bytes:
    """SHAP summary (beeswarm) of per-customer contributions."""
    import shap

    numeric = features.apply(lambda c: pd.to_numeric(c, errors="coerce")) if len(features) else features
    # the beeswarm jitters overlapping dots at random: a seeded generator draws the same picture every run
    shap.summary_plot(contributions, numeric, max_display=max_display, show=False, plot_size=(7, 0.35 * max_display + 1.5),
                      rng=np.random.default_rng(0))
    fig = plt.gcf()
    fig.suptitle(title)
    return _png(fig)


def bar_plot(values: pd.Series, title: str, xlabel: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(values) + 1.2))
    ax.barh([str(i) for i in values.index][::-1], values.values[::-1])
    ax.set(xlabel=xlabel, title=title)
    return _png(fig)


def histogram_plot(values: np.ndarray, title: str, xlabel: str, bins: int = 20) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(values, bins=bins, range=(0, 1) if np.nanmax(values, initial=0) <= 1 else None, color="#c0392b", alpha=0.85)
    ax.set(xlabel=xlabel, ylabel="customers", title=title)
    return _png(fig)


def backtest_plot(table: pd.DataFrame, metric: str = "roc_auc", reference: str | None = None) -> bytes:
    """One line per scorer: ``metric`` at each backtest cutoff; the in-period ``reference`` dashed, as it is no forecast."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for scorer, part in table.groupby("scorer", sort=False):
        ax.plot(part["cutoff"].astype(str), part[metric], marker="o", lw=2 if scorer == "model" else 1,
                ls="--" if scorer == reference else "-", label=scorer)
    ax.set(xlabel="test cutoff", ylabel=metric, title=f"Backtest: {metric} by cutoff")
    ax.legend()
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    return _png(fig)
