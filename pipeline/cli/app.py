"""The ``churn`` app with every command registered: data, training, scoring and outcomes commands."""

from pipeline.cli import data, training, scoring, outcomes  # noqa: F401, I001  (each registers its commands, in this order)
from pipeline.cli.common import app, main

__all__ = ["app", "main"]
