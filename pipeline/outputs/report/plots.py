"""Evaluation and explanation charts as PNG bytes. Each chart is a figure of its own, drawn without pyplot's global
state: importing this module changes no matplotlib setting (a notebook keeps its inline charts).

The report's charts are drawn to be read on a phone: a figure ``REPORT_WIDTH`` inches wide whose every text is at
least ``MIN_TEXT_PT`` points, so that at 390 px of screen width (the chart about 330 px wide) no text is under
10 px. Each PNG records the height of its smallest text in image pixels (``MIN_TEXT_KEY``), which the report's
browser test turns into screen pixels. Axes of amounts and rates start at zero; one measure per axis."""

from __future__ import annotations

import io

import matplotlib.cm
import matplotlib.colors
import matplotlib.text
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

DPI = 150
MIN_TEXT_PT = 10  # the smallest text on a chart, in points
REPORT_WIDTH = 4.4  # inches: 660 px; shown about 330 px wide on a 390 px phone, 10 pt text stays above 10 px
MIN_TEXT_KEY = "min_text_px"  # PNG text chunk: the height of the chart's smallest text, in image pixels


def _figure(figsize: tuple[float, float]):
    """A figure and its one axes, outside pyplot (no backend, no current figure)."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def _png(fig, min_pt: float = MIN_TEXT_PT) -> bytes:
    """The figure as PNG bytes, every visible text raised to at least ``min_pt`` points; the smallest text's height
    in image pixels is stored in the PNG (``MIN_TEXT_KEY``)."""
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]
    for t in texts:
        if t.get_fontsize() < min_pt:
            t.set_fontsize(min_pt)
    smallest = min((t.get_fontsize() for t in texts), default=min_pt)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI, metadata={MIN_TEXT_KEY: f"{smallest * DPI / 72:.2f}"})
    return buf.getvalue()


def min_text_px(png: bytes) -> float | None:
    """The height of a chart's smallest text in image pixels, as ``_png`` recorded it (None if it did not)."""
    at = 8  # after the signature: chunks of length, type, data and CRC
    while at + 8 <= len(png):
        length, kind = int.from_bytes(png[at:at + 4], "big"), png[at + 4:at + 8]
        if kind == b"tEXt":
            key, _, value = png[at + 8:at + 8 + length].partition(b"\0")
            if key.decode("latin-1") == MIN_TEXT_KEY:
                return float(value)
        if kind == b"IDAT":
            return None
        at += 12 + length
    return None


def png_width(png: bytes) -> int:
    """The width of a PNG in pixels (from its header)."""
    return int.from_bytes(png[16:20], "big")


def roc_plot(y: np.ndarray, scores: dict[str, np.ndarray]) -> bytes:
    fig, ax = _figure((5, 4.5))
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
    fig, ax = _figure((5, 4.5))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.plot(frame["predicted"], frame["observed"], "o-")
    ax.set(xlabel="predicted churn probability", ylabel="observed churn rate", title="Calibration")
    return _png(fig)


def _capture_plot(outcome: np.ndarray, rankings: dict[str, np.ndarray], xlabel: str, ylabel: str, title: str) -> bytes:
    """Share of the total ``outcome`` reached by the top share of customers under each ranking."""
    fig, ax = _figure((5, 4.5))
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
    fig, ax = _figure((6, 0.3 * len(imp) + 1))
    ax.barh(imp.index, imp.values)
    ax.set(xlabel="total gain", title="Feature importance")
    return _png(fig)


def _colour_values(column: pd.Series) -> pd.Series:
    """A feature as the numbers the beeswarm colours its dots by: numbers as they are, categories as their
    rank in sorted order (missing stays missing). Categories coerced to numbers would be all missing, and
    shap takes percentiles of the colours first (numpy's "All-NaN slice" warning on every train and score)."""
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().any() or column.isna().all():
        return numbers.astype(float)
    codes = pd.Series(pd.Categorical(column.astype("string")).codes, index=column.index).astype(float)
    return codes.where(codes >= 0)


# shap's beeswarm colours: its blue for a low feature value, its red for a high one, through purple
LOW_HIGH = matplotlib.colors.LinearSegmentedColormap.from_list("low_high", ["#008bfb", "#9a3fc4", "#ff0052"])
SWARM_BINS = 100  # dots whose contributions fall in one of this many bins across a row are spread apart
ROW_SPREAD = 0.36  # dots stay within this of their row's line (rows are 1 apart): shap's 0.9 x 0.4


def swarm_offsets(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vertical offsets that spread a row's dots where they crowd (shap's beeswarm layout): x is cut into
    ``SWARM_BINS`` bins, and within a bin the dots, in random order, go alternately up and down, one step further
    every second dot; the steps are scaled by ``ROW_SPREAD`` / (the largest step + 1), as shap scales them."""
    n = len(x)
    if n == 0:
        return np.zeros(0)
    bins = np.round(SWARM_BINS * (x - x.min()) / (x.max() - x.min() + 1e-8))
    order = np.lexsort((rng.random(n), bins))
    sorted_bins = bins[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_bins)) + 1]
    layer = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))  # the dot's place within its bin
    steps = np.empty(n)
    steps[order] = np.ceil(layer / 2) * np.where(layer % 2 == 1, 1.0, -1.0)
    return steps * (ROW_SPREAD / (steps.max() + 1))


def _colour_range(values: np.ndarray) -> tuple[float, float]:
    """The range a feature's colours span: its 5th to 95th percentile (a few extreme customers do not wash out the
    rest), wider where that collapses to one value."""
    for low, high in ((5, 95), (1, 99), (0, 100)):
        lo, hi = np.percentile(values, [low, high])
        if lo < hi:
            return float(lo), float(hi)
    return float(values[0]) - 0.5, float(values[0]) + 0.5


def beeswarm_plot(contributions: np.ndarray, features: pd.DataFrame, title: str, max_display: int = 15) -> bytes:
    """SHAP summary (beeswarm) of per-customer contributions: a row per feature, the ``max_display`` with the
    largest mean absolute contribution, the largest on top; a dot per customer at its contribution, coloured by the
    customer's value of the feature (grey where it is missing). Drawn as shap's ``summary_plot`` draws it, without
    importing shap (0.8 s on every train and score) or pyplot."""
    numeric = features.apply(_colour_values) if len(features) else features
    order = np.argsort(np.abs(contributions).sum(axis=0), kind="stable")[-max_display:]
    rng = np.random.default_rng(0)  # the jitter is random: a seeded generator draws the same picture every run
    fig, ax = _figure((7, 0.35 * len(order) + 1.5))
    ax.axvline(0, color="#999999", zorder=-1)
    for row, i in enumerate(order):
        ax.axhline(row, color="#cccccc", lw=0.5, dashes=(1, 5), zorder=-1)
        x = contributions[:, i]
        y = row + swarm_offsets(x, rng)
        values = numeric.iloc[:, i].to_numpy(float)
        missing = np.isnan(values)
        ax.scatter(x[missing], y[missing], color="#777777", s=16, linewidth=0, zorder=3)
        if (~missing).any():
            lo, hi = _colour_range(values[~missing])
            ax.scatter(x[~missing], y[~missing], c=np.clip(values[~missing], lo, hi), cmap=LOW_HIGH, vmin=lo, vmax=hi,
                       s=16, linewidth=0, zorder=3)
    ax.set_yticks(range(len(order)), [str(features.columns[i]) for i in order], fontsize=13)
    ax.set_ylim(-1, len(order))
    ax.set_xlabel("SHAP value (impact on model output)", fontsize=13)
    ax.tick_params("y", length=0)
    ax.tick_params("x", labelsize=11)
    ax.spines[["top", "right", "left"]].set_visible(False)
    bar = fig.colorbar(matplotlib.cm.ScalarMappable(cmap=LOW_HIGH), ax=ax, ticks=[0, 1], aspect=80)
    bar.set_ticklabels(["Low", "High"])
    bar.set_label("Feature value", size=12, labelpad=0)
    bar.ax.tick_params(labelsize=11, length=0)
    bar.outline.set_visible(False)
    fig.suptitle(title)
    return _png(fig)


def bar_plot(values: pd.Series, title: str, xlabel: str, amounts: bool = False) -> bytes:
    """Horizontal bars, the first value on top; ``amounts``: the axis reads as whole amounts with thousands separators."""
    fig, ax = _figure((REPORT_WIDTH, 0.4 * len(values) + 1.4))
    ax.barh([str(i) for i in values.index][::-1], values.values[::-1], color="#2c7fb8")
    ax.set(xlabel=xlabel, title=title)
    if amounts:
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def profit_plot(sizes: np.ndarray, cumulative: np.ndarray, best: int, title: str, xlabel: str, ylabel: str,
                capacity: int | None = None, best_label: str = "", capacity_label: str = "") -> bytes:
    """Cumulative expected net saving by list size: the curve, the size that maximises it and, when it binds,
    the capacity (dashed vertical lines, labelled)."""
    fig, ax = _figure((REPORT_WIDTH, 3.3))
    ax.plot(sizes, cumulative, color="#2c7fb8", lw=2)
    ax.axhline(0, color="#999", lw=0.8)
    marks = [(best, best_label, "#c0392b")]
    if capacity is not None and capacity < best:
        marks.append((capacity, capacity_label, "#333"))
    for x, name, colour in marks:
        ax.axvline(x, color=colour, lw=1, ls="--")
        if name:
            ax.annotate(name, (x, 1), xycoords=("data", "axes fraction"), xytext=(3, -12), textcoords="offset points",
                        color=colour)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def uplift_plot(share: list[float], curves: dict[str, list[float]], title: str, xlabel: str, ylabel: str) -> bytes:
    """Qini (uplift) curves: per ranking (name -> values at ``share``), the extra customers kept, as a share of
    all, when the top share of customers by it is contacted; the first curve drawn thick, a name starting with
    "random" dotted."""
    fig, ax = _figure((REPORT_WIDTH, 3.3))
    x = np.asarray(share, float) * 100
    for i, (name, values) in enumerate(curves.items()):
        y = np.asarray(values, float) * 100
        if name.startswith("random"):
            ax.plot(x, y, "k:", lw=1, label=name)
        else:
            ax.plot(x, y, lw=2 if i == 0 else 1.2, label=name)
    ax.axhline(0, color="#999", lw=0.8)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(loc="best")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def histogram_plot(values: np.ndarray, title: str, xlabel: str, bins: int = 20,
                   thresholds: dict[str, float] | None = None) -> bytes:
    """A histogram; ``thresholds`` (name -> value) are drawn as labelled vertical lines (band boundaries)."""
    fig, ax = _figure((REPORT_WIDTH, 3.3))
    ax.hist(values, bins=bins, range=(0, 1) if np.nanmax(values, initial=0) <= 1 else None, color="#c0392b", alpha=0.85)
    for k, (name, x) in enumerate(sorted((thresholds or {}).items(), key=lambda kv: kv[1])):
        ax.axvline(x, color="#333", lw=1, ls="--")
        # one line of text apart, so that labels of close thresholds do not run into each other
        ax.annotate(name, (x, 1), xycoords=("data", "axes fraction"), xytext=(3, -12 - 14 * k),
                    textcoords="offset points", backgroundcolor="white")
    ax.set(xlabel=xlabel, ylabel="customers", title=title)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _month_axis(ax, months: list[str]) -> None:
    step = max(1, -(-len(months) // 5))  # at most five labels: at 10 pt more would overlap on a phone
    ax.set_xticks(range(0, len(months), step), [months[i] for i in range(0, len(months), step)], rotation=35, ha="right")
    ax.spines[["top", "right"]].set_visible(False)


def _gaps(values: list[float | None]) -> np.ndarray:
    """Values to draw, a missing one (None) as NaN: a gap in the line, not a zero."""
    return np.array([np.nan if v is None else float(v) for v in values])


def monthly_plot(months: list[str], series: dict[str, list[float | None]], title: str, ylabel: str,
                 percent: bool = False, limits: tuple[float, float] | None = None) -> bytes:
    """Lines over months, one measure on one axis; a missing value (None) leaves a gap rather than a zero. The axis
    includes zero (a rate or a count cut short makes noise look dramatic) unless ``limits`` gives the scale's own
    range (a 1-5 score)."""
    fig, ax = _figure((REPORT_WIDTH, 3.3))
    x = np.arange(len(months))
    drawn = []
    for name, values in series.items():
        y = _gaps(values) * (100 if percent else 1)
        drawn.append(y)
        ax.plot(x, y, marker="o", ms=3, lw=1.8, label=name)
    ax.set(title=title, ylabel=ylabel)
    if percent:
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.0f}%"))
    if limits is not None:
        ax.set_ylim(*limits)
    else:
        values = np.concatenate(drawn) if drawn else np.array([])
        values = values[np.isfinite(values)]
        low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
        ax.set_ylim(min(0.0, low * 1.08), max(0.0, high * 1.08) or 1.0)
        if low < 0:
            ax.axhline(0, color="#999", lw=0.8)
    if len(series) > 1:
        ax.legend(loc="best")
    _month_axis(ax, months)
    return _png(fig)


def cohort_plot(cohorts: list[dict], title: str) -> bytes:
    """Retention curves: for each first-purchase cohort, the share buying in each month after the first;
    months not yet observed are not drawn."""
    fig, ax = _figure((REPORT_WIDTH, 3.3))
    width = max((len(c["retention"]) for c in cohorts), default=0)
    shares = np.full((len(cohorts), width), np.nan)
    sizes = np.array([float(c["customers"]) for c in cohorts])
    for i, c in enumerate(cohorts):
        shares[i, :len(c["retention"])] = 100 * _gaps(c["retention"])
    for i, row in enumerate(shares):
        label = "one first-purchase month" if i == 0 else None
        ax.plot(np.arange(1, width), row[1:], color="#9ecae1", lw=1, label=label)
    seen = np.isfinite(shares)
    weights = np.where(seen, sizes[:, None], 0.0)
    with np.errstate(invalid="ignore"):
        average = np.nansum(np.where(seen, shares, 0) * weights, axis=0) / weights.sum(axis=0)
    ax.plot(np.arange(1, width), average[1:], color="#08519c", lw=2.4, marker="o", ms=3,
            label="average over the months observed")
    ax.set(title=title, xlabel="months after the first purchase", ylabel="bought that month")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.0f}%"))
    ax.set_ylim(bottom=0)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="lower left")
    return _png(fig)


def backtest_plot(table: pd.DataFrame, metric: str = "roc_auc", reference: str | None = None) -> bytes:
    """One line per scorer: ``metric`` at each backtest cutoff; the in-period ``reference`` dashed, as it is no forecast."""
    fig, ax = _figure((6, 4))
    for scorer, part in table.groupby("scorer", sort=False):
        ax.plot(part["cutoff"].astype(str), part[metric], marker="o", lw=2 if scorer == "model" else 1,
                ls="--" if scorer == reference else "-", label=scorer)
    ax.set(xlabel="test cutoff", ylabel=metric, title=f"Backtest: {metric} by cutoff")
    ax.legend()
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")
    return _png(fig)
