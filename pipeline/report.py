"""Explanation report for retention teams: one self-contained HTML page (reading the risk list and
writing the page and its Excel export live in ``pipeline.io``).

Jinja2 with autoescaping switched on explicitly; every value from the data is escaped, and no data is
placed inside scripts (the page's script only sorts and filters the rendered table). Charts are PNGs
embedded as data URIs and waterfalls are inline SVG, so the page opens without a network.
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from pipeline import plots

DRIVERS = (1, 2, 3)


def _img(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def waterfall_svg(base: float | None, row: pd.Series) -> str:
    """A small SVG waterfall: base rate, each driver's effect, all other factors, the customer's probability."""
    p = float(row["churn_probability"])
    steps = []
    for k in DRIVERS:
        effect = row.get(f"driver_{k}_effect")
        if effect is not None and pd.notna(effect):
            steps.append((str(row[f"driver_{k}_family"]), float(effect)))
    start = base if base is not None and np.isfinite(base) else p - sum(e for _, e in steps)
    other = p - start - sum(e for _, e in steps)
    bars = [("base rate", 0.0, start, "#95a5a6")]
    level = start
    for label, effect in [*steps, ("all other factors", other)]:
        bars.append((label, level, level + effect, "#c0392b" if effect > 0 else "#27ae60"))
        level += effect
    bars.append(("this customer", 0.0, p, "#34495e"))
    width, row_h, left = 420, 22, 130
    scale = (width - left - 60)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row_h * len(bars) + 10}" '
             f'role="img" aria-label="driver waterfall">']
    for i, (label, a, b, color) in enumerate(bars):
        x0, x1 = left + min(a, b) * scale, left + max(a, b) * scale
        y = 5 + i * row_h
        text = _svg_text(label)
        value = b - a if i not in (0, len(bars) - 1) else b
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="11">{text}</text>')
        parts.append(f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 1):.1f}" height="{row_h - 8}" fill="{color}"/>')
        sign = "+" if i not in (0, len(bars) - 1) and value > 0 else ""
        parts.append(f'<text x="{x1 + 4:.1f}" y="{y + 14}" font-size="11">{sign}{value * 100:.1f} pts</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_text(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


def build_report(frame: pd.DataFrame, summary: dict, top_n: int) -> str:
    """Render the report page for a risk list."""
    n = len(frame)
    bands = frame["risk_band"].value_counts()
    band_order = list(summary.get("bands", {}) or bands.index)
    headline = {
        "customers": n,
        "bands": [(b, int(bands.get(b, 0)), bands.get(b, 0) / max(n, 1)) for b in band_order],
        "value_at_risk": float(frame["value_at_risk"].sum()),
        "model_version": str(frame["model_version"].iloc[0]) if n else summary.get("model_version", ""),
        "as_of": str(pd.Timestamp(frame["as_of"].iloc[0]).date()) if n else summary.get("as_of", ""),
    }
    charts = {}
    if n:
        charts["Churn risk across the base"] = _img(plots.histogram_plot(
            frame["churn_probability"].to_numpy(), "Distribution of churn probability", "churn probability"))
        var = frame.groupby("loyalty_tier")["value_at_risk"].sum().sort_values(ascending=False)
        charts["Value at risk by loyalty tier"] = _img(plots.bar_plot(var, "Value at risk by loyalty tier", "value at risk"))
        families = summary.get("global_families")
        if families:
            fam = pd.DataFrame(families).set_index("family")["mean_abs_effect_pp"].sort_values(ascending=False) * 100
        else:
            fam = frame["driver_1_family"].value_counts()
        charts["Drivers that matter most across the base"] = _img(plots.bar_plot(
            fam.head(10), "Drivers across the base", "mean effect (probability points)" if families else "customers"))
    top = frame.sort_values(["value_at_risk", "churn_probability"], ascending=False, kind="stable").head(top_n)
    customers = []
    for _, row in top.iterrows():
        reasons = [row.get(f"driver_{k}_reason") for k in DRIVERS]
        customers.append({
            "id": str(row["customer_id"]), "probability": float(row["churn_probability"]),
            "band": str(row["risk_band"]), "tier": str(row["loyalty_tier"]),
            "loyalty_score": float(row.get("loyalty_score", np.nan)),
            "value_at_risk": float(row["value_at_risk"]), "expected_value": float(row.get("expected_value", np.nan)),
            "reasons": [str(r) for r in reasons if isinstance(r, str) and r],
            "drivers": [(str(row[f"driver_{k}_family"]), float(row[f"driver_{k}_effect"])) for k in DRIVERS
                        if pd.notna(row.get(f"driver_{k}_effect"))],
            "action": str(row["action"]),
            "waterfall": waterfall_svg(summary.get("base_probability"), row),
        })
    env = Environment(loader=PackageLoader("pipeline", "templates"), autoescape=select_autoescape(
        enabled_extensions=("html", "j2"), default_for_string=True, default=True))
    template = env.get_template("report.html.j2")
    return template.render(headline=headline, charts=charts, customers=customers, top_n=len(customers),
                           drift=summary.get("drifted_features", []), band_rule=summary.get("band_rule"))


__all__ = ["build_report", "waterfall_svg"]
