"""Comparing a risk list with the previous one (what every nightly `churn score` does after scoring): time and the
memory the comparison takes on top of what scoring holds, at a million customers' scale, on synthetic lists.

    .venv/bin/python benchmarks/bench_changes.py [--customers 684131] [--features 104] [--risen 0.33]

The previous list (with its SHAP file and summary) is written as `churn score` writes it; this run's list and
feature table are held in memory as scoring leaves them, and its SHAP values are in this run's SHAP file, written
a batch at a time while scoring; then `pipeline.scoring.run.compare_with_previous` runs as `churn score` calls it.
Peak = the process's resident memory high-water mark from just before the comparison (``VmHWM``, reset), less what
it held then.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pipeline  # noqa: F401  (first: it turns numpy's huge-page advice off before numpy is imported)

# isort: split
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_memory_gb, reset_peak_memory, resident_gb  # noqa: E402

from features.registry import Feature, FeatureSpec  # noqa: E402
from pipeline.core.files import ParquetChunks, write_parquet, write_table  # noqa: E402
from pipeline.core.runlog import RunLog  # noqa: E402
from pipeline.engine.base import FrameRows  # noqa: E402
from pipeline.scoring.run import OwnContributions, compare_with_previous  # noqa: E402
from pipeline.scoring.score import ScoreResult  # noqa: E402

LABEL = {"kind": "inactivity", "horizon_days": 90, "lookback_days": 365, "min_purchases_in_lookback": 1}
BANDS = {"by": "probability", "bands": {"high": 0.5, "medium": 0.3, "low": 0.0},
         "thresholds": {"high": 0.5, "medium": 0.3, "low": 0.0}}


def risk_list(ids: np.ndarray, p: np.ndarray, day: str, rng: np.random.Generator) -> pd.DataFrame:
    n = len(ids)
    frame = pd.DataFrame({
        "customer_id": ids, "as_of": pd.Timestamp(day), "churn_probability": p,
        "risk_band": np.where(p >= 0.5, "high", np.where(p >= 0.3, "medium", "low")),
        "loyalty_score": rng.random(n) * 100, "loyalty_tier": "steady", "expected_value": rng.random(n) * 500,
        "value_at_risk": rng.random(n) * 200, "model_version": "churn-model v1 (champion)", "action": "Call",
    })
    for k in range(1, 6):  # the drivers' sentences: most of a list's size
        frame[f"driver_{k}_reason"] = pd.Series([f"No purchase for {d} days, {k * d % 97} fewer visits than usual"
                                                 for d in rng.integers(1, 400, n)], dtype="str")
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=684_131)
    parser.add_argument("--features", type=int, default=104)
    parser.add_argument("--risen", type=float, default=0.33, help="share of customers whose risk rose")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, f = args.customers, args.features
    spec = FeatureSpec(tuple(Feature(f"feature_{i}", f"family_{i % 12}", "count",
                                     f"{{value:.0f}} events of kind {i} in the last 90 days", 1, fill=0)
                             for i in range(f)))
    ids = np.array([f"C{i:08d}" for i in range(n)], dtype=object)
    before = rng.random(n) * 0.9
    now = np.clip(before + np.where(rng.random(n) < args.risen, 0.05, -0.05), 0, 1)

    def contributions(values: np.ndarray, who: np.ndarray = ids) -> pd.DataFrame:
        frame = pd.DataFrame(values, columns=[f"churn_{x.name}" for x in spec.features], copy=False)
        frame.insert(0, "customer_id", who)
        frame["churn_base_value"] = -0.5
        return frame

    with tempfile.TemporaryDirectory() as folder:
        previous = Path(folder) / "risk_asof=2025-11-30.parquet"
        write_table(risk_list(ids, before, "2025-11-30", rng), previous)
        write_parquet(contributions(rng.normal(size=(n, f))), previous.with_name(f"{previous.stem}_shap.parquet"))
        summary = {"as_of": "2025-12-31", "model_version": "churn-model v1 (champion)", "label": LABEL,
                   "band_rule": BANDS}
        previous.with_name(f"{previous.stem}_summary.json").write_text(json.dumps({**summary, "as_of": "2025-11-30"}))
        shap_path = Path(folder) / "risk_asof=2025-12-31_shap.parquet"
        with ParquetChunks(shap_path) as shap:  # as scoring writes it: a batch of 100,000 customers at a time
            for start in range(0, n, 100_000):
                batch = ids[start:start + 100_000]
                shap.write(contributions(rng.normal(size=(len(batch), f)), batch))
        result = ScoreResult(risk_list(ids, now, "2025-12-31", rng), None, pd.DataFrame(), pd.DataFrame(),
                             pd.DataFrame(), summary)
        features = pd.DataFrame(rng.integers(0, 20, size=(n, f)).astype(float), columns=spec.names)
        features.insert(0, "customer_id", ids)
        held = resident_gb()
        reset_peak_memory()
        started = time.perf_counter()
        rows = FrameRows(features)  # as the engine hands it to what follows scoring
        own = OwnContributions(shap_path, rows, 0)  # this run's SHAP file, read once with the chart's sample
        risk, changes = compare_with_previous(previous, True, result, own, rows, spec, "", RunLog())
        seconds = time.perf_counter() - started
        peak = peak_memory_gb()
    said = risk["change_reason"].dropna()
    print(f"{n:,} customers, {f} features, {changes['risk_up']:,} risen: compare_with_previous {seconds:.1f} s, "
          f"{peak - held:+.2f} GB over the {held:.2f} GB held before it (peak {peak:.2f} GB); "
          f"{said.str.contains(': ', regex=False).sum():,} rises with their reasons, e.g. {said.iloc[0]!r}")


if __name__ == "__main__":
    main()
