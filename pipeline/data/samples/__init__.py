"""Sample data: generated retail and subscription histories with planted churn causes, and the real CDNOW history."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from pipeline.core.errors import DataError

KINDS = ("retail", "subscription")
FORMATS = ("csv", "parquet")
CHUNK = 200_000  # customers generated at a time


def check_sample(kind: str, fmt: str, customers: int, seasonality: float = 1.0, campaigns: int = 0) -> None:
    """The sample's settings, checked before any work."""
    from pipeline.data.samples.campaigns import MAX_CAMPAIGNS
    from pipeline.data.samples.retail import check_seasonality

    if kind not in KINDS:
        raise DataError(f"--kind {kind!r}: use retail or subscription")
    if fmt not in FORMATS:
        raise DataError(f"--format {fmt!r}: use csv or parquet")
    if customers < 1:
        raise DataError("--customers must be at least 1")
    check_seasonality(seasonality)
    if kind != "retail" and seasonality != 1.0:
        raise DataError("--seasonality applies to --kind retail only; leave it out for the subscription generator")
    if not 0 <= campaigns <= MAX_CAMPAIGNS:
        raise DataError(f"--campaigns {campaigns}: use 0 (none) to {MAX_CAMPAIGNS} past campaigns, 60 days apart")
    if kind != "retail" and campaigns:
        raise DataError("--campaigns applies to --kind retail only; leave it out for the subscription generator")


def write_sample(out_dir: Path, customers: int, seed: int, kind: str = "retail", fmt: str = "csv",
                 progress: Callable[[int], None] | None = None, seasonality: float = 1.0,
                 campaigns: int = 0) -> dict[str, int]:
    """Generate ``customers`` customers of the ``kind`` generator (seeded) into ``out_dir``, as CSV files or folders
    of Parquet parts, ``CHUNK`` customers at a time; returns the rows written per table. ``progress(n)`` is called
    with the customers of each chunk. ``seasonality`` scales the retail year's peak and lull (0: none).
    ``campaigns``: past retention campaigns, their lists and true effects written to ``out_dir/campaigns``
    (:func:`write_campaigns`)."""
    from pipeline.data.samples import retail, subscription

    check_sample(kind, fmt, customers, seasonality, campaigns)
    truths: list = []
    chunks = (retail.iter_chunks(customers, seed, CHUNK, seasonality=seasonality, campaigns=campaigns, truths=truths)
              if kind == "retail" else subscription.iter_chunks(customers, seed, CHUNK))
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for k, tables in enumerate(chunks):
        for name, frame in tables.items():
            counts[name] = counts.get(name, 0) + len(frame)
            if fmt == "parquet":
                folder = out_dir / name
                folder.mkdir(exist_ok=True)
                frame.to_parquet(folder / f"part-{k:05d}.parquet", index=False)
            else:
                frame.to_csv(out_dir / f"{name}.csv", index=False, mode="w" if k == 0 else "a", header=k == 0)
        if progress:
            progress(min(CHUNK, customers - k * CHUNK))
    if campaigns:
        counts["campaign lists"] = write_campaigns(out_dir / CAMPAIGNS_FOLDER,
                                                   pd.concat([t.campaigns for t in truths], ignore_index=True))
    return counts


CAMPAIGNS_FOLDER = "campaigns"  # inside the sample's folder; not a table, so never read as data
TRUTH_FILE = "true_effects.parquet"


def write_campaigns(folder: Path, truth: pd.DataFrame) -> int:
    """Each past campaign as a risk list (``risk_asof=DATE.parquet`` with its summary: the label it was run
    under) and the true effects (``true_effects.parquet``, the answer key: not data); returns the lists written."""
    from pipeline.data.samples.campaigns import HORIZON_DAYS, campaign_lists

    folder.mkdir(parents=True, exist_ok=True)
    lists = campaign_lists(truth)
    for as_of, frame in lists.items():
        frame.to_parquet(folder / f"risk_asof={as_of}.parquet", index=False)
        summary = {"as_of": as_of, "simulated": True,
                   "label": {"kind": "inactivity", "horizon_days": HORIZON_DAYS, "lookback_days": 365,
                             "min_purchases_in_lookback": 1}}
        (folder / f"risk_asof={as_of}_summary.json").write_text(json.dumps(summary, indent=1))
    truth.to_parquet(folder / TRUTH_FILE, index=False)
    return len(lists)
