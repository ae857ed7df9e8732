"""Typed errors of the core. Handlers map each type to one response; nothing parses messages."""

from __future__ import annotations

from typing import Any


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


class RequestError(PredictorError):
    """A client's request that cannot be served; ``status`` is its HTTP status code."""

    status = 400
    type = "bad_request"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class MalformedRequestError(RequestError):
    """The body is not valid JSON/CSV of an accepted shape."""

    status = 400
    type = "malformed_request"


class PayloadTooLargeError(RequestError):
    """More rows or bytes than the configured limits."""

    status = 413
    type = "payload_too_large"


class UnsupportedMediaTypeError(RequestError):
    """A content type other than JSON or CSV."""

    status = 415
    type = "unsupported_media_type"


class SchemaViolationError(RequestError):
    """Rows or columns that do not fit the model's schema; details name row and column."""

    status = 422
    type = "schema_violation"
