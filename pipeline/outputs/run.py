"""The body of ``churn report``: the self-contained HTML report of a risk list, and its Excel export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.core.config import load_params
from pipeline.core.files import write_bytes
from pipeline.outputs.labels import currency_of
from pipeline.outputs.report.html import build_report
from pipeline.outputs.sets import read_risk_list, write_excel


@dataclass
class ReportRun:
    customers: int
    html: Path
    xlsx: Path | None


def report(params: str | Path | None, scores: str | Path, out: str | Path = Path("report.html"), xlsx: Path | None = None,
           overrides: list[str] | tuple[str, ...] = ()) -> ReportRun:
    """``churn report``: the HTML report of the risk list ``scores`` (written by ``churn score``, refused when its
    parts come from different runs) to ``out``, and an Excel call list to ``xlsx`` when given."""
    cfg = load_params(params, list(overrides or []))
    out = Path(out)
    frame, summary = read_risk_list(Path(scores))
    html = build_report(frame, summary, cfg.scoring.report_top_n, currency=currency_of(cfg))
    write_bytes(html.encode("utf-8"), out)
    if xlsx is not None:
        write_excel(frame, xlsx, summary=summary, currency=currency_of(cfg))
    return ReportRun(len(frame), out, xlsx)
