"""The lowest layer: typed configuration, errors, table schemas, run records and small shared helpers."""
