"""The outcomes page: one self-contained HTML file of ``pipeline.outcomes.figures.outcome_figures``, in the risk
report's style (writing it lives in ``pipeline.outcomes.run``).

Jinja2 with autoescaping switched on explicitly, so action texts, band and tier names show as text; every word
about bands, tiers, contact groups and the churn definition comes from ``pipeline.outputs.labels``;
the one chart is inline SVG built from numbers only, so the page opens without a network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from pipeline.outputs.labels import CONTACT_GROUPS, TERMS, churn_definition, column_labels
from pipeline.outputs.report.html import money

MISSING = "\u2013"  # en dash: a figure that cannot be computed


def percent(value: float | None, digits: int = 1) -> str:
    """A share as a percentage (``12.3%``), or a dash when missing."""
    return MISSING if value is None else f"{value * 100:.{digits}f}%"


def number(value: float | None, digits: int = 3) -> str:
    """A plain number with ``digits`` decimals, or a dash when missing."""
    return MISSING if value is None else f"{value:.{digits}f}"


def interval(bounds: list[float | None] | None, digits: int = 1) -> str:
    """A 95% interval of shares as ``[a%, b%]``, or a dash when missing."""
    if not bounds or bounds[0] is None or bounds[1] is None:
        return MISSING
    return f"[{percent(bounds[0], digits)}, {percent(bounds[1], digits)}]"


def calibration_svg(deciles: list[Mapping[str, Any]]) -> str:
    """Predicted against actual churn rate per decile of probability, as grouped bars (inline SVG)."""
    width, height, left, bottom, top = 460, 220, 40, 30, 10
    plot_h = height - bottom - top
    slot = (width - left - 10) / max(len(deciles), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             'aria-label="calibration by decile">']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - tick)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{tick * 100:.0f}%</text>')
    for i, row in enumerate(deciles):
        x = left + i * slot
        for j, (key, color) in enumerate((("mean_predicted", "#95a5a6"), ("actual_rate", "#c0392b"))):
            value = float(row.get(key) or 0.0)
            bar_h = plot_h * min(max(value, 0.0), 1.0)
            parts.append(f'<rect x="{x + 4 + j * (slot - 8) / 2:.1f}" y="{top + plot_h - bar_h:.1f}" '
                         f'width="{max((slot - 8) / 2 - 1, 1):.1f}" height="{bar_h:.1f}" fill="{color}"/>')
        parts.append(f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                     f'font-size="10">{int(row["decile"])}</text>')
    parts.append(f'<text x="{left + 4}" y="{height - 2}" font-size="10">decile of churn probability (1 = highest) &#8212; '
                 'grey: predicted, red: actual</text>')
    parts.append("</svg>")
    return "".join(parts)


def build_outcomes_report(figures: Mapping[str, Any], risk_list_name: str) -> str:
    """Render the outcomes page.

    Args:
        figures: ``pipeline.outcomes.figures.outcome_figures``.
        risk_list_name: the risk list's file name, shown in the header.

    Returns:
        The page as HTML text.
    """
    env = Environment(loader=PackageLoader("pipeline.outputs.report", "templates"), autoescape=select_autoescape(
        enabled_extensions=("html", "j2"), default_for_string=True, default=True))
    currency = str(figures.get("currency") or "")
    env.filters.update(percent=percent, money=lambda value: money(value, currency), number=number, interval=interval)
    template = env.get_template("outcomes.html.j2")
    # names shown as the risk report shows them (``at_risk`` is a loyalty tier, not a risk band)
    labels = {column: column_labels(column) for column in ("risk_band", "loyalty_tier", "contact_group")}
    return template.render(f=figures, risk_list=risk_list_name, labels=labels, terms=TERMS, groups=CONTACT_GROUPS,
                           churn=churn_definition(figures.get("label")),
                           chart=calibration_svg(figures["quality"]["calibration_by_decile"]))


__all__ = ["build_outcomes_report", "calibration_svg", "interval", "number", "percent"]
