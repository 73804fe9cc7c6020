"""Errors a user can act on. The CLI prints them without a traceback and exits non-zero."""


def said(exc: BaseException, limit: int = 200) -> str:
    """What a library's exception said, for an error message of ours: its type and its first non-empty
    line (libraries add pages of hints and context below it)."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:limit]}" if first else type(exc).__name__


class ChurnError(Exception):
    """Base class: the message says what went wrong and what to do."""

    exit_code = 1


class ConfigError(ChurnError):
    """params.yaml or a --set override is invalid."""

    exit_code = 2


class DataError(ChurnError):
    """Input data breaks the data contract."""

    exit_code = 3


class ModelError(ChurnError):
    """A model cannot be used with this data (feature mismatch, missing registry entry)."""

    exit_code = 4


class StoreError(ChurnError):
    """The MLflow tracking store or the Optuna study store cannot be opened."""

    exit_code = 5


class OutputError(ChurnError):
    """An output cannot be written (a read-only or missing folder, a full disk); the previous outputs are intact."""

    exit_code = 6
