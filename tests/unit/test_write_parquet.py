"""Parquet written in chunks reads back as the frame written whole (``pipeline.core.files.write_parquet``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.files import write_parquet


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
