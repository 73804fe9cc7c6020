"""Rows that lie after a date, for no-leakage tests (the contract's own generator, ``pipeline.build.contracts``)."""

from pipeline.build.contracts import with_rows_after

__all__ = ["with_rows_after"]
