"""Explanation report for retention teams: one self-contained HTML page (reading the risk list and
writing the page and its Excel export live in ``pipeline.outputs.sets`` and ``pipeline.outputs.run``).

Jinja2 with autoescaping switched on explicitly; every value from the data is escaped, and no data is
placed inside scripts (the page's script only sorts and filters the rendered table). Charts are PNGs
embedded as data URIs and waterfalls are inline SVG, so the page opens without a network. The page reads on
a phone (nothing wider than the screen; the call list turns into one card per customer) and prints on A4
(headline, charts and the call list; a customer's detail card only when it is open).

Every word shown about bands, tiers, contact groups, families, features and the rules behind them comes from
``pipeline.outputs.labels`` (and the feature registry), passed into the template rather than written in it: the
report, the Excel export and the command line call each thing by the same name.
"""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from pipeline.core.money import money as shared_money
from pipeline.outputs.labels import (
    ACTION_CHOICE,
    ACTION_CHOICE_BY_EFFECT,
    CONTACT_GROUPS,
    EFFECT_GROUP,
    EFFECT_GROUP_MEANINGS,
    EFFECT_GROUPS,
    EFFECTS_SECTION,
    HOLDOUT_PURPOSE,
    NET_SAVING,
    TERMS,
    TOP_OF_LIST,
    UPLIFT_CURVE,
    WHY_THIS_ACTION,
    WIN_BACK_LIST,
    as_of_words,
    band_label,
    band_rule_words,
    churn_rate_caption,
    churn_rate_title,
    churn_words,
    contact_label,
    currency_words,
    effect_reason,
    effects_basis_short,
    effects_basis_words,
    effects_not_used_words,
    effects_used_words,
    family_label,
    feature_label,
    group_counts,
    in_sentence,
    net_saving_words,
    newly_in_band,
    no_previous_words,
    population_rule,
    population_words,
    qini_words,
    targeting_profit_sentence,
    tier_label,
    tiers_meaning,
    value_total_error_words,
    win_back_words,
)
from pipeline.outputs.report import plots

DRIVERS = (1, 2, 3)


class _Chart(str):
    """A chart's data URI, with the height of its smallest text in image pixels (``text_px``) and the image's
    width, for the page to say how large that text is on screen (the browser test checks at least 10 px)."""

    text_px: float | None
    width: int


def _img(png: bytes) -> _Chart:
    chart = _Chart("data:image/png;base64," + base64.b64encode(png).decode())
    chart.text_px, chart.width = plots.min_text_px(png), plots.png_width(png)
    return chart


def money(value: float, currency: str = "", decimals: int = 0) -> str:
    """An amount in the one currency style (:func:`pipeline.core.money.money`): ``£1,234``, ``1,234 EUR``; a dash
    when missing."""
    return shared_money(value, currency, decimals)


def waterfall_svg(base: float | None, row: pd.Series) -> str:
    """A small SVG waterfall: base rate, each driver's effect, all other factors, the customer's probability.

    Drawn in a viewBox, so it shrinks to the width of a phone's screen."""
    p = float(row["churn_probability"])
    steps = []
    for k in DRIVERS:
        effect = row.get(f"driver_{k}_effect")
        if effect is not None and pd.notna(effect):
            steps.append((family_label(row[f"driver_{k}_family"]), float(effect)))
    start = base if base is not None and np.isfinite(base) else p - sum(e for _, e in steps)
    other = p - start - sum(e for _, e in steps)
    bars = [("Average customer", 0.0, start, "#95a5a6")]
    level = start
    for label, effect in [*steps, ("All other factors", other)]:
        bars.append((label, level, level + effect, "#c0392b" if effect > 0 else "#27ae60"))
        level += effect
    bars.append(("This customer", 0.0, p, "#34495e"))
    width, row_h, left = 460, 22, 190
    scale = (width - left - 70)
    height = row_h * len(bars) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'class="waterfall-svg" role="img" aria-label="How this customer\'s risk builds up">']
    for i, (label, a, b, color) in enumerate(bars):
        x0, x1 = left + min(a, b) * scale, left + max(a, b) * scale
        y = 5 + i * row_h
        text = _svg_text(label)
        value = b - a if i not in (0, len(bars) - 1) else b
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="11">{text}</text>')
        parts.append(f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 1):.1f}" height="{row_h - 8}" fill="{color}"/>')
        shown = f"{'+' if value > 0 else ''}{value * 100:.1f} pts" if i not in (0, len(bars) - 1) else f"{value:.0%}"
        parts.append(f'<text x="{x1 + 4:.1f}" y="{y + 14}" font-size="11">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_text(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


def _population(summary: dict, n: int) -> dict:
    pop = summary.get("population")
    if isinstance(pop, dict) and "rule" in pop:
        return pop
    label = summary.get("label") if isinstance(summary.get("label"), dict) else {}
    rule = ""
    if label.get("kind") == "cancellation" or label.get("lookback_days"):  # a list written before it stored its population
        rule, _ = population_rule(label.get("kind"), label.get("lookback_days"),
                                  label.get("min_purchases_in_lookback") or 1)
    return {"rule": rule, "scored": n, "left_out": None}


def _definitions(summary: dict, frame: pd.DataFrame, currency: str, headline: dict) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [(TERMS["as_of"], as_of_words(headline["as_of"]))]
    churn = churn_words(summary.get("label"))
    if churn:
        rows.append((TERMS["churn"], churn))
    population = population_words(_population(summary, len(frame)), len(frame))
    if population:
        rows.append((TERMS["population"], population))
    bands = band_rule_words(summary.get("band_rule"))
    if bands:
        rows.append((TERMS["risk_bands"], bands))
    rows.append((TERMS["currency"], currency_words(currency)))
    rule = summary.get("value_rule")
    value_text = ("Value if retained: the customer's expected net spend over the next horizon if they stay. "
                  "Value at risk = churn probability × value if retained.")
    if isinstance(rule, dict) and rule.get("lifetime_months"):
        value_text += (f" Lifetime value: expected net spend over {rule['lifetime_months']} months, discounted at "
                       f"{float(rule.get('annual_discount_rate') or 0):.0%} a year.")
    if value_total_error_words(rule):
        value_text += " " + value_total_error_words(rule)
    rows.append(("Values", value_text))
    rows.append((TERMS["loyalty_tiers"], tiers_meaning(_tier_order(frame))))
    rows.append((TERMS["model"], headline["model_version"] or "unknown"))
    return rows


def _tier_order(frame: pd.DataFrame) -> list[str]:
    if "loyalty_tier" not in frame.columns or frame.empty:
        return []
    if "loyalty_score" in frame.columns:
        return [str(t) for t in frame.groupby("loyalty_tier")["loyalty_score"].mean().sort_values(ascending=False).index]
    return [str(t) for t in frame["loyalty_tier"].dropna().unique()]


def _call_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The risk list in the call list's order: priority (else value at risk), then churn probability, then id."""
    key = "priority" if "priority" in frame.columns else "value_at_risk"
    order = np.lexsort((frame["customer_id"].astype(str).to_numpy(), -frame["churn_probability"].to_numpy(float),
                        -frame[key].fillna(-np.inf).to_numpy(float)))
    return frame.iloc[order]


def _actions(frame: pd.DataFrame, summary: dict, currency: str) -> list[dict]:
    counts = summary.get("actions") if isinstance(summary.get("actions"), dict) else None
    if counts is None:
        counts = frame["action"].value_counts().to_dict() if "action" in frame.columns else {}
    out = []
    for action, customers in sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0]))):
        part = frame[frame["action"] == action] if "action" in frame.columns else frame.iloc[:0]
        groups = part["contact_group"].value_counts() if "contact_group" in part.columns else pd.Series(dtype=int)
        effect = part["action_effect"].iloc[0] if "action_effect" in part.columns and len(part) else None
        saved = (part.loc[part["contact_group"] == "treatment", "priority"].sum()
                 if {"contact_group", "priority"} <= set(part.columns) else None)
        out.append({"action": str(action), "customers": int(customers), "contact": int(groups.get("treatment", 0)),
                    "holdout": int(groups.get("holdout", 0)),
                    "effect": f"{float(effect):.0%}" if effect is not None and pd.notna(effect) else "",
                    "saved": money(float(saved), currency) if saved is not None else ""})
    return out


def _changes(summary: dict) -> dict | None:
    changes = summary.get("changes")
    if not isinstance(changes, dict):
        return None
    rises = []
    for r in changes.get("largest_rises") or []:
        if isinstance(r, dict):
            rises.append({"id": str(r.get("customer_id", "")), "before": _pct(r.get("previous_probability")),
                          "now": _pct(r.get("churn_probability")), "change": _pts(r.get("probability_change")),
                          "reason": str(r.get("change_reason") or "")})
    facts = []
    if isinstance(changes.get("entered"), int):
        facts.append(f"{changes['entered']:,} customers entered the list")
    if isinstance(changes.get("left"), int):
        facts.append(f"{changes['left']:,} left it")
    if isinstance(changes.get("risk_up"), int) and isinstance(changes.get("risk_down"), int):
        facts.append(f"risk rose for {changes['risk_up']:,} and fell for {changes['risk_down']:,} (by a point or more)")
    if isinstance(changes.get("newly_high"), int):
        facts.append(f"{changes['newly_high']:,} are {newly_in_band(changes.get('top_band') or 'high')}")
    note = str(changes.get("note") or "")
    return {**{k: changes.get(k) for k in ("previous_as_of", "previous_model_version", "comparable")},
            "note": note[:1].upper() + note[1:], "facts": "; ".join(facts), "rises": rises}


def _pct(value: object) -> str:
    return f"{float(value):.0%}" if isinstance(value, int | float) and np.isfinite(value) else "–"


def _pts(value: object) -> str:
    return f"{float(value) * 100:+.1f} pts" if isinstance(value, int | float) and np.isfinite(value) else "–"


def _health(summary: dict, currency: str) -> dict | None:
    """Charts and tables of ``summary["health"]`` (``pipeline.scoring.health``)."""
    health = summary.get("health")
    if not isinstance(health, dict):
        return None
    charts: list[tuple[str, str, str]] = []  # (title, image, caption)
    churn = health.get("churn") or []
    label = summary.get("label") if isinstance(summary.get("label"), dict) else health.get("churn_definition", {})
    if churn:
        months = [m["month"] for m in churn]
        title = churn_rate_title(label)
        charts.append((title, _img(plots.monthly_plot(
            months, {"churn rate": [m["churn_rate"] for m in churn]}, title, "churn rate", percent=True)),
            churn_rate_caption(label)))
    cohorts = health.get("cohorts") or []
    if cohorts:
        charts.append(("Retention by first-purchase month", _img(plots.cohort_plot(cohorts, "Retention by cohort")),
                       "Share of each month's new customers who bought again 1, 2, 3... months later."))
    satisfaction = health.get("satisfaction") or []
    if any(m["nps"] is not None for m in satisfaction):
        charts.append(("NPS by month", _img(plots.monthly_plot(
            [m["month"] for m in satisfaction], {"NPS": [m["nps"] for m in satisfaction]}, "NPS by month",
            "NPS (points)", limits=None)),
            "NPS: the share of promoters (9-10) minus the share of detractors (0-6), in points (-100 to 100)."))
    if any(m["csat"] is not None for m in satisfaction):
        charts.append(("CSAT by month", _img(plots.monthly_plot(
            [m["month"] for m in satisfaction], {"CSAT": [m["csat"] for m in satisfaction]}, "CSAT by month",
            "average score (1-5)", limits=(1, 5))),
            "CSAT: the average satisfaction score of the month's responses, on its whole 1-5 scale."))
    support = health.get("support") or []
    if support:
        months = [m["month"] for m in support]
        if any(m["median_response_hours"] is not None for m in support):
            charts.append(("Support response time by month", _img(plots.monthly_plot(
                months, {"median hours": [m["median_response_hours"] for m in support]},
                "Support response time by month", "median hours to first response")),
                "The median hours from a support ticket to its first response, among tickets that say."))
        charts.append(("Support tickets by month", _img(plots.monthly_plot(
            months, {"tickets": [m["tickets"] for m in support]}, "Support tickets by month", "tickets")),
            "Support tickets opened each month."))
    growth = health.get("growth") or []
    if any(m["returning_buyers"] for m in growth):
        months = [m["month"] for m in growth]
        series = {"upsell": [m["upsell_rate"] for m in growth]}
        if any(m["cross_sell_rate"] is not None for m in growth):
            series["cross-sell"] = [m["cross_sell_rate"] for m in growth]
        charts.append(("Upsell and cross-sell", _img(plots.monthly_plot(
            months, series, "Upsell and cross-sell by month", "of returning buyers", percent=True)),
            "Of the customers who bought in a month and had bought before: the share whose average order was larger "
            "than their average before (upsell), and the share who bought a category new to them (cross-sell)."))
    cohort_rows, width = _cohort_table(cohorts)
    tiers = [{"tier": tier_label(t["tier"]), "customers": t["customers"],
              # one decimal: a mean of 99.6% is not "100%" (no probability is; see models/calibration.py)
              "probability": (f"{float(t['mean_churn_probability']):.1%}"
                              if isinstance(t.get("mean_churn_probability"), int | float)
                              and np.isfinite(t["mean_churn_probability"]) else "–"),
              "mean_value": money(t.get("mean_value_if_retained", np.nan), currency),
              "total_value": money(t.get("total_value_if_retained", np.nan), currency),
              "value_at_risk": money(t.get("total_value_at_risk", np.nan), currency),
              "mean_lifetime": money(t.get("mean_lifetime_value", np.nan), currency),
              "total_lifetime": money(t.get("total_lifetime_value", np.nan), currency)}
             for t in health.get("tiers") or []]
    return {"charts": charts, "cohorts": cohort_rows, "cohort_width": width, "tiers": tiers}


def _cohort_table(cohorts: list[dict]) -> tuple[list[dict], int]:
    """The cohort table's rows and its number of month columns: months 1, 2, ... after the first purchase (the first
    month is everyone, by definition), as far as any cohort has a value; the cohorts with at least one month to show,
    oldest first. A month not over yet is an empty cell."""
    shown = [c for c in cohorts if any(v is not None for v in c["retention"][1:])]
    width = max((max(k for k, v in enumerate(c["retention"]) if v is not None) for c in shown), default=0)
    rows = []
    for c in shown:
        cells = []
        for v in (c["retention"][1:] + [None] * width)[:width]:
            if v is None:
                cells.append(("", ""))
            else:
                shade = int(255 - min(v, 1) * 150)
                cells.append((f"{v:.0%}", f"background: rgb({shade}, {int(255 - min(v, 1) * 60)}, 255)"))
        rows.append({"cohort": c["cohort"], "customers": c["customers"], "cells": cells})
    return rows, width


def _economics(frame: pd.DataFrame, summary: dict, currency: str) -> dict | None:
    """The call list's economics: the list size that maximises expected profit in a sentence, how the net saving
    is worked out, and the profit curve by list size drawn from the list itself; None for a list written before
    the call list had costs."""
    targeting = summary.get("targeting") if isinstance(summary.get("targeting"), dict) else {}
    if not isinstance(targeting.get("profit"), dict) or not {"priority", "contact_group"} <= set(frame.columns):
        return None
    horizon = (summary.get("label") or {}).get("horizon_days")
    capacity = targeting.get("capacity")
    retention = frame[frame["contact_group"] != "win_back"]
    saving = np.sort(retention["priority"].fillna(-np.inf).to_numpy(float))[::-1]
    saving = saving[np.isfinite(saving)]
    cumulative = np.concatenate([[0.0], np.cumsum(saving)])
    best = int(targeting["profit"]["best_list_size"])
    chart = _img(plots.profit_plot(
        np.arange(len(cumulative)), cumulative, best, "Expected profit by the size of the call list",
        "customers called, in priority order", f"{in_sentence(NET_SAVING)}{f' ({currency})' if currency else ''}",
        capacity=capacity if isinstance(capacity, int) else None, best_label=f"best: {best:,}",
        capacity_label=f"capacity: {capacity:,}" if isinstance(capacity, int) else ""))
    return {"sentence": targeting_profit_sentence(targeting, horizon, currency),
            "rule": net_saving_words(float(targeting.get("contact_cost") or 0), float(targeting.get("offer_cost") or 0),
                                     currency),
            "not_worth": int(targeting.get("no_positive_saving") or 0), "chart": chart}


def _effects(frame: pd.DataFrame, summary: dict, currency: str) -> dict | None:
    """Whom the call helps: which effects the call list used and why; with an effect model, the four groups with
    their customers and value if retained, the uplift curve of its last evaluation and the measured effect in the
    top of the list. None for a list written before the summary said which effects it used."""
    targeting = summary.get("targeting") if isinstance(summary.get("targeting"), dict) else {}
    effects = targeting.get("effects") if isinstance(targeting.get("effects"), dict) else None
    if effects is None or "used" not in effects:
        return None
    learned = effects.get("used") == "effect_model"
    out: dict = {"sentence": effects_used_words(effects),
                 "why_not": "" if learned else effects_not_used_words(effects.get("note")),
                 "learned": learned, "groups": [], "chart": None, "caption": "", "top": []}
    if not learned:
        return out
    groups = effects.get("groups") or {}
    out["groups"] = [{"group": EFFECT_GROUPS[g], "key": g, "meaning": EFFECT_GROUP_MEANINGS[g],
                      "customers": int((groups.get(g) or {}).get("customers") or 0),
                      "value": money(float((groups.get(g) or {}).get("value_if_retained") or 0.0), currency)}
                     for g in EFFECT_GROUPS]
    ev = effects.get("evaluation") or {}
    curve = ev.get("curve") or {}
    if curve.get("share"):
        out["chart"] = _img(plots.uplift_plot(
            curve["share"], {TOP_OF_LIST["by_effect"]: curve["effect_model"], TOP_OF_LIST["by_risk"]: curve["by_risk"],
                             "random: " + TOP_OF_LIST["random"].lower(): curve["random"]},
            f"{UPLIFT_CURVE}, customers the effect model never saw", "top share of customers contacted (%)",
            "extra customers kept (% of all)"))
        out["caption"] = qini_words(ev)
    overall = ev.get("effect_overall")
    out["top"] = [{"share": f"{float(t['share']):.0%}", "by_effect": _pts(t.get("by_effect")),
                   "by_risk": _pts(t.get("by_risk")), "random": _pts(overall)} for t in ev.get("effect_in_top") or []]
    return out


def _win_back(frame: pd.DataFrame, summary: dict, currency: str, top_n: int) -> dict | None:
    """The win-back list: who is on it and why, its size and value, and its first customers; None when empty."""
    if "contact_group" not in frame.columns:
        return None
    gone = _call_order(frame[frame["contact_group"] == "win_back"])
    if gone.empty:
        return None
    targeting = summary.get("targeting") if isinstance(summary.get("targeting"), dict) else {}
    rows = [{"rank": rank, "id": str(row["customer_id"]), "probability": float(row["churn_probability"]),
             "value_if_retained": money(float(row.get("value_if_retained", np.nan)), currency),
             "saving": money(float(row["priority"]), currency, 2) if "priority" in row else "",
             "reason": str(row.get("driver_1_reason") or ""), "action": str(row.get("action") or "")}
            for rank, (_, row) in enumerate(gone.head(top_n).iterrows(), start=1)]
    return {"customers": len(gone), "rule": win_back_words(targeting.get("win_back_gaps"),
                                                           (summary.get("label") or {}).get("horizon_days")),
            "value_if_retained": money(float(gone["value_if_retained"].sum()), currency)
            if "value_if_retained" in gone.columns else "",
            "positive": int((gone["priority"] > 0).sum()) if "priority" in gone.columns else None,
            "rows": rows, "shown": len(rows)}


def _first_screen(frame: pd.DataFrame, summary: dict, currency: str, headline: dict, changes: dict | None,
                  family_effects: pd.Series | None) -> list[tuple[str, str]]:
    """Monday's questions, answered in a sentence each above everything else: whom to call and how many (and why
    that many), what it is worth over which period (and whether the effects behind it are assumed or measured),
    what changed since the last list (or that none was found, and how to pass one), and why customers leave."""
    targeting = summary.get("targeting") if isinstance(summary.get("targeting"), dict) else {}
    horizon = (summary.get("label") or {}).get("horizon_days")
    period = headline["period"]
    rows: list[tuple[str, str]] = []
    groups = frame["contact_group"].value_counts() if "contact_group" in frame.columns else None
    if groups is not None:
        contact, held = int(groups.get("treatment", 0)), int(groups.get("holdout", 0))
        text = (f"{contact:,} customers marked “{CONTACT_GROUPS['treatment']}”, in the order of the call list below"
                + (f"; {held:,} more are held out, not to be called, to measure whether calling works" if held else "")
                + ".")
        if isinstance(targeting.get("profit"), dict):
            text += " " + targeting_profit_sentence(targeting, horizon, currency)
        rows.append(("Whom to call", text))
    worth = f"Value at risk: {headline['value_at_risk']} {period} (churn probability × value if retained)."
    if headline.get("saved") is not None:
        basis = effects_basis_words(targeting.get("effects") or {})
        worth += (f" Calling the list is expected to save {headline['saved']} {period}"
                  + (f", {basis}" if basis else "") + ".")
    rows.append(("What it is worth", worth))
    if changes is not None:
        text = changes["facts"][:1].upper() + changes["facts"][1:] + "." if changes.get("facts") else changes["note"]
        if changes.get("rises") and changes.get("comparable") is not False:
            r = changes["rises"][0]
            text += f" The largest rise: customer {r['id']}, from {r['before']} to {r['now']}."
        rows.append(("What changed", text or "Nothing to compare."))
    elif summary.get("no_previous") is not None:
        rows.append(("What changed", no_previous_words(summary["no_previous"])))
    if family_effects is not None and len(family_effects):
        top = [family_label(f) for f in family_effects.index[:3]]
        named = top[0] if len(top) == 1 else ", ".join(top[:-1]) + " and " + top[-1]
        rows.append(("Why customers leave", f"Most of the risk comes from {named} (the chart “Why customers leave” "
                                            "below ranks every group of behaviour a call can act on)."))
    return rows


def _family_effects(summary: dict) -> pd.Series | None:
    """The families a retention team can act on (not context such as the time of year or a model's expectations),
    by their average effect on churn probability in points, largest first; None for a list without them."""
    families = summary.get("global_families")
    if not families:
        return None
    table = pd.DataFrame(families)
    if "actionable" in table.columns:
        table = table[table["actionable"].astype(bool)]
    return table.set_index("family")["mean_abs_effect_pp"].sort_values(ascending=False) * 100


def build_report(frame: pd.DataFrame, summary: dict, top_n: int, currency: str = "") -> str:
    """Render the report page for a risk list and its summary; ``currency`` labels amounts (e.g. "EUR")."""
    summary = summary or {}
    currency = (currency or str(summary.get("currency") or "")).strip()
    n = len(frame)
    bands = frame["risk_band"].value_counts()
    band_order = list(summary.get("bands", {}) or bands.index)
    targeting = summary.get("targeting") if isinstance(summary.get("targeting"), dict) else {}
    groups = frame["contact_group"].value_counts() if "contact_group" in frame.columns else None
    saved = targeting.get("priority_in_treatment")
    if saved is None and groups is not None and "priority" in frame.columns:
        saved = float(frame.loc[frame["contact_group"] == "treatment", "priority"].sum())
    headline = {
        "customers": n,
        "bands": [(band_label(b), str(b), int(bands.get(b, 0)), bands.get(b, 0) / max(n, 1)) for b in band_order],
        "value_at_risk": money(float(frame["value_at_risk"].sum()), currency),
        "period": (f"over the next {(summary.get('label') or {}).get('horizon_days')} days"
                   if (summary.get("label") or {}).get("horizon_days") else "over the next horizon"),
        "effects_basis": effects_basis_words(targeting.get("effects") or {}),
        "effects_short": effects_basis_short(targeting.get("effects") or {}),
        "value_error": value_total_error_words(summary.get("value_rule")),
        "model_version": str(frame["model_version"].iloc[0]) if n else str(summary.get("model_version", "")),
        "as_of": str(pd.Timestamp(frame["as_of"].iloc[0]).date()) if n else str(summary.get("as_of", "")),
        "contact": None if groups is None else int(groups.get("treatment", 0)),
        "others": None if groups is None else group_counts(
            {g: int(groups.get(g, 0)) for g in ("holdout", "not_selected") if g == "holdout" or groups.get(g, 0)}),
        "holdout_share": targeting.get("holdout_share"),
        "capacity": targeting.get("capacity"),
        "saved": money(float(saved), currency) if saved is not None else None,
    }
    charts = []
    if n:
        rule = summary.get("band_rule") if isinstance(summary.get("band_rule"), dict) else {}
        thresholds = ({band_label(b): float(v) for b, v in rule.get("bands", {}).items() if 0 < float(v) < 1}
                      if rule.get("by", "probability") != "top_share" else None)
        charts.append(("Churn risk across the base", _img(plots.histogram_plot(
            frame["churn_probability"].to_numpy(), "Customers by churn probability", "churn probability",
            thresholds=thresholds)),
            "How many customers have each churn probability" + ("; dashed lines mark the risk band thresholds."
                                                                 if thresholds else ".")))
        tiers = _tier_order(frame)
        by_tier = frame.groupby("loyalty_tier")
        var = by_tier["value_at_risk"].sum().reindex(tiers)
        rate = by_tier["churn_probability"].mean().reindex(tiers)
        var.index = [f"{tier_label(t)} ({rate[t]:.1%} churn)" for t in var.index]  # 99.6% is not "100%"
        tier_term = TERMS["loyalty_tier"].lower()
        charts.append((f"Value at risk by {tier_term}", _img(plots.bar_plot(
            var, f"Value at risk by {tier_term}", f"value at risk{f' ({currency})' if currency else ''}",
            amounts=True)),
            f"Value at risk (churn probability × value if retained) summed per {tier_term}, the most valuable tier "
            "first, each with its churn rate (average churn probability)."))
        families = summary.get("global_families")
        fam = _family_effects(summary) if families else frame["driver_1_family"].value_counts()
        fam.index = [family_label(f) for f in fam.index]
        charts.append(("Why customers leave", _img(plots.bar_plot(
            fam.head(8), "Why customers leave",
            "average effect (points)" if families else "customers led by it")),
            "How much each group of behaviour a retention team can act on moves a customer's churn probability, on "
            "average, in percentage points (context such as the time of year is left out)." if families
            else "Customers whose risk each group of behaviour drives most."))
    ordered = _call_order(frame if "contact_group" not in frame.columns else frame[frame["contact_group"] != "win_back"])
    top = ordered.head(top_n)
    customers = []
    has_change = "probability_change" in frame.columns
    for rank, (_, row) in enumerate(top.iterrows(), start=1):
        reasons = [row.get(f"driver_{k}_reason") for k in DRIVERS]
        group = row.get("contact_group")
        change = row.get("probability_change") if has_change else None
        customers.append({
            "rank": rank, "id": str(row["customer_id"]), "probability": float(row["churn_probability"]),
            "band": band_label(row["risk_band"]), "band_key": re.sub(r"[^a-z0-9_-]", "", str(row["risk_band"]).lower()),
            "tier": tier_label(row["loyalty_tier"]),
            "loyalty_score": float(row.get("loyalty_score", np.nan)),
            "value_at_risk": float(row["value_at_risk"]), "value_at_risk_text": money(float(row["value_at_risk"]), currency),
            "value_if_retained": money(float(row.get("value_if_retained", row.get("expected_value", np.nan))), currency),
            "lifetime_value": money(float(row["lifetime_value"]), currency) if "lifetime_value" in row else None,
            "reasons": [str(r) for r in reasons if isinstance(r, str) and r],
            "drivers": [(family_label(row[f"driver_{k}_family"]), feature_label(row.get(f"driver_{k}_feature", "")),
                         float(row[f"driver_{k}_effect"])) for k in DRIVERS if pd.notna(row.get(f"driver_{k}_effect"))],
            "action": str(row["action"]),
            "effect_group": EFFECT_GROUPS.get(str(row.get("effect_group")), ""),
            "why_action": effect_reason(row["action"], row.get("predicted_effect"), row.get("priority"),
                                        row.get("effect_group"), currency),
            "group": str(group) if isinstance(group, str) else "",
            "group_text": contact_label(group) if isinstance(group, str) else "",
            "change": float(change) if change is not None and pd.notna(change) else None,
            "change_text": _pts(change) if change is not None and pd.notna(change) else "",
            "change_reason": str(row.get("change_reason") or "") if has_change and pd.notna(row.get("change_reason")) else "",
            "previous": _pct(row.get("previous_probability")) if "previous_probability" in frame.columns else "",
            "waterfall": waterfall_svg(summary.get("base_probability"), row),
        })
    drift = [{"feature": feature_label(d.get("feature")), "psi": float(d.get("psi", np.nan))}
             for d in summary.get("drifted_features", []) or [] if isinstance(d, dict)]
    env = Environment(loader=PackageLoader("pipeline.outputs.report", "templates"), autoescape=select_autoescape(
        enabled_extensions=("html", "j2"), default_for_string=True, default=True))
    template = env.get_template("report.html.j2")
    changes = _changes(summary)
    return template.render(
        first_screen=_first_screen(frame, summary, currency, headline, changes, _family_effects(summary)),
        headline=headline, charts=charts, customers=customers, top_n=len(customers), drift=drift, currency=currency,
        definitions=_definitions(summary, frame, currency, headline), actions=_actions(frame, summary, currency),
        changes=changes, health=_health(summary, currency), has_groups=groups is not None,
        has_change=has_change, ordered_by="priority" if "priority" in frame.columns else "value at risk",
        population=_population(summary, n), terms=TERMS, groups=CONTACT_GROUPS, holdout_purpose=HOLDOUT_PURPOSE,
        economics=_economics(frame, summary, currency), win_back=_win_back(frame, summary, currency, top_n),
        net_saving_term=NET_SAVING, win_back_term=WIN_BACK_LIST, effects=_effects(frame, summary, currency),
        effects_term=EFFECTS_SECTION, effect_group_term=EFFECT_GROUP, why_action_term=WHY_THIS_ACTION,
        action_choice=ACTION_CHOICE_BY_EFFECT if "effect_model_version" in frame.columns
        and frame["effect_model_version"].notna().any() else ACTION_CHOICE,
        top_of_list=TOP_OF_LIST, uplift_term=UPLIFT_CURVE,
        net=isinstance(targeting.get("contact_cost"), int | float))


__all__ = ["build_report", "money", "waterfall_svg"]
