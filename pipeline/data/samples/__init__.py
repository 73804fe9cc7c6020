"""Sample data: generated retail and subscription histories with planted churn causes, and the real CDNOW history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.core.errors import DataError

KINDS = ("retail", "subscription")
FORMATS = ("csv", "parquet")
CHUNK = 200_000  # customers generated at a time


def check_sample(kind: str, fmt: str, customers: int) -> None:
    """The sample's settings, checked before any work."""
    if kind not in KINDS:
        raise DataError(f"--kind {kind!r}: use retail or subscription")
    if fmt not in FORMATS:
        raise DataError(f"--format {fmt!r}: use csv or parquet")
    if customers < 1:
        raise DataError("--customers must be at least 1")


def write_sample(out_dir: Path, customers: int, seed: int, kind: str = "retail", fmt: str = "csv",
                 progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Generate ``customers`` customers of the ``kind`` generator (seeded) into ``out_dir``, as CSV files or folders
    of Parquet parts, ``CHUNK`` customers at a time; returns the rows written per table. ``progress(n)`` is called
    with the customers of each chunk."""
    from pipeline.data.samples import retail, subscription

    check_sample(kind, fmt, customers)
    iter_chunks = retail.iter_chunks if kind == "retail" else subscription.iter_chunks
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for k, tables in enumerate(iter_chunks(customers, seed, CHUNK)):
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
