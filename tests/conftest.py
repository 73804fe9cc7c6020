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
