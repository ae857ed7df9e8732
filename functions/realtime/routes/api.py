"""This API's own routes: predictions, the models it serves, health, the OpenAPI document."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from predictor import errors
from predictor.serving.messages import model_headers
from predictor.serving.scoring import public_manifest
from realtime import openapi
from realtime import operations as op
from realtime.context import (
    current_model,
    json_response,
    logger,
    model_json,
    register_scoring,
    runtime,
)
from realtime.routes import route
from realtime.routes.scoring import SCORING

router = Router()  # type: ignore[no-untyped-call]

register_scoring(router, SCORING["api"])


@route(router, "GET", "/models", op.get(
    "listModels", "The models this function can serve, the default first",
    op.ref("ModelList"), [], op.errors("Error", "503"), headers=False,
))  # fmt: skip
def list_models() -> Response[str]:
    """The models this function serves now, the default first; the others it may serve,
    with the reason each cannot be served now."""
    try:
        listing = runtime().models.servable()
    except Exception as exc:
        logger.exception("cannot list the registry's models")
        raise errors.ModelUnavailableError("the model registry cannot be listed now") from exc
    return json_response(200, listing.to_dict())


@route(router, "GET", "/models/{name}", op.get(
    "describeNamedModel", "A served model's schema, classes, metrics and versions",
    {"type": "object"}, [op.NAME], op.errors("Error", "404", "503"),
))  # fmt: skip
def describe_named_model(name: str) -> Response[str]:
    """The public manifest of model ``name`` (at the function's alias)."""
    model = current_model(name)
    return model_json(model, public_manifest(model))


@route(router, "GET", "/model", op.get(
    "describeModel", "The served model's schema, classes, metrics and versions",
    {"type": "object"}, [], op.errors("Error", "503"),
))  # fmt: skip
def describe_model() -> Response[str]:
    """The served model's public manifest: schema, classes, metrics, library versions."""
    model = current_model()
    return model_json(model, public_manifest(model))


@route(router, "GET", "/health", op.get(
    "health", "Whether a model is loaded, and which", op.HEALTH, [],
    op.errors("Error", "503"),
))  # fmt: skip
def health() -> Response[str]:
    """200 with the loaded version, or 503 when no model can be served."""
    model = current_model()
    body = {"status": "ok", "model": {"name": model.name, "version": model.version}}
    return json_response(200, body, model_headers(model))


@route(router, "GET", "/openapi.json", op.get(
    "openapi", "This document", {"type": "object"}, [], {}, headers=False
))  # fmt: skip
def openapi_document() -> Response[str]:
    """The OpenAPI 3.1 document of this API."""
    return json_response(200, openapi.document())
