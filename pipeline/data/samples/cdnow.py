"""Loader for the real CDNOW purchase history, converted to the canonical transactions table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.core.errors import DataError

BUNDLED = Path(__file__).resolve().parents[3] / "data" / "cdnow" / "CDNOW_master.txt"
SAMPLE_IDS = BUNDLED.with_name("sample_customer_ids.txt")


def load_cdnow(path: str | Path = BUNDLED) -> pd.DataFrame:
    """Read ``CDNOW_master.txt`` into ``customer_id, timestamp, amount, quantity`` (ids as given, text)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"CDNOW file {path} not found; the project ships it under data/cdnow/")
    raw = pd.read_csv(path, sep=r"\s+", header=None, names=["customer_id", "date", "quantity", "amount"],
                      dtype={"customer_id": str, "date": str}, comment=None, skiprows=_header_rows(path))
    # Several lines can share a customer and a day; they are one day's purchase (Fader-Hardie practice),
    # and exact repeats are legitimate separate lines, so they are summed rather than taken as duplicates.
    daily = raw.groupby(["customer_id", "date"], as_index=False, sort=True)[["amount", "quantity"]].sum()
    return pd.DataFrame({
        "customer_id": daily["customer_id"],
        "timestamp": pd.to_datetime(daily["date"], format="%Y%m%d"),
        "amount": daily["amount"].astype(float).round(2),
        "quantity": daily["quantity"].astype(float),
    })


def _header_rows(path: Path) -> int:
    with path.open() as fh:
        return 1 if "customer_id" in fh.readline() else 0


def load_cdnow_sample(path: str | Path = BUNDLED) -> pd.DataFrame:
    """The 2,357 customers of Fader and Hardie's published 1/10 sample, from the master file."""
    ids = set(SAMPLE_IDS.read_text().split())
    frame = load_cdnow(path)
    return frame[frame["customer_id"].isin(ids)].reset_index(drop=True)
