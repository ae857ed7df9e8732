"""Realtime predictions: API Gateway HTTP API (payload 2.0) -> this Lambda function.

A thin powertools event handler over :mod:`predictor.scoring`. The model, the S3 client
and the settings are created on first use and kept for the life of the container; the
alias is re-checked at most every ``ALIAS_RECHECK_SECONDS``.

Routes: ``POST /predict``, ``GET /model``, ``GET /health``, ``GET /openapi.json``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from predictor.errors import (
    MalformedRequestError,
    PayloadTooLargeError,
    PredictorError,
    RequestError,
)
from predictor.model_cache import ModelCache, model_cache_for
from predictor.registry import LoadedModel
from predictor.scoring import parse_request, public_manifest, score_rows
from predictor.settings import Settings, get_settings
from realtime.openapi import OPENAPI_DOCUMENT

SERVICE = "realtime"
NAMESPACE = "ServerlessPredictor"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
app = APIGatewayHttpResolver()

JSON = "application/json"


class ModelUnavailableError(PredictorError):
    """No model can be served (none published, alias unset, or the registry unreachable)."""


_cache: ModelCache | None = None


def _model_cache() -> ModelCache:
    """The container's model cache, created (with its S3 client) on first use."""
    global _cache
    if _cache is None:
        import boto3

        _cache = model_cache_for(get_settings(), boto3.client("s3"))
    return _cache


def _loaded_model_headers() -> dict[str, str]:
    """Name and version headers when a model is loaded, without trying to load one."""
    model = _cache.current if _cache is not None else None
    return _model_headers(model) if model is not None else {}


def current_model() -> LoadedModel:
    """The model this container serves now (loaded or swapped as the cache decides)."""
    try:
        model = _model_cache().get()
    except Exception as exc:
        logger.exception("no model can be served")
        raise ModelUnavailableError("no model is available to serve") from exc
    logger.append_keys(model_version=model.version)
    return model


def _model_headers(model: LoadedModel) -> dict[str, str]:
    return {"X-Model-Name": model.name, "X-Model-Version": model.version}


def _json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json.dumps(body), headers=headers)


def _error(status: int, kind: str, message: str, details: list[Any] | None = None) -> Response[str]:
    with single_metric(
        name="Errors", unit=MetricUnit.Count, value=1, namespace=NAMESPACE
    ) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        metric.add_dimension(name="ErrorType", value=kind)
    body = {"error": {"type": kind, "message": message, "details": details or []}}
    return _json(status, body, _loaded_model_headers())


def _request_body(settings: Settings) -> bytes:
    event = app.current_event
    raw = event.body or ""
    if not event.is_base64_encoded:
        return raw.encode("utf-8")
    # Base64 inflates by 4/3: refuse what could not fit before decoding it.
    if len(raw) > settings.max_request_bytes * 4 // 3 + 4:
        raise PayloadTooLargeError(
            f"request body exceeds the limit of {settings.max_request_bytes} bytes"
        )
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedRequestError(f"body is marked base64 but is not: {exc}") from exc


@app.post("/predict")
def predict() -> Response[str]:
    """Score the rows of a JSON (instances / dataframe_split) or CSV body."""
    settings = get_settings()
    body = _request_body(settings)
    request = parse_request(
        body,
        app.current_event.headers.get("content-type"),
        settings.max_request_rows,
        settings.max_request_bytes,
    )
    model = current_model()
    started = time.perf_counter()
    with tracer.provider.in_subsegment("inference") as subsegment:
        subsegment.put_annotation("model_version", model.version)
        subsegment.put_metadata("rows", request.n_rows)
        result = score_rows(model, request)
    elapsed_ms = (time.perf_counter() - started) * 1000
    metrics.add_dimension(name="ModelVersion", value=model.version)
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Rows", unit=MetricUnit.Count, value=request.n_rows)
    metrics.add_metric(name="InferenceLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    return _json(200, result, _model_headers(model))


@app.get("/model")
def describe_model() -> Response[str]:
    """The served model's public manifest: schema, classes, metrics, library versions."""
    model = current_model()
    return _json(200, public_manifest(model), _model_headers(model))


@app.get("/health")
def health() -> Response[str]:
    """200 with the loaded version, or 503 when no model can be served."""
    model = current_model()
    body = {"status": "ok", "model": {"name": model.name, "version": model.version}}
    return _json(200, body, _model_headers(model))


@app.get("/openapi.json")
def openapi() -> Response[str]:
    """The OpenAPI 3.1 document of this API."""
    return _json(200, OPENAPI_DOCUMENT)


@app.exception_handler(RequestError)
def client_error(exc: RequestError) -> Response[str]:
    """Client mistakes: 400/413/415/422 with the offending field and row."""
    logger.info("request refused", extra={"error_type": exc.type, "status": exc.status})
    return _error(exc.status, exc.type, exc.message, exc.details)


@app.exception_handler(ModelUnavailableError)
def model_unavailable(exc: ModelUnavailableError) -> Response[str]:
    """503 while no model can be served."""
    return _error(503, "model_unavailable", str(exc))


@app.not_found
def not_found(exc: Exception) -> Response[str]:
    """Unknown routes and methods get the same JSON error shape."""
    return _error(404, "not_found", "no such route: see GET /openapi.json")


@app.exception_handler(Exception)
def server_error(exc: Exception) -> Response[str]:
    """Our own failures: logged with the traceback, answered without it."""
    logger.exception("unhandled error")
    return _error(500, "internal_error", "internal error; the request id is in the logs")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: route the API Gateway event."""
    return app.resolve(event, context)
