"""A model keeps the data choices of its training build (event types with columns of their own, what
transactions are), so scoring builds its columns even when today's data lacks a type."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from pipeline.build.features import build_features, build_training_set, context_for, data_choices, feature_spec
from pipeline.core.config import load_params
from pipeline.data.samples.retail import generate
from pipeline.engine.duckdb import dataset_from_frames
from pipeline.training.train import train_models

pytestmark = pytest.mark.slow

AS_OF = date(2025, 12, 31)


def test_a_type_seen_in_training_and_absent_when_scoring_is_zero_not_missing():
    params = load_params(None, ["tuning.n_trials=0", "model.max_rounds=50", "loyalty.max_rounds=50"])
    tables, _ = generate(600, seed=3)
    ds = dataset_from_frames(tables, params)
    choices = data_choices(ds, params, AS_OF)
    assert "webinar_attended" in choices["event_types"]  # the generator's one type the contract does not know
    spec, _ = feature_spec(context_for(ds, params, AS_OF, choices))
    bundle = train_models(build_training_set(ds, params, AS_OF), spec, params, data_choices=choices).bundle
    assert bundle.metadata["data_choices"] == choices

    events = tables["events"]
    today = dataset_from_frames({**tables, "events": events[events["event_type"] != "webinar_attended"]}, params)
    frame = build_features(today, params, AS_OF, choices=bundle.metadata["data_choices"])
    X = bundle.check_features(frame)  # every column the model needs is there
    webinar = [c for c in spec.names if "webinar" in c]
    assert webinar and all(np.nan_to_num(X[c].to_numpy(float), nan=0.0).max() == 0 for c in webinar
                           if "days_since" not in c)
    assert np.isfinite(bundle.churn_probability(X)).all()
