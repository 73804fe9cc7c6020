"""The report as its readers see it: readable labels and definitions, the call list's order, a 1400 px screen, a
390 px phone (nothing wider than the screen) and A4 paper, in headless Chromium."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.config import load_params
from pipeline.engine.duckdb import dataset_from_frames
from pipeline.outputs.labels import family_label, feature_label, tier_label
from pipeline.outputs.report.html import build_report
from pipeline.scoring.health import customer_health, population_counts
from tests.conftest import copy_tables, find_chromium

AS_OF = date(2025, 9, 30)
FAMILIES = ["recency", "btyd", "loyalty_program", "service", "payments", "engagement"]
FEATURES = ["days_since_last_purchase", "btyd_probability_alive", "days_since_last_redemption", "complaints_last_90d",
            "late_invoice_share_last_90d", "visits_last_30d"]
REASONS = ["No purchase for 94 days, 3.1 times their usual gap", "2 complaints in the last 90 days",
           "Paid 100% of the last 90 days' invoices late", "No visits in the last 30 days, down from 9 in the 30 days before",
           "Last redeemed loyalty points 329 days ago"]

# Headless Chromium's window is at least 500 px wide, so the page is shown in a frame of the width wanted; a
# script added to the page marks every element that reaches past the frame's viewport (an element inside a box
# that scrolls on its own is fine: the box itself is checked) and sends what it found to the host page.
HOST = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="checked.html" style="width:{width}px;height:{height}px;border:0;display:block"></iframe>
<script>
window.addEventListener("message", function (e) {{
  for (var k in e.data) {{ document.body.setAttribute("data-" + k, String(e.data[k])); }}
}});
</script></body></html>"""
OVERFLOW_CHECK = """<script>
window.addEventListener("load", function () {
  var w = document.documentElement.clientWidth, bad = [];
  document.querySelectorAll("body *").forEach(function (el) {
    var box = el.parentElement && el.parentElement.closest(".scroll");
    if (box) { return; }
    var r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) { return; }
    if (r.right > w + 1 || r.left < -1) {
      bad.push(el.tagName.toLowerCase() + "." + el.className + " " + Math.round(r.left) + ".." + Math.round(r.right));
    }
  });
  var smallest = Infinity, charts = 0;
  document.querySelectorAll("img[data-min-text-px]").forEach(function (img) {
    var px = parseFloat(img.getAttribute("data-min-text-px"));
    if (!(px > 0) || !img.naturalWidth) { return; }
    charts += 1;
    smallest = Math.min(smallest, px * img.getBoundingClientRect().width / img.naturalWidth);
  });
  var b = document.body;
  parent.postMessage({"chart-text-px": charts ? smallest.toFixed(2) : "none", "charts": charts,
                      "viewport": w, "scroll-width": document.documentElement.scrollWidth,
                      "overflow": String(bad.length) + ": " + bad.slice(0, 8).join("; "),
                      "ready": b.getAttribute("data-ready"), "js-errors": b.getAttribute("data-js-errors"),
                      "images-loaded": b.getAttribute("data-images-loaded")}, "*");
});
</script>
</body>"""


def call_list(n: int = 240, seed: int = 3) -> pd.DataFrame:
    """A risk list shaped like ``churn score``'s, in its priority order, with the change columns."""
    rng = np.random.default_rng(seed)
    p = np.clip(rng.beta(0.7, 1.2, n), 0.01, 0.99)
    value = rng.gamma(2.0, 150.0, n)
    ids = [f"{i:08d}" for i in range(n)]
    ids[5] = "CUSTOMER-WITH-A-VERY-LONG-IDENTIFIER-0000000000000000000001"  # must wrap on a phone
    frame = pd.DataFrame({
        "customer_id": ids, "as_of": pd.Timestamp(AS_OF), "churn_probability": p,
        "risk_band": np.where(p >= 0.6, "high", np.where(p >= 0.3, "medium", "low")),
        "loyalty_score": rng.uniform(0, 100, n), "value_if_retained": value, "expected_value": (1 - p) * value,
        "value_at_risk": p * value, "lifetime_value": value * 3.5, "model_version": "churn-model v3 (champion)",
    })
    frame["loyalty_tier"] = pd.cut(frame["loyalty_score"], [-1, 20, 40, 60, 80, 101],
                                   labels=["dormant", "at_risk", "steady", "loyal", "champion"]).astype(str)
    for k in (1, 2, 3):
        pick = rng.integers(0, len(FAMILIES), n)
        frame[f"driver_{k}_feature"] = np.array(FEATURES)[pick]
        frame[f"driver_{k}_family"] = np.array(FAMILIES)[pick]
        frame[f"driver_{k}_value"] = rng.uniform(0, 100, n)
        frame[f"driver_{k}_effect"] = rng.uniform(0.01, 0.2, n) / k
        frame[f"driver_{k}_reason"] = np.array(REASONS)[rng.integers(0, len(REASONS), n)]
    frame["action"] = np.where(frame["driver_1_family"] == "service", "Service recovery call from a senior agent",
                               "Win-back message with a reason to return now")
    frame["action_effect"] = np.where(frame["driver_1_family"] == "service", 0.25, 0.08)
    frame["priority"] = frame["value_at_risk"] * frame["action_effect"]
    frame = frame.sort_values("priority", ascending=False, ignore_index=True)
    frame["contact_group"] = np.where(np.arange(n) < 180, np.where(np.arange(n) % 10 == 3, "holdout", "treatment"),
                                      "not_selected")
    # targeted by a learned effect model (docs/effects.md): its predicted effect and the customer's group
    frame["predicted_effect"] = rng.uniform(-0.05, 0.2, n)
    frame["effect_group"] = np.where(frame["predicted_effect"] >= 0.02, "persuadable", np.where(
        frame["predicted_effect"] < 0, "do_not_disturb", np.where(p >= 0.5, "lost_cause", "sure_thing")))
    frame["effect_model_version"] = "churn-model-effects v2 (champion)"
    frame["previous_probability"] = np.clip(p - rng.normal(0.05, 0.1, n), 0, 1)
    frame["probability_change"] = frame["churn_probability"] - frame["previous_probability"]
    frame["previous_band"] = "medium"
    frame["change_reason"] = np.where(frame["probability_change"] > 0.1, "Risk up 12 points since 2025-08-31: no purchase since",
                                      None)
    return frame


def effects_summary(frame: pd.DataFrame) -> dict:
    """The summary's ``targeting.effects`` of a list targeted by an effect model, with its last evaluation."""
    share = np.linspace(0, 1, 101)
    return {"used": "effect_model", "model_version": "churn-model-effects v2 (champion)", "lists": 3,
            "learned_as_of": "2025-06-30", "note": "the call list targets by the effect model churn-model-effects v2",
            "groups": {g: {"customers": int((frame["effect_group"] == g).sum()),
                           "value_if_retained": float(frame.loc[frame["effect_group"] == g, "value_if_retained"].sum())}
                       for g in ("persuadable", "sure_thing", "lost_cause", "do_not_disturb")},
            "evaluation": {"customers": 9829, "qini": {"coefficient": 0.0077, "interval": [0.0045, 0.0113], "level": 0.9},
                           "qini_by_risk": {"coefficient": 0.0024, "interval": [-0.0005, 0.0053], "level": 0.9},
                           "effect_overall": -0.007,
                           "effect_in_top": [{"share": s, "by_effect": 0.03, "by_risk": 0.01} for s in (0.1, 0.2, 0.3)],
                           "curve": {"share": share.tolist(), "effect_model": (0.02 * share * (1 - share)).tolist(),
                                     "by_risk": (0.005 * share * (1 - share)).tolist(),
                                     "random": (-0.007 * share).tolist()}}}


@pytest.fixture(scope="module")
def report(sample_tables, tmp_path_factory):
    params = load_params(None)
    ds = dataset_from_frames(copy_tables(sample_tables), params)
    frame = call_list()
    groups = frame["contact_group"].value_counts()
    summary = {
        "as_of": str(AS_OF), "model_version": "churn-model v3 (champion)", "customers": len(frame),
        "bands": {b: int((frame["risk_band"] == b).sum()) for b in ("high", "medium", "low")},
        "band_rule": {"by": "probability", "bands": {"high": 0.6, "medium": 0.3, "low": 0.0}},
        "label": {"kind": "inactivity", "horizon_days": 90, "lookback_days": 365, "min_purchases_in_lookback": 1},
        "value_rule": {"lifetime_months": 12, "annual_discount_rate": 0.1},
        "targeting": {"capacity": 180, "holdout_share": 0.1, "groups": {g: int(c) for g, c in groups.items()},
                      "priority_in_treatment": float(frame.loc[frame["contact_group"] == "treatment", "priority"].sum()),
                      "effects": effects_summary(frame)},
        "actions": frame["action"].value_counts().to_dict(), "base_probability": 0.3,
        "global_families": [{"family": f, "mean_abs_effect_pp": 0.05 / (i + 1), "actionable": f != "btyd"}
                            for i, f in enumerate(FAMILIES)],
        "drifted_features": [{"feature": "late_invoice_share_last_90d", "psi": 0.31}],
        "changes": {"previous_as_of": "2025-08-31", "previous_model_version": "churn-model v2", "comparable": True,
                    "note": "the previous list was scored by churn-model v2, this one by churn-model v3.", "entered": 12,
                    "left": 9, "risk_up": 40, "risk_down": 31, "top_band": "high", "newly_high": 7,
                    "largest_rises": [{"customer_id": "00000042", "previous_probability": 0.2, "churn_probability": 0.8,
                                       "probability_change": 0.6, "change_reason": "No purchase since the last list"}]},
        "population": population_counts(ds.con, params.label, AS_OF, frame["customer_id"]),
        "health": customer_health(ds.con, params.label, AS_OF, frame),
    }
    html = build_report(frame, summary, top_n=50, currency="EUR")
    folder = tmp_path_factory.mktemp("report")
    (folder / "report.html").write_text(html)
    (folder / "checked.html").write_text(html.replace("</body>", OVERFLOW_CHECK, 1))
    return {"html": html, "frame": frame, "summary": summary, "folder": folder}


def chromium(folder: Path, *args: str) -> subprocess.CompletedProcess:
    profile = folder / f"profile-{len(list(folder.glob('profile-*')))}"
    return subprocess.run(
        [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args],
        capture_output=True, text=True, timeout=180)


def test_the_report_says_what_the_numbers_mean_in_readable_words(report):
    html, summary = report["html"], report["summary"]
    text = re.sub(r"<[^>]+>", " ", html.split("<style>")[0] + html.split("</style>")[1])
    assert "No purchase in the 90 days after the as-of date" in text
    pop = summary["population"]
    assert pop["left_out"] > 0 and f"Left out: {pop['left_out']:,} customers" in text
    assert "customers with an order in the 365 days up to the as-of date" in text
    assert "High risk: churn probability 60% or more; Medium risk: churn probability 30% to under 60%" in text
    assert "amounts in EUR" in text and re.search(r"\d EUR", text)  # a currency code after the amount
    assert "2025-09-30" in text and "churn-model v3 (champion)" in text
    # readable labels, never internal names
    for internal in ("btyd", "loyalty_program", "at_risk", "late_invoice_share_last_90d"):
        assert internal not in text, internal
    assert family_label("btyd") == "Purchase pattern (model)" and family_label("loyalty_program") == "Loyalty programme"
    assert tier_label("at_risk") == "Low value" and feature_label("late_invoice_share_last_90d") == \
        "Late invoice share, last 90 days"
    assert feature_label("overdue_amount_now") == "Overdue amount, now" and feature_label("latest_nps") == "Latest NPS"
    # call-list counts, the actions and what the contacts are expected to save
    groups = summary["targeting"]["groups"]
    assert f'<div class="label">Contact</div><div class="big">{groups["treatment"]:,}</div>' in html
    assert f'<div class="muted">Hold out — do not contact: {groups["holdout"]:,}; Not selected: {groups["not_selected"]:,}' \
        '</div>' in html
    assert "Customers marked <span class=\"group group-holdout\">Hold out — do not contact</span> are kept out of " \
        "contact on purpose, to measure whether contacting works." in html
    assert "Expected to save" in text and "Service recovery call from a senior agent" in text
    assert "Since the last list" in text and "Largest rises in churn probability" in text
    assert "12 customers entered the list; 9 left it; risk rose for 40 and fell for 31" in text
    assert "7 are newly in the high risk band" in text and "The previous list was scored by churn-model v2" in text


def test_the_first_screen_answers_mondays_questions(report):
    html, frame = report["html"], report["frame"]
    brief = html[html.index('<section class="box" id="first-screen"'):]
    brief = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", brief[:brief.index("</section>")]))
    groups = frame["contact_group"].value_counts()
    assert f"Whom to call {groups['treatment']:,} customers marked “Contact”" in brief
    assert f"{groups['holdout']:,} more are held out" in brief
    assert "What it is worth Value at risk: " in brief and "EUR over the next 90 days" in brief
    # the effects behind "expected to save" are those of the learned effect model here, and said to be
    assert "learned from past lists and their holdouts" in brief
    assert "What changed 12 customers entered the list; 9 left it" in brief
    assert "The largest rise: customer 00000042, from 20% to 80%." in brief
    # why customers leave: behaviour a call can act on, never context such as the purchase model's expectations
    assert "Why customers leave Most of the risk comes from Time since last purchase, Loyalty programme and " \
        "Customer service" in brief and "Purchase pattern" not in brief
    # a list with no earlier one says so and how to pass one; effects set by hand are assumptions
    summary = {**report["summary"], "no_previous": {"asked_none": False, "looked_in": "lists"}}
    del summary["changes"]
    summary["targeting"] = {**summary["targeting"], "effects": {"used": "configured", "average_effects": {}}}
    alone = build_report(frame, summary, top_n=5, currency="EUR")
    assert "No earlier list was found in lists" in alone and "--previous PATH" in alone
    assert "assuming the action effects set in targeting.action_effects, not yet measured" in alone
    assert "assumed action effects" in alone  # on the headline card too


def test_health_charts_say_what_they_measure(report):
    html = report["html"]
    health = html[html.index('<section id="health">'):]
    assert 'alt="90-day churn rate at each month end"' in health and "not a monthly one" in health
    assert "Month 0" not in health and "First month" not in health
    table = health[health.index('<table class="cohort">'):health.index("</table>")]
    header = re.findall(r"<th>Month (\d+)</th>", table)
    rows = re.findall(r"<tr><th>(\d{4}-\d{2})</th>(.*?)</tr>", table)
    assert header == [str(k) for k in range(1, len(header) + 1)] and rows
    # no empty column, and every cohort shown has a month to show
    columns = [[re.findall(r"<td[^>]*>([^<]*)</td>", cells)[1 + k] for _, cells in rows] for k in range(len(header))]
    assert all(any(v for v in column) for column in columns)
    assert all(any(re.findall(r"<td[^>]*>([^<]*)</td>", cells)[1:]) for _, cells in rows)
    # each value tier with its churn rate, named by value
    assert "Churn rate (average probability)" in health and "Top value" in health


def test_the_customer_table_is_the_call_list_in_priority_order(report):
    html, frame = report["html"], report["frame"]
    table = html.split('id="risk-table"')[1].split("</table>")[0]
    ids = re.findall(r'class="open-detail">([^<]+)</a>', table)
    assert ids == frame["customer_id"].head(50).tolist()
    assert table.count("Hold out — do not contact") == int((frame["contact_group"].head(50) == "holdout").sum()) > 0
    assert re.search(r"\d EUR", table) and "pts" in table  # value at risk, its currency code after it; change


@pytest.mark.browser
def test_the_report_fits_a_phone_and_a_wide_screen_and_prints_on_a_few_a4_pages(report):
    folder = report["folder"]
    for width in (1400, 390):
        height = 2400 if width > 1000 else 4000
        host = folder / f"host_{width}.html"
        host.write_text(HOST.format(width=width, height=height))
        dom = chromium(folder, f"--window-size={max(width, 500)},{height}", "--dump-dom", host.as_uri()).stdout
        assert 'data-ready="1"' in dom and 'data-js-errors="0"' in dom
        assert f'data-viewport="{width}"' in dom
        assert f'data-scroll-width="{width}"' in dom, re.search(r'data-scroll-width="\d+"', dom).group(0)
        assert 'data-overflow="0: "' in dom, re.search(r'data-overflow="[^"]*"', dom).group(0)
        loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
        assert loaded and loaded.group(1) == loaded.group(2) and int(loaded.group(1)) >= 7  # 3 + health charts
        # every chart's smallest text, at the size the chart is shown: at least 10 px on a phone as on a screen
        charts = int(re.search(r'data-charts="(\d+)"', dom).group(1))
        text_px = float(re.search(r'data-chart-text-px="([\d.]+)"', dom).group(1))
        assert charts == int(loaded.group(2)) and text_px >= 10, (width, charts, text_px)
        shot = folder / f"report_{width}.png"
        chromium(folder, f"--window-size={max(width, 500)},{height}", f"--screenshot={shot}", host.as_uri())
        assert shot.stat().st_size > 50_000  # drawn, not blank
    pdf = folder / "report.pdf"
    chromium(folder, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", (folder / "report.html").as_uri())
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    # the brief, headline, charts, health (two years of cohorts, one measure per chart) and the call list of 50;
    # customer cards only when opened
    assert 3 <= pages <= 10, pages


def test_the_report_shows_whom_the_call_helps(report):
    from pipeline.outputs.labels import EFFECT_GROUPS, EFFECTS_SECTION, UPLIFT_CURVE, WHY_THIS_ACTION

    html, effects = report["html"], report["summary"]["targeting"]["effects"]
    section = html[html.index('<section id="effects">'):]
    section = section[:section.index("</section>")]
    assert f"<h2>{EFFECTS_SECTION}</h2>" in section and "churn-model-effects v2 (champion)" in section
    for key, label in EFFECT_GROUPS.items():
        assert f"<strong>{label}</strong>" in section and f">{effects['groups'][key]['customers']:,}<" in section
    assert f'alt="{UPLIFT_CURVE}"' in section and "0.0077 (90% interval 0.0045 to 0.0113)" in section
    first = report["frame"].iloc[0]
    if first["effect_group"] != "do_not_disturb":
        assert f"lower their churn probability by {first['predicted_effect'] * 100:.1f} points" in html
    assert f"<strong>{WHY_THIS_ACTION}:</strong>" in html
