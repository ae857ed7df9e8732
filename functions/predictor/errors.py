"""Typed errors of the core. Handlers map each type to one response; nothing parses messages."""

from __future__ import annotations


class PredictorError(Exception):
    """Base class of every error the core raises on purpose."""


class ConfigError(PredictorError):
    """The environment does not describe a usable configuration."""


class ModelNotFoundError(PredictorError):
    """No such model, version or alias in the registry."""


class IntegrityError(PredictorError):
    """An artifact or manifest does not match what the registry recorded for it."""


class VersionMismatchError(PredictorError):
    """The installed library versions differ from those the model was trained with."""


class InputError(PredictorError):
    """Input that cannot be read as a table at all (not CSV/JSON, no rows, no header)."""


class MissingColumnsError(InputError):
    """Columns the model requires are absent from the input."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        super().__init__("required column(s) missing: " + ", ".join(columns))
