"""This API's own protocol: ``POST /predict``, ``POST /models/{name}/predict`` (and ``POST /``).

Bodies: JSON (MLflow's scoring shapes and ``feature_array``), CSV, JSON Lines
(:mod:`predictor.protocols.bodies`). Answers: ``{"model", "predictions"[, "probabilities"]}``
as JSON, or CSV or JSON Lines as ``Accept`` asks. Errors: ``{"error": {"type", "message",
"details"}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from predictor.models.registry import LoadedModel
from predictor.protocols.bodies import parse_request
from predictor.rows import ParsedRequest
from predictor.serving.formats import ResponseFormat, negotiate
from predictor.serving.messages import HttpRequest, Rendered
from predictor.serving.scoring import ScoringResult
from predictor.settings import Settings


def path_parameter(value: str | None) -> str | None:
    """A path segment as the client meant it (a name may arrive percent-encoded)."""
    return None if value is None else unquote(value)


def read_rows(
    request: HttpRequest, model: LoadedModel, settings: Settings
) -> tuple[ParsedRequest, ResponseFormat]:
    """The answer's format (406 first, as the request's first problem), then the rows."""
    fmt = negotiate(request.headers.get("accept"))
    rows = parse_request(
        request.body_bytes(settings.max_request_bytes),
        request.headers.get("content-type"),
        settings.max_request_rows,
        settings.max_request_bytes,
        model.predictor.schema,
    )
    return rows, fmt


def error_document(status: int, kind: str, message: str, details: list[Any]) -> dict[str, Any]:
    """``{"error": {"type", "message", "details"}}``: one shape for every status."""
    return {"error": {"type": kind, "message": message, "details": details}}


class OwnCodec:
    """``/predict``: the model is the function's own, or the path's ``{name}``."""

    def __init__(self, document: Callable[[ScoringResult], dict[str, Any]]) -> None:
        self._document = document

    def model_ref(
        self, request: HttpRequest, params: Mapping[str, str]
    ) -> tuple[str | None, str | None]:
        return path_parameter(params.get("name")), None

    def parse(
        self, request: HttpRequest, model: LoadedModel, settings: Settings
    ) -> tuple[ParsedRequest, ResponseFormat]:
        return read_rows(request, model, settings)

    def render(self, result: ScoringResult, context: ResponseFormat) -> Rendered:
        body, content_type = result.render(context, self._document(result))
        return Rendered(body, content_type)

    def error_body(
        self, status: int, kind: str, message: str, details: list[Any]
    ) -> dict[str, Any]:
        return error_document(status, kind, message, details)


#: This API's own protocol.
OWN = OwnCodec(ScoringResult.to_dict)
