"""The CLI run in process (typer's CliRunner) in a working folder of its own, for the e2e tests that train once
per module and then score, compare or follow up in that folder."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.data.samples.retail import generate

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def churn(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@contextlib.contextmanager
def trained_workdir(tmp_path_factory: pytest.TempPathFactory, name: str, as_of: str) -> Iterator[Path]:
    """A fresh folder, the working directory while open, holding the project's params.yaml, the generated sample
    data (400 customers, seed 5) in data/ and an MLflow store of its own with a model trained as of ``as_of``
    (no tuning, 100 rounds). MLflow's tracking URI is put back on closing."""
    import mlflow

    wd = tmp_path_factory.mktemp(name)
    previous_uri = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(wd)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{wd / 'mlflow.db'}")
        mp.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        shutil.copy(ROOT / "params.yaml", wd / "params.yaml")
        tables, _ = generate(400, seed=5)
        (wd / "data").mkdir()
        for table, frame in tables.items():
            frame.to_parquet(wd / "data" / f"{table}.parquet", index=False)
        res = churn("train", "--data", "data", "--as-of", as_of, "--set", "tuning.n_trials=0", "--set",
                    "model.max_rounds=100", "--set", "loyalty.max_rounds=100")
        assert res.exit_code == 0, res.output[-3000:]
        yield wd
    mlflow.set_tracking_uri(previous_uri)
