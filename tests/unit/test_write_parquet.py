"""Parquet written in chunks reads back as the frame written whole (``pipeline.core.files.write_parquet``), and
written a batch at a time as the batches together (``ParquetChunks``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.files import ParquetChunks, write_parquet


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    text = rng.choice(np.array(["call", "offer", None, "näive \"text\"\n"], dtype=object), n)
    text[: n // 2] = None  # the first chunks may hold no text at all: still a text column
    return pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "p": rng.random(n),
        "count": rng.integers(0, 5, n),
        "reason": pd.Series(text, dtype="str"),
        "anything": pd.Series(text, dtype=object),
        "when": pd.Timestamp("2025-12-31") + pd.to_timedelta(rng.integers(0, 100, n), unit="D"),
        "flag": rng.random(n) > 0.5,
        "value": np.where(rng.random(n) > 0.9, np.nan, rng.random(n) * 100),
    })


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 60), chunk=st.integers(1, 25), seed=st.integers(0, 1000))
def test_chunked_parquet_reads_back_as_the_frame_written_whole(tmp_path_factory, n, chunk, seed):
    df = _frame(n, seed)
    folder = tmp_path_factory.mktemp("parquet")
    whole, chunked = folder / "whole.parquet", folder / "chunked.parquet"
    df.to_parquet(whole, index=False)
    write_parquet(df, chunked, chunk_rows=chunk)
    pd.testing.assert_frame_equal(pd.read_parquet(chunked), pd.read_parquet(whole), check_exact=True)
    assert pq.read_schema(chunked).equals(pq.read_schema(whole), check_metadata=True)
    if n > chunk:  # one row group per chunk
        assert pq.ParquetFile(chunked).metadata.num_row_groups == -(-n // chunk)


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(0, 30), min_size=1, max_size=5), chunk=st.integers(1, 25),
       seed=st.integers(0, 1000), ints=st.booleans())
def test_a_file_written_a_batch_at_a_time_reads_back_as_the_batches_together(tmp_path_factory, sizes, chunk, seed,
                                                                             ints):
    """Scoring's SHAP values go to disk a batch at a time (``ParquetChunks``): the file holds the batches' rows
    together, in order, typed as the batches are, whatever their sizes (empty ones included) and the chunk size."""
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    ids = np.arange(n) * 7 if ints else np.array([f"C{i:05d}" for i in range(n)], dtype=object)
    df = pd.DataFrame({"customer_id": ids, **{f"churn_f{k}": rng.normal(size=n) for k in range(3)}})
    if not ints:  # ids held as Python objects: an empty first batch has no type to give the file
        df["customer_id"] = df["customer_id"].astype(object)
    bounds = np.cumsum([0, *sizes])
    path = tmp_path_factory.mktemp("batches") / "shap.parquet"
    with ParquetChunks(path, chunk_rows=chunk) as out:
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            out.write(df.iloc[a:b].reset_index(drop=True))
    whole = path.with_name("whole.parquet")
    df.to_parquet(whole, index=False)  # the batches together, written at once: the same frame read back
    pd.testing.assert_frame_equal(pd.read_parquet(path), pd.read_parquet(whole), check_exact=True)
    expected_groups = sum(-(-s // chunk) for s in sizes)
    assert pq.ParquetFile(path).metadata.num_row_groups == expected_groups


def test_a_file_left_with_an_error_is_removed_and_one_never_written_needs_a_schema(tmp_path):
    path = tmp_path / "shap.parquet"
    with pytest.raises(RuntimeError), ParquetChunks(path) as out:
        out.write(pd.DataFrame({"customer_id": ["C1"], "churn_f": [0.5]}))
        raise RuntimeError("scoring stopped")
    assert not path.exists()  # no half-written SHAP file
    with pytest.raises(ValueError, match="no schema"), ParquetChunks(path):
        pass
    schema = pa.schema([("customer_id", pa.string()), ("churn_f", pa.float64())])
    with ParquetChunks(path, schema):
        pass  # nobody scored: an empty file of the schema
    assert pd.read_parquet(path).columns.tolist() == ["customer_id", "churn_f"] and len(pd.read_parquet(path)) == 0
