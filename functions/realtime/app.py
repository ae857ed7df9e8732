"""Realtime predictions: API Gateway HTTP API (payload 2.0) -> this Lambda function.

A thin powertools event handler over :mod:`predictor.request_parsing` and
:mod:`predictor.scoring`. The settings, the S3 client and the model are created on the
first invocation and kept for the life of the container (:mod:`predictor.runtime`); the
alias is re-checked at most every ``ALIAS_RECHECK_SECONDS``. The service name and the
metrics namespace come from the template (``POWERTOOLS_SERVICE_NAME``,
``POWERTOOLS_METRICS_NAMESPACE``). No tracing SDK is imported: Lambda's own segments
(``Tracing: Active``) show each invocation, and inference time is the
``InferenceLatency`` metric; the X-Ray SDK would cost about 0.2 s of every cold start.

Routes: ``POST /predict``, ``GET /model``, ``GET /health``, ``GET /openapi.json``.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext

from predictor import errors
from predictor.registry import LoadedModel
from predictor.request_parsing import ParsedRequest, body_bytes, parse_request
from predictor.runtime import Container
from predictor.scoring import ScoringResult, public_manifest, score_rows
from realtime.emf import PredictionMetricsLine
from realtime.openapi import OPENAPI_DOCUMENT

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver()
container = Container()
container.register_snapshot_hooks()  # SnapStart: warm before the snapshot, refresh after

JSON = "application/json"


def current_model() -> LoadedModel:
    """The model this container serves now (loaded or swapped as the cache decides)."""
    try:
        model = container.get().models.get()
    except Exception as exc:
        logger.exception("no model can be served")
        raise errors.ModelUnavailableError("no model is available to serve") from exc
    logger.append_keys(model_version=model.version)
    return model


def _model_headers(model: LoadedModel | None) -> dict[str, str]:
    if model is None:
        return {}
    return {"X-Model-Name": model.name, "X-Model-Version": model.version}


def _loaded_model() -> LoadedModel | None:
    """The model loaded now, without trying to load one."""
    runtime = container.loaded
    return runtime.models.current if runtime is not None else None


def _json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json.dumps(body), headers=headers)


def _count_error(kind: str) -> None:
    with single_metric(
        name="Errors", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="service", value=str(metrics.service))
        metric.add_dimension(name="ErrorType", value=kind)


def _error_body(kind: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, "details": details or []}}


def _error(status: int, kind: str, message: str, details: list[Any] | None = None) -> Response[str]:
    _count_error(kind)
    return _json(status, _error_body(kind, message, details), _model_headers(_loaded_model()))


@app.post("/predict")
def predict() -> Response[str]:
    """Score the rows of a JSON (instances / dataframe_split) or CSV body."""
    settings = container.get().settings
    event = app.current_event
    request = parse_request(
        body_bytes(event.body, bool(event.is_base64_encoded), settings.max_request_bytes),
        event.headers.get("content-type"),
        settings.max_request_rows,
        settings.max_request_bytes,
    )
    model = current_model()
    result, elapsed_ms = _timed_score(model, request)
    metrics.add_dimension(name="ModelVersion", value=model.version)
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Rows", unit=MetricUnit.Count, value=request.n_rows)
    metrics.add_metric(name="InferenceLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    return _json(200, result.to_dict(), _model_headers(model))


def _timed_score(model: LoadedModel, request: ParsedRequest) -> tuple[ScoringResult, float]:
    """Score ``request`` and the milliseconds it took (the InferenceLatency metric)."""
    started = time.perf_counter()
    result = score_rows(model, request)
    return result, (time.perf_counter() - started) * 1000


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


@app.exception_handler(errors.RequestError)
def client_error(exc: errors.RequestError) -> Response[str]:
    """Client mistakes: 400/413/415/422 with the offending field and row."""
    logger.info("request refused", extra={"error_type": exc.type, "status": exc.status})
    return _error(exc.status, exc.type, exc.message, exc.details)


@app.exception_handler(errors.ModelUnavailableError)
def model_unavailable(exc: errors.ModelUnavailableError) -> Response[str]:
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


def _misconfigured() -> dict[str, Any]:
    """Every route's answer while the settings are invalid (the log line says which)."""
    _count_error("configuration_error")
    body = _error_body("configuration_error", "the function is misconfigured; see its log")
    return {
        "statusCode": 503,
        "headers": {"Content-Type": JSON},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def _routed(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Every request the lean path does not answer: routes, refusals, errors, cold start."""
    global _routed_once
    _routed_once = True
    try:
        container.get()
    except errors.ConfigError:
        return _misconfigured()
    return dict(app.resolve(event, context))


#: Bodies the lean path takes: the router's 0.1 ms matters for small requests, while a
#: large one is dominated by parsing, and a refused one is parsed again when routed.
LEAN_MAX_BODY_CHARS = 64 * 1024
#: The first invocation (with its cold-start metric) is always routed.
_routed_once = False


@functools.cache
def _metrics_line() -> PredictionMetricsLine | None:
    """The lean path's metrics line; None while POWERTOOLS_METRICS_DISABLED turns it off."""
    if is_metrics_disabled():
        return None
    return PredictionMetricsLine(metrics.namespace, metrics.service)


def _predict_lean(event: dict[str, Any]) -> dict[str, Any] | None:
    """A warm ``POST /predict`` that scores, without the router or the metrics objects.

    The answer is the one the routed path gives (same status, headers and body), and
    the metrics line is the same EMF document (:mod:`realtime.emf`). Anything else (a
    refusal, a failure, a large body) returns None, and the routed path answers
    it, with its logs and metrics.
    """
    runtime = container.loaded
    body = event.get("body") or ""
    if runtime is None or not _routed_once or len(body) > LEAN_MAX_BODY_CHARS:
        return None
    settings = runtime.settings
    model = runtime.models.get()
    try:
        request = parse_request(
            body_bytes(body, bool(event.get("isBase64Encoded")), settings.max_request_bytes),
            (event.get("headers") or {}).get("content-type"),
            settings.max_request_rows,
            settings.max_request_bytes,
        )
        result, elapsed_ms = _timed_score(model, request)
    except errors.RequestError:
        return None
    metrics_line = _metrics_line()
    if metrics_line is not None:
        print(metrics_line.line(model.version, request.n_rows, elapsed_ms), flush=False)
    return {
        "statusCode": 200,
        "body": json.dumps(result.to_dict()),
        "isBase64Encoded": False,
        "headers": {**_model_headers(model), "Content-Type": JSON},
        "cookies": [],
    }


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: warm predictions take the lean path, everything else is routed."""
    http = event.get("requestContext", {}).get("http", {})
    if event.get("rawPath") == "/predict" and http.get("method") == "POST":
        try:
            answer = _predict_lean(event)
        except Exception:  # the routed path will meet it again, and log and count it
            answer = None
        if answer is not None:
            return answer
    return dict(_routed(event, context))
