"""The cheaper scoring paths give the same risk list: customers scored in batches, the value model's contributions
left out unless asked for (``scoring.explain_loyalty``), predictions and TreeSHAP on every core."""

from __future__ import annotations

import dataclasses
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from models import lgbm
from pipeline.core.files import ParquetChunks
from pipeline.scoring.score import customer_batches, score


def _score(scored, **scoring):
    params = scored["params"]
    cfg = dataclasses.replace(params.scoring, **scoring)
    return score(scored["features"], scored["result"].bundle, scored["as_of"], cfg, "test v1")


@pytest.mark.slow
def test_batches_give_the_same_rows_totals_and_summary(scored):
    whole = scored["score"]
    n = len(scored["features"])
    assert n > 300 and scored["params"].scoring.batch_rows >= n  # the fixture's run is one batch
    batched = _score(scored, batch_rows=128)  # uneven: the last batch is shorter
    pd.testing.assert_frame_equal(batched.risk_list, whole.risk_list)
    pd.testing.assert_frame_equal(batched.contributions, whole.contributions)
    pd.testing.assert_frame_equal(batched.global_features, whole.global_features, rtol=1e-12)
    pd.testing.assert_frame_equal(batched.global_families, whole.global_families, rtol=1e-12)
    pd.testing.assert_frame_equal(batched.drift, whole.drift, rtol=1e-12)
    assert batched.summary["bands"] == whole.summary["bands"]
    assert batched.summary["targeting"]["groups"] == whole.summary["targeting"]["groups"]


@pytest.mark.slow
@pytest.mark.parametrize("batch_rows", [128, 10_000])
def test_contributions_written_batch_by_batch_are_those_gathered(scored, tmp_path, batch_rows):
    """``churn score`` hands each batch's SHAP values to the SHAP file as the batch is scored: the file holds what
    the gathered frame holds, row for row, and the risk list and summary are the same."""
    whole = scored["score"]
    params = scored["params"]
    cfg = dataclasses.replace(params.scoring, batch_rows=batch_rows)
    path = tmp_path / "risk_shap.parquet"
    with ParquetChunks(path, chunk_rows=100) as shap:
        streamed = score(scored["features"], scored["result"].bundle, scored["as_of"], cfg, "test v1",
                         contributions_to=shap.write)
    assert streamed.contributions is None  # nothing gathered: held one batch at a time
    pd.testing.assert_frame_equal(pd.read_parquet(path), whole.contributions, check_exact=True)
    pd.testing.assert_frame_equal(streamed.risk_list, whole.risk_list)
    assert streamed.summary["bands"] == whole.summary["bands"]
    assert streamed.summary["targeting"] == whole.summary["targeting"]


class RecordingScorer:
    """A scorer that records the size of each batch of features the engine hands it."""

    def __init__(self, scorer):
        self.scorer, self.sizes = scorer, []

    @property
    def batch_rows(self) -> int:
        return self.scorer.batch_rows

    def score_batches(self, batches, rows, contributions_to=None):
        def seen():
            for batch in batches:
                self.sizes.append(len(batch))
                yield batch
        return self.scorer.score_batches(seen(), rows, contributions_to)


@pytest.mark.slow
@pytest.mark.parametrize("batch_rows", [97, 160, 10_000])
def test_the_engine_streams_the_feature_table_to_scoring_a_batch_at_a_time(scored, batch_rows):
    """On one machine the feature table goes from the engine to scoring a batch at a time (``DuckDBDataset.score``),
    never whole in Python: each batch is ``scoring.batch_rows`` customers, ``keep`` is applied once and its columns
    are every batch's, and the risk list, contributions and summary are those of scoring the whole table. What
    follows scoring reads the rows it needs back from the engine: the same rows as the table's, and the chart's
    sample is the one ``DataFrame.sample`` draws."""
    from pipeline.build.features import build_features, build_plan
    from pipeline.scoring.score import Scorer

    ds, params, whole, table = scored["ds"], scored["params"], scored["score"], scored["features"]
    cfg = dataclasses.replace(params.scoring, batch_rows=batch_rows)
    scorer = RecordingScorer(Scorer(scored["result"].bundle, scored["as_of"], cfg, "test v1"))
    order, kept = [table.columns[0], *table.columns[1:][::-1]], []

    def keep(frame):  # the features in another order: what keep returns for the first batch is every batch's
        kept.append(len(frame))
        return frame[order]

    batches = []
    features, result = ds.score(build_plan(ds, params, scored["as_of"]), scorer, keep,
                                contributions_to=batches.append)
    try:
        n = len(table)
        assert len(features) == n and len(kept) == 1
        assert scorer.sizes == [batch_rows] * (n // batch_rows) + ([n % batch_rows] if n % batch_rows else [])
        pd.testing.assert_frame_equal(result.risk_list, whole.risk_list, check_exact=True)
        pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), whole.contributions, check_exact=True)
        assert result.summary == whole.summary
        build_features(ds, params, scored["as_of"])  # another build on the connection meanwhile changes nothing
        ids = table["customer_id"].astype(str).to_numpy()[::7][::-1]  # any order; the rows come in id order
        expected = table[order]
        wanted = expected[expected["customer_id"].astype(str).isin(ids)].reset_index(drop=True)
        pd.testing.assert_frame_equal(features.rows(list(ids) + ["not a customer"]), wanted, check_exact=True)
        for size, seed in ((50, 0), (3000, 11)):
            pd.testing.assert_frame_equal(features.sample(size, seed), expected.sample(n=min(size, n), random_state=seed),
                                          check_exact=True)
    finally:
        features.close()
    left = ds.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_scoring_%'").fetchall()
    assert left == [(0,)]  # the engine's copy goes when closed


class FailingScorer(RecordingScorer):
    """A scorer that stops on its second batch, as a scoring error would."""

    def score_batches(self, batches, rows, contributions_to=None):
        def failing():
            for k, batch in enumerate(batches):
                if k == 1:
                    raise RuntimeError("stopped in the second batch")
                yield batch
        return self.scorer.score_batches(failing(), rows, contributions_to)


@pytest.mark.slow
def test_a_scoring_run_that_stops_mid_stream_leaves_the_engine_as_it_was(scored):
    """An error while the feature table streams is the error the caller sees: the stream is closed, the engine's
    copy of the table dropped, and the connection answers the next query (DuckDB refuses one while a result is
    open)."""
    from pipeline.build.features import build_plan
    from pipeline.scoring.score import Scorer

    ds, params = scored["ds"], scored["params"]
    cfg = dataclasses.replace(params.scoring, batch_rows=100)
    scorer = FailingScorer(Scorer(scored["result"].bundle, scored["as_of"], cfg, "test v1"))
    with pytest.raises(RuntimeError, match="second batch"):
        ds.score(build_plan(ds, params, scored["as_of"]), scorer, lambda f: f)
    left = ds.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_scoring_%'").fetchall()
    assert left == [(0,)]
    assert ds.clean_columns("transactions")  # the connection answers its next query


def test_customer_batches_cover_every_customer_once_in_order():
    frame = pd.DataFrame({"customer_id": [f"C{i}" for i in range(10)]}, index=range(100, 110))
    batches = customer_batches(frame, 4)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert pd.concat(batches)["customer_id"].tolist() == frame["customer_id"].tolist()
    assert all(list(b.index) == list(range(len(b))) for b in batches)  # each a table of its own
    assert customer_batches(frame, 10)[0] is frame  # one batch: the table itself, untouched
    assert len(customer_batches(frame.iloc[:0], 4)) == 1  # an empty table is still scored (an empty list)


@pytest.mark.slow
def test_the_loyalty_explanation_changes_nothing_but_its_own_columns(scored):
    off = scored["score"]
    assert scored["params"].scoring.explain_loyalty is False  # the default
    assert not any(c.startswith("loyalty_") for c in off.contributions.columns)
    assert "mean_abs_loyalty" not in off.global_features.columns  # no NaN column in the summary's JSON
    on = _score(scored, explain_loyalty=True)
    pd.testing.assert_frame_equal(on.risk_list, off.risk_list)
    churn_columns = list(off.contributions.columns)
    pd.testing.assert_frame_equal(on.contributions[churn_columns], off.contributions)
    loyalty = [c for c in on.contributions.columns if c.startswith("loyalty_")]
    assert len(loyalty) == len(churn_columns) - 1  # a column per feature and the base value (no customer_id)
    # exact TreeSHAP of the value model: a row's contributions add up to its raw score (log of value)
    bundle = scored["result"].bundle
    X = bundle.check_features(scored["features"].set_index("customer_id").loc[
        on.contributions["customer_id"]].reset_index())
    raw = bundle.loyalty._raw_predict(X, raw_score=True)
    np.testing.assert_allclose(on.contributions[loyalty].sum(axis=1), raw, atol=1e-8)
    assert (on.global_features["mean_abs_loyalty"] >= 0).all()
    pd.testing.assert_frame_equal(on.global_features.drop(columns="mean_abs_loyalty"), off.global_features)


@pytest.mark.slow
def test_predictions_and_contributions_do_not_depend_on_the_thread_count(scored):
    churn = scored["result"].bundle.churn
    X = scored["result"].bundle.check_features(scored["features"])
    many = churn.predict_proba(X), churn.contributions(X)
    with mock.patch.object(lgbm, "prediction_threads", return_value=1):
        one = churn.predict_proba(X), churn.contributions(X)
    np.testing.assert_array_equal(many[0], one[0])
    np.testing.assert_array_equal(many[1], one[1])
    # the cap an engine running a task per core sets (Spark): one thread inside the block, all cores after it
    with lgbm.prediction_thread_cap(1):
        assert lgbm.prediction_threads() == 1
        capped = churn.predict_proba(X), churn.contributions(X)
    assert lgbm.prediction_threads() >= 1 and lgbm._THREAD_CAP.get() is None
    np.testing.assert_array_equal(many[0], capped[0])
    np.testing.assert_array_equal(many[1], capped[1])


@pytest.mark.slow
def test_contributions_are_those_of_shap_tree_explainer(scored):
    """The tables' TreeSHAP (models/treeshap.py) gives what ``shap.TreeExplainer`` gave before it (the same numbers,
    summed in another order), and LightGBM's own ``pred_contrib`` exactly what the explainer gives."""
    import warnings

    import shap

    churn = scored["result"].bundle.churn
    X = scored["result"].bundle.check_features(scored["features"].head(400))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        explainer = shap.TreeExplainer(churn.booster_)
        values = explainer.shap_values(churn._prepare_predict(X), tree_limit=churn.best_iteration_)
    values = values[-1] if isinstance(values, list) else values
    ours = churn.contributions(X)
    assert churn.tree_tables() is not None
    np.testing.assert_allclose(ours[:, :-1], np.asarray(values, float), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours[:, -1], np.ravel(explainer.expected_value)[-1], rtol=1e-12)
    lightgbm = churn.lightgbm_contributions(churn._prepare_predict(X))
    np.testing.assert_array_equal(lightgbm[:, :-1], np.asarray(values, float))
    assert churn.contributions(X.iloc[:0]).shape == (0, X.shape[1] + 1)
