"""Sample data: generated retail and subscription histories with planted churn causes, and the real CDNOW history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.core.errors import DataError

KINDS = ("retail", "subscription")
FORMATS = ("csv", "parquet")
CHUNK = 200_000  # customers generated at a time


def check_sample(kind: str, fmt: str, customers: int, seasonality: float = 1.0) -> None:
    """The sample's settings, checked before any work."""
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


def write_sample(out_dir: Path, customers: int, seed: int, kind: str = "retail", fmt: str = "csv",
                 progress: Callable[[int], None] | None = None, seasonality: float = 1.0) -> dict[str, int]:
    """Generate ``customers`` customers of the ``kind`` generator (seeded) into ``out_dir``, as CSV files or folders
    of Parquet parts, ``CHUNK`` customers at a time; returns the rows written per table. ``progress(n)`` is called
    with the customers of each chunk. ``seasonality`` scales the retail year's peak and lull (0: none)."""
    from pipeline.data.samples import retail, subscription

    check_sample(kind, fmt, customers, seasonality)
    chunks = (retail.iter_chunks(customers, seed, CHUNK, seasonality=seasonality) if kind == "retail"
              else subscription.iter_chunks(customers, seed, CHUNK))
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
    return counts
