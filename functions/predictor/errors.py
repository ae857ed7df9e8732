"""Every error the core raises on purpose. Handlers map each type to one response.

Nothing parses messages: a handler decides by type alone (a client mistake is a
:class:`RequestError` with its HTTP status; a batch file that can never be scored is an
:class:`InputError`; a :class:`RetryableError` sends the message back to the queue).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


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


class ModelUnavailableError(PredictorError):
    """No model can be served (none published, alias unset, or the registry unreachable)."""


class ReportUnavailableError(PredictorError):
    """A stored report exists but cannot be served (altered since publishing, not UTF-8)."""


# ----- batch files ---------------------------------------------------------------------
class InputError(PredictorError):
    """Input that cannot be read as a table at all (not CSV/JSON, no rows, no header)."""


class MissingColumnsError(InputError):
    """Columns the model requires are absent from the input."""

    def __init__(self, columns: list[str], present: Sequence[str] = ()) -> None:
        self.columns = columns
        # A name sent with other spaces or case ("pH " for "pH") is said: it was not taken.
        # Indexed once: a request may send hundreds of thousands of names.
        wanted: dict[str, list[str]] = {}
        for column in columns:
            wanted.setdefault(column.casefold(), []).append(column)
        near: dict[str, str] = {}
        for sent in present:
            for column in wanted.get(sent.strip().casefold(), ()):
                if sent != column:
                    near.setdefault(column, sent)
        named = [f"{c} (sent as {near[c]!r})" if c in near else c for c in columns]
        super().__init__("required column(s) missing: " + ", ".join(named))


class UnservedModelError(InputError):
    """A file dropped under ``incoming/<model>/`` for a model this function does not serve."""


class RetryableError(PredictorError):
    """The object could not be scored now but may be later: let the queue retry it."""


class DeadlineError(RetryableError):
    """Too little time left before the Lambda deadline to score another chunk."""


class InProgressError(RetryableError):
    """Another invocation holds the lease on this object."""


# ----- realtime requests ---------------------------------------------------------------
class RequestError(PredictorError):
    """A client's request that cannot be served; ``status`` is its HTTP status code.

    Each kind declares its status and type where it is defined:
    ``class Gone(RequestError, status=410, type="gone")``.
    """

    status: ClassVar[int] = 400
    type: ClassVar[str] = "bad_request"

    def __init_subclass__(cls, *, status: int, type: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.status, cls.type = status, type

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class MalformedRequestError(RequestError, status=400, type="malformed_request"):
    """The body is not valid JSON/CSV of an accepted shape."""


class PayloadTooLargeError(RequestError, status=413, type="payload_too_large"):
    """More rows or bytes than the configured limits."""


class UnsupportedMediaTypeError(RequestError, status=415, type="unsupported_media_type"):
    """A content type other than JSON or CSV."""


class SchemaViolationError(RequestError, status=422, type="schema_violation"):
    """Rows or columns that do not fit the model's schema; details name row and column.

    ``refused_rows`` and ``refused_columns`` count every problem (the details list only
    the first ones): monitoring counts them.
    """

    def __init__(
        self,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        refused_rows: int = 0,
        refused_columns: Sequence[str | None] = (),
    ) -> None:
        super().__init__(message, details)
        self.refused_rows = refused_rows
        self.refused_columns = tuple(refused_columns)


class UnknownModelError(RequestError, status=404, type="model_not_found"):
    """A model (or version) this function does not serve, or the registry does not hold."""


class NotFoundError(RequestError, status=404, type="not_found"):
    """A page, asset or report that does not exist (or does not exist yet)."""


class NotAcceptableError(RequestError, status=406, type="not_acceptable"):
    """An Accept header that allows none of the response formats."""
