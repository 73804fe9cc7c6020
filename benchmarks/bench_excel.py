"""Excel export benchmark: write generated risk lists of growing size with ``write_excel`` (XlsxWriter in
constant-memory mode: call list, held out, win-back, all columns, definitions) and, in the same run, earlier
writers: ``--before REV`` loads ``pipeline/outputs/excel.py`` as it was at a git revision (e.g. the hand-written
SpreadsheetML writer, ``e637181``) and times it on the same lists; ``--old-sizes`` times the first export
(openpyxl's normal mode, ``ws.append`` then ``ws[ws.max_row]`` per row, one sheet) at small sizes, where it still
finishes.

Usage: python benchmarks/bench_excel.py [--sizes 1000 4000 20000 100000] [--before e637181] [--cell-by-cell]
       [--old-sizes 1000 2000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import pipeline  # noqa: F401  (first: it turns numpy's huge-page advice off before numpy is imported)

# isort: split
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAMILIES = ("recency", "frequency", "service", "payments", "engagement")
ACTIONS = ("Win-back message with a reason to return now", "Service recovery call from a senior agent",
           "Offer a payment plan and check billing contact", "Re-engagement campaign with personalised content")


def synthetic_risk_list(n: int, seed: int = 7) -> pd.DataFrame:
    """A risk list of ``n`` customers with every column `churn score` writes, reasons with their own numbers."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 5, n)
    value = rng.gamma(2.0, 150.0, n)
    effect = rng.uniform(0.05, 0.25, n)
    frame = pd.DataFrame({
        "customer_id": [f"{i:08d}" for i in rng.permutation(n)], "as_of": pd.Timestamp("2025-12-31"),
        "churn_probability": p, "risk_band": np.where(p >= 0.6, "high", np.where(p >= 0.3, "medium", "low")),
        "loyalty_score": rng.uniform(0, 100, n), "loyalty_tier": rng.choice(["new", "steady", "loyal"], n),
        "expected_value": value, "value_if_retained": value * 1.1, "value_at_risk": p * value * 1.1,
        "lifetime_value": value * 3.2, "action": rng.choice(ACTIONS, n), "action_effect": effect,
        "priority": p * value * 1.1 * effect,
        "contact_group": rng.choice(["treatment", "holdout", "not_selected", "win_back"], n, p=[0.4, 0.05, 0.45, 0.1]),
        "model_version": "churn-model v12",
    })
    for k in (1, 2, 3):
        days = rng.integers(20, 400, n)
        ratio = rng.uniform(1.1, 6.0, n)
        frame[f"driver_{k}_feature"] = "days_since_last_purchase"
        frame[f"driver_{k}_family"] = rng.choice(FAMILIES, n)
        frame[f"driver_{k}_value"] = days.astype(float)
        frame[f"driver_{k}_effect"] = rng.uniform(0, 0.2, n)
        frame[f"driver_{k}_reason"] = [f"No purchase for {d} days, {r:.1f} times their usual gap" for d, r in
                                       zip(days.tolist(), ratio.tolist(), strict=True)]
    return frame


def old_write_excel(frame: pd.DataFrame, out: Path) -> None:
    """The former export, kept here as the reference: normal mode, one sheet, a lookup of the last row per row."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "risk list"
    ws.append(list(frame.columns))
    for values in frame.itertuples(index=False):
        ws.append([_old_value(v) for v in values])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    ws.freeze_panes = "A2"
    wb.save(out)


def _old_value(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, np.generic):
        return v.item()
    return v


def writer_at(revision: str):
    """``write_workbook`` of ``pipeline/outputs/excel.py`` as it was at a git revision, as a function of
    (frame, out, summary, currency)."""
    source = subprocess.run(["git", "show", f"{revision}:pipeline/outputs/excel.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(f"excel_at_{revision}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"excel.py@{revision}", "exec"), module.__dict__)  # noqa: S102 (our own file, from git)
    return lambda frame, out, summary, currency: module.write_workbook(frame, out, summary, currency)


def cell_by_cell(frame: pd.DataFrame, out: Path, summary: dict, currency: str) -> None:
    """``write_excel`` with XlsxWriter's own worksheet: every cell through ``write_number``/``write_string``."""
    from xlsxwriter.worksheet import Worksheet

    from pipeline.outputs import excel
    from pipeline.outputs.sets import write_excel

    fast, excel.WORKSHEET_CLASS = excel.WORKSHEET_CLASS, Worksheet
    try:
        write_excel(frame, out, summary, currency)
    finally:
        excel.WORKSHEET_CLASS = fast


def timed(write, frame: pd.DataFrame, out: Path) -> float:
    started = time.perf_counter()
    write(frame, out)
    return time.perf_counter() - started


def main() -> None:
    from pipeline.outputs.sets import write_excel

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 4_000, 20_000, 100_000])
    ap.add_argument("--old-sizes", type=int, nargs="*", default=[1_000, 2_000])
    ap.add_argument("--before", help="a git revision whose Excel writer is timed on the same lists")
    ap.add_argument("--cell-by-cell", action="store_true",
                    help="also time XlsxWriter's own cell-by-cell path (without FastRowsWorksheet's whole rows)")
    args = ap.parse_args()
    summary = {"as_of": "2025-12-31", "label": {"kind": "inactivity", "horizon_days": 90},
               "band_rule": {"by": "probability", "bands": {"high": 0.6, "medium": 0.3, "low": 0.0}},
               "targeting": {"holdout_share": 0.1, "capacity": None, "contact_cost": 1.0, "offer_cost": 0.0,
                             "win_back_gaps": 3.0}, "value_rule": {"lifetime_months": 12}}
    before = writer_at(args.before) if args.before else None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "risk.xlsx"
        timed(lambda f, o: write_excel(f, o, summary, "EUR"), synthetic_risk_list(200), out)  # warm imports
        new: dict[int, float] = {}
        if before is not None:
            timed(lambda f, o: before(f, o, summary, "EUR"), synthetic_risk_list(200), out)
        print(f"write_excel ({synthetic_risk_list(10).shape[1]} columns on the analysts' sheet, 10 on the call list"
              + (f"; the writer at {args.before} on the same lists" if before else "") + "):")
        print(f"{'rows':>9} {'seconds':>9} {'rows/s':>9} {'MB':>7}" + (f" {'before':>9} {'MB':>7}" if before else "")
              + (f" {'by cell':>9}" if args.cell_by_cell else ""))
        for n in args.sizes:
            frame = synthetic_risk_list(n)
            new[n] = timed(lambda f, o: write_excel(f, o, summary, "EUR"), frame, out)
            line = f"{n:>9,} {new[n]:>9.2f} {n / new[n]:>9,.0f} {out.stat().st_size / 1e6:>7.1f}"
            if before is not None:
                seconds = timed(lambda f, o: before(f, o, summary, "EUR"), frame, out)
                line += f" {seconds:>9.2f} {out.stat().st_size / 1e6:>7.1f}"
            if args.cell_by_cell:
                line += f" {timed(lambda f, o: cell_by_cell(f, o, summary, 'EUR'), frame, out):>9.2f}"
            print(line, flush=True)
        small, large = min(new), max(new)
        print(f"per-row time at {large:,} rows / at {small:,} rows: "
              f"{(new[large] / large) / (new[small] / small):.2f} (1 = linear)")
        if not args.old_sizes:
            return
        print("\nfirst export (normal mode, ws.append + ws[ws.max_row], 1 sheet):")
        old: dict[int, float] = {}
        for n in args.old_sizes:
            frame = synthetic_risk_list(n)
            old[n] = timed(old_write_excel, frame, Path(tmp) / "old.xlsx")
            if n not in new:
                new[n] = timed(lambda f, o: write_excel(f, o, summary, "EUR"), frame, out)
            versus = f"{old[n] / new[n]:.0f}x write_excel's {new[n]:.2f} s"
            print(f"{n:>9,} {old[n]:>9.2f} {n / old[n]:>9,.0f}   {versus}")
        if len(old) > 1:
            a, b = min(old), max(old)
            print(f"per-row time at {b:,} rows / at {a:,} rows: {(old[b] / b) / (old[a] / a):.2f} (quadratic: {b / a:.0f})")


if __name__ == "__main__":
    main()
