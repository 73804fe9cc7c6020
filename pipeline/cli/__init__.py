"""The ``churn`` command line: each command parses its options, calls its stage's ``run`` and prints."""

from pipeline.cli.app import app, main

__all__ = ["app", "main"]
