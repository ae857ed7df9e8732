"""The Open Inference Protocol's routes (KServe V2, Triton's HTTP API)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from predictor.protocols.open_inference.answers import model_metadata, server_metadata
from realtime import operations as op
from realtime.context import current_model, json_response, model_json, register_scoring
from realtime.openapi import API_VERSION
from realtime.routes import route
from realtime.routes.scoring import SCORING

router = Router()  # type: ignore[no-untyped-call]


@route(router, "GET", "/v2", op.get(
    "v2ServerMetadata", "Server metadata", op.ref("V2Server"), [], {}, headers=False
))  # fmt: skip
def v2_server() -> Response[str]:
    """Server metadata."""
    return json_response(200, server_metadata(API_VERSION))


@route(router, "GET", "/v2/health/live", op.get(
    "v2Live", "The server is live", {"type": "object"}, [], {}, headers=False
))  # fmt: skip
def v2_live() -> Response[str]:
    """The function runs."""
    return json_response(200, {"live": True})


@route(router, "GET", "/v2/health/ready", op.get(
    "v2Ready", "The default model is loaded", op.READY, [], op.V2_NOT_SERVED, headers=False
))  # fmt: skip
def v2_ready() -> Response[str]:
    """Ready when the default model is loaded (or loads now)."""
    current_model()
    return json_response(200, {"ready": True})


@route(router, "GET", "/v2/models/{name}", op.get(
    "v2ModelMetadata", "A model's tensors", op.ref("V2ModelMetadata"), [op.NAME],
    op.V2_NOT_SERVED,
))  # fmt: skip
def v2_model(name: str) -> Response[str]:
    """A model's metadata at the function's alias."""
    model = current_model(name)
    return model_json(model, model_metadata(model))


@route(router, "GET", "/v2/models/{name}/versions/{version}", op.get(
    "v2ModelVersionMetadata", "A version's tensors", op.ref("V2ModelMetadata"),
    [op.NAME, op.VERSION], op.V2_NOT_SERVED,
))  # fmt: skip
def v2_model_version(name: str, version: str) -> Response[str]:
    """A model's metadata at one registry version."""
    model = current_model(name, version)
    return model_json(model, model_metadata(model))


@route(router, "GET", "/v2/models/{name}/ready", op.get(
    "v2ModelReady", "The model loads", op.READY, [op.NAME], op.V2_NOT_SERVED
))  # fmt: skip
def v2_model_ready(name: str) -> Response[str]:
    """200 when the model loads; 404 when it is not served, 503 when it cannot load."""
    model = current_model(name)
    return model_json(model, {"name": model.name, "ready": True})


@route(router, "GET", "/v2/models/{name}/versions/{version}/ready", op.get(
    "v2ModelVersionReady", "The version loads", op.READY, [op.NAME, op.VERSION],
    op.V2_NOT_SERVED,
))  # fmt: skip
def v2_model_version_ready(name: str, version: str) -> Response[str]:
    """200 when that version loads."""
    model = current_model(name, version)
    return model_json(model, {"name": model.name, "ready": True})


register_scoring(router, SCORING["v2"])
