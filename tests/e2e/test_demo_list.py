"""The demo's risk list (``make demo``: the bundled sample, as of 2025-12-31, the project's params.yaml) is the one
recorded in ``demo_risk_list.sha256``: a change of layout or speed must not change what the list says. A change
meant to change the list (a better model, new reasons) records the new hash in the same commit, saying why."""

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
    assert len(written) == 3366
    assert content_hash(written) == RECORDED.read_text().split()[0]
