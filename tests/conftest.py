"""Shared, seeded, small fixtures."""

from __future__ import annotations

import os
from datetime import date

# Before LightGBM starts its OpenMP threads: they wait passively, so two test workers sharing the cores do not spin
# against each other (the Makefile sets it too). Results do not depend on it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pandas as pd  # noqa: E402
import pytest

from pipeline.core.config import Params, load_params
from pipeline.data.samples.retail import generate

AS_OF = date(2025, 9, 30)


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(None)


@pytest.fixture(scope="session")
def sample_tables() -> dict[str, pd.DataFrame]:
    tables, _ = generate(600, seed=7)
    return tables


@pytest.fixture(scope="session")
def sample_with_truth():
    return generate(600, seed=7)


def copy_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {k: v.copy(deep=True) for k, v in tables.items()}


@pytest.fixture(scope="session")
def trained():
    """A small training set and a model trained on it (no tuning), shared by model tests."""
    from pipeline.build.features import build_training_set, context_for, feature_spec
    from pipeline.engine.duckdb import dataset_from_frames
    from pipeline.training.train import train_models

    params = load_params(None, ["tuning.n_trials=0", "model.max_rounds=300", "loyalty.max_rounds=200"])
    tables, truth = generate(1500, seed=21)
    ds = dataset_from_frames(tables, params)
    as_of = date(2025, 12, 31)
    training = build_training_set(ds, params, as_of)
    spec, _ = feature_spec(context_for(ds, params, as_of))
    result = train_models(training, spec, params)
    return {"params": params, "training": training, "spec": spec, "result": result, "ds": ds, "tables": tables,
            "truth": truth, "as_of": as_of}


@pytest.fixture(scope="session")
def scored(trained):
    """The trained model scoring its own generated customers at the training as-of date."""
    from pipeline.build.features import build_features
    from pipeline.scoring.score import score

    params = trained["params"]
    features = build_features(trained["ds"], params, trained["as_of"])
    result = score(features, trained["result"].bundle, trained["as_of"], params.scoring, "test v1")
    return {**trained, "features": features, "score": result}


def find_chromium() -> str:
    """The path of headless chromium; the browser tests fail with the fix when it is missing (tests never install
    anything: ``make chromium``, which ``make test`` runs first, does)."""
    import shutil

    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    pytest.fail("chromium is not installed, and the browser tests need it: run `make chromium` "
                "(or `apt-get install chromium`), or leave these tests out with `-m 'not browser'`", pytrace=False)
