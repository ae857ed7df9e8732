"""What every route of the realtime function shares: its logger, metrics and container, and
the helpers that turn a model or an answer into a response (powertools' side: the lean
path of :mod:`realtime.app` needs none of it)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.metrics import MetricUnit

from predictor.models.registry import LoadedModel
from predictor.protocols.own import path_parameter
from predictor.runtime import Runtime
from predictor.serving.messages import Answer, HttpRequest, model_headers
from predictor.serving.pipeline import Codec, model_for, serve
from realtime.container import container
from realtime.routes import Route, register

logger = Logger()
metrics = Metrics()

JSON = "application/json"


def runtime() -> Runtime:
    return container.get()


def request_of(router: Router) -> HttpRequest:
    """The request the router is answering, as the pipeline reads it."""
    return HttpRequest.from_event(router.current_event.raw_event)


def current_model(name: str | None = None, version: str | None = None) -> LoadedModel:
    """The model a route serves now (loaded or swapped as the model set decides)."""
    model = model_for(runtime(), path_parameter(name), path_parameter(version))
    logger.append_keys(model_version=model.version)
    return model


def json_response(
    status: int, body: dict[str, Any] | list[Any], headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json.dumps(body), headers=headers)


def model_json(model: LoadedModel, body: dict[str, Any]) -> Response[str]:
    """A 200 about ``model``, with its headers."""
    return json_response(200, body, model_headers(model))


def scored(answer: Answer) -> Response[Any]:
    """The response of a scoring route, its metrics recorded."""
    logger.append_keys(model_version=answer.model.version)
    metrics.add_dimension(name="ModelVersion", value=answer.model.version)
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Rows", unit=MetricUnit.Count, value=answer.rows)
    metrics.add_metric(
        name="InferenceLatency", unit=MetricUnit.Milliseconds, value=answer.elapsed_ms
    )
    headers = answer.all_headers()
    return Response(
        status_code=200,
        content_type=headers.pop("Content-Type"),
        body=answer.body,
        headers=headers,
    )


def text_response(body: str, content_type: str, headers: dict[str, str]) -> Response[str]:
    return Response(status_code=200, content_type=content_type, body=body, headers=headers)


def register_scoring(router: Router, group: Iterable[Route]) -> None:
    """Register each scoring route of ``group``: the pipeline with the route's codec, the
    path's parameters passed."""
    for declared in group:
        assert declared.codec is not None, declared.key
        handle = _scoring_handler(router, declared.codec)
        handle.__name__ = declared.operation[declared.method.lower()]["operationId"]
        register(router, declared, handle)


def _scoring_handler(router: Router, codec: Codec) -> Callable[..., Any]:
    def handle(**params: str) -> Any:
        return scored(serve(runtime(), codec, request_of(router), params))

    return handle
