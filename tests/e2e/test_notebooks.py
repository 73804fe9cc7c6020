"""The jupytext notebooks execute on a small generated sample, so they never rot (``make notebooks`` runs only these)."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]_*.py"))
SETTINGS = ("CHURN_DATA", "CHURN_PARAMS", "CHURN_AS_OF", "CHURN_MODEL", "MLFLOW_TRACKING_URI")


def test_every_notebook_is_found():
    assert [p.name for p in NOTEBOOKS] == ["01_explore_data.py", "02_features.py", "03_model.py"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch, tmp_path):
    for name in SETTINGS:  # the defaults: generated data, a model trained in the notebook, its own MLflow store
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHURN_NOTEBOOK_CUSTOMERS", "800")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's working folder (tempfile.mkdtemp) inside tmp_path
    nb = jupytext.read(path)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors
    charts = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert charts, f"{path.name} showed no chart"
