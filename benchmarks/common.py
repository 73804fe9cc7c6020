"""What both benchmarks share: generated data cached under benchmarks/.data/ (rebuilt when the
generator changes) and a peak-memory reading that covers only the part being measured."""

from __future__ import annotations

import resource
import shutil
from pathlib import Path

from pipeline.data.samples.retail import VERSION

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / ".data"
MARK = ".complete"


def cached_or_cleared(folder: Path) -> bool:
    """True when ``folder`` holds a finished build from this generator version; otherwise it is removed
    (half-written, or from an older generator) and False says to build it afresh."""
    marker = folder / MARK
    if marker.exists() and marker.read_text().split()[:2] == ["generator", str(VERSION)]:
        return True
    shutil.rmtree(folder, ignore_errors=True)
    return False


def mark_current(folder: Path, note: str = "") -> None:
    (folder / MARK).write_text(f"generator {VERSION} {note}".strip())


def reset_peak_memory() -> None:
    """Start the peak-memory reading afresh (Linux: ``/proc/self/clear_refs``), so that generating or
    loading data before the timed part does not count. ``ru_maxrss`` cannot be reset, and a child
    started with fork and exec inherits its parent's peak in it, hence :func:`peak_memory_gb`."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _status_gb(field: str) -> float | None:
    """A memory figure of this process's ``/proc/self/status`` (``VmHWM``, ``VmRSS``) in GB; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def resident_gb() -> float:
    """Resident memory of this process now (``VmRSS``; NaN where the system does not say)."""
    now = _status_gb("VmRSS")
    return float("nan") if now is None else now


def peak_memory_gb() -> float:
    """Peak resident memory of this process since start or the last :func:`reset_peak_memory` (VmHWM)."""
    peak = _status_gb("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # not Linux: no reset, whole process
