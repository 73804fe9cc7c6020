"""Shared, seeded, small fixtures."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from pipeline.config import Params, load_params
from pipeline.sample_data import generate

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
    from pipeline.build import build_training_set, context_for, dataset_from_frames, feature_spec
    from pipeline.train import train_models

    params = load_params(None, ["tuning.n_trials=0", "model.max_rounds=300", "loyalty.max_rounds=200"])
    tables, truth = generate(1500, seed=21)
    ds = dataset_from_frames(tables, params)
    as_of = date(2025, 12, 31)
    training = build_training_set(ds, params, as_of)
    spec, _ = feature_spec(context_for(ds, params, as_of))
    result = train_models(training, spec, params)
    return {"params": params, "training": training, "spec": spec, "result": result, "ds": ds, "tables": tables,
            "truth": truth, "as_of": as_of}
