"""The demo's risk list (``make demo``: the bundled sample, as of 2025-12-31, the project's params.yaml) is the one
recorded in ``demo_risk_list.sha256``: a change of layout or speed must not change what the list says. A change
meant to change the list (a better model, new reasons) records the new hash in the same commit, saying why.

The file holds one line per kind of processor the list was recorded on: the same code and packages give lists that
differ in the last bits of some numbers on processors with other instruction sets (numpy and OpenBLAS pick their
loops by the processor), and a tree split can follow such a bit. The list must be one of them; re-recording replaces
the line of the machine it is recorded on and says on the other lines that they are of the code before."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from pipeline.scoring import run as scoring
from pipeline.training import run as training

ROOT = Path(__file__).resolve().parents[2]
RECORDED = Path(__file__).with_name("demo_risk_list.sha256")
AS_OF = "2025-12-31"


def content_hash(frame: pd.DataFrame) -> str:
    """A hash of every value of every row and column, in order (not of the file's bytes, which hold metadata)."""
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()


@pytest.mark.slow
def test_the_demo_risk_list_is_the_recorded_one(tmp_path, monkeypatch):
    import mlflow

    previous_uri = mlflow.get_tracking_uri()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        trained = training.train(ROOT / "params.yaml", ROOT / "data" / "sample", AS_OF)
        assert trained.logged.decision is not None  # the first version in a fresh store: the champion scores
        scored = scoring.score(ROOT / "params.yaml", ROOT / "data" / "sample", AS_OF, out=tmp_path / "risk.parquet",
                               no_previous=True)
    finally:
        mlflow.set_tracking_uri(previous_uri)
    written = pd.read_parquet(scored.path)
    p = written["churn_probability"]
    # probabilities a person can believe: no staircase (the isotonic map gave 47 distinct values for 3,366
    # customers, 955 at exactly 100%), never exactly 0 or 1, nor shown as such
    assert p.nunique() >= len(written) / 2
    assert p.between(0, 1, inclusive="neither").all()
    assert not p.map("{:.1%}".format).isin(["0.0%", "100.0%"]).any()
    # bands that split: every band holds a real share (the demo's model ranks sharply, ROC-AUC 0.97: medium from the
    # average's odds held 4.1%, under multiples of the rate 0.3%; around the average, 15.7%), none on the wrong side
    # of the base rate
    shares = written["risk_band"].value_counts(normalize=True)
    assert all(shares.get(band, 0) >= 0.05 for band in ("high", "medium", "low"))
    base_rate = scored.summary["band_rule"]["base_rate"]
    assert p[written["risk_band"] == "low"].max() < base_rate <= p[written["risk_band"] == "high"].min()
    recorded = [line.split()[0] for line in RECORDED.read_text().splitlines() if line.strip()]
    assert content_hash(written) in recorded, (f"the demo risk list changed: {content_hash(written)} is none of the "
                                               f"recorded hashes in {RECORDED.name}")
