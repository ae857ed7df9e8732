"""Realtime predictions: API Gateway HTTP API (payload 2.0) -> this Lambda function.

The entry point only wires: the route groups (:mod:`realtime.routes`: this API's own,
the try-it page, MLflow's and SageMaker's ``/invocations``, the Open Inference Protocol),
the error handlers (each error in the shape of the protocol of the route it met), and
the warm path. Every scoring route is the one pipeline
(:func:`predictor.serving.pipeline.serve`) with its protocol's codec.

The settings, the S3 client and the models are created on the first invocation and
kept for the life of the container (:mod:`predictor.runtime`); an alias is re-checked at
most every ``ALIAS_RECHECK_SECONDS``. No tracing SDK is imported: Lambda's own segments
(``Tracing: Active``) show each invocation, and inference time is the
``InferenceLatency`` metric; the X-Ray SDK would cost about 0.2 s of every cold start.

A warm scoring request that succeeds takes a lean path past powertools' router and
metrics objects: it finds its route in the same route table, runs the same pipeline,
and prints the same metrics line (:mod:`realtime.emf`); anything else is routed.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext

from predictor import errors
from predictor.models.registry import LoadedModel
from predictor.protocols.mlflow import invocations_model_name
from predictor.protocols.open_inference.codec import OPEN_INFERENCE
from predictor.protocols.own import OWN
from predictor.runtime import Runtime
from predictor.serving.messages import Answer, HttpRequest, model_headers
from predictor.serving.pipeline import serve
from realtime import routes
from realtime.context import JSON, container, json_response, logger, metrics
from realtime.emf import PredictionMetricsLine
from realtime.routes import api, mlflow, page, v2

app = APIGatewayHttpResolver()
for group in (api.router, page.router, mlflow.router, v2.router):
    app.include_router(group)
container.register_snapshot_hooks()  # SnapStart: warm before the snapshot, refresh after


def _loaded_model() -> LoadedModel | None:
    """The default model loaded now, without trying to load one."""
    runtime = container.loaded
    return runtime.models.current if runtime is not None else None


def _count(metric_name: str, **dimensions: str) -> None:
    """One count of ``metric_name`` by service (and ``dimensions``), in its own EMF line."""
    if is_metrics_disabled():
        return
    with single_metric(
        name=metric_name, unit=MetricUnit.Count, value=1, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="service", value=str(metrics.service))
        for name, value in dimensions.items():
            metric.add_dimension(name=name, value=value)


def _count_error(kind: str) -> None:
    _count("Errors", ErrorType=kind)


def _capture_failed(what: str) -> None:
    """A capture failure (logged where it happened): the CaptureErrors metric."""
    _count("CaptureErrors")


container.on_capture_failure = _capture_failed

#: Routes that serve the function's own model (an error there names it in its headers).
DEFAULT_MODEL_ROUTES = frozenset(
    {"/", "/predict", "/model", "/health", "/ping", "/v2/health/ready"}
)


def _asks_for_default_model(headers: Any) -> bool:
    try:
        return invocations_model_name(headers) is None
    except errors.RequestError:  # a header that names no model: no model answered
        return False


def _error(status: int, kind: str, message: str, details: list[Any] | None = None) -> Response[str]:
    """An error in the shape of the protocol of the route it met (this API's own else)."""
    _count_error(kind)
    event = app.current_event
    method = event.http_method if event is not None else "GET"
    path = event.path if event is not None else ""
    found = routes.find(method, path) or routes.find("POST", path) or routes.find("GET", path)
    codec = found[0].codec if found is not None and found[0].codec is not None else None
    if codec is None and path.startswith("/v2"):
        codec = OPEN_INFERENCE
    body = (codec or OWN).error_body(status, kind, message, details or [])
    default_route = path in DEFAULT_MODEL_ROUTES or (
        path == "/invocations" and _asks_for_default_model(event.headers)
    )
    # The default model's headers, only where the default model is the one asked for.
    return json_response(status, body, model_headers(_loaded_model()) if default_route else None)


@app.exception_handler(errors.RequestError)
def client_error(exc: errors.RequestError) -> Response[str]:
    """Client mistakes: 400/404/406/413/415/422 with the offending field and row."""
    logger.info("request refused", extra={"error_type": exc.type, "status": exc.status})
    return _error(exc.status, exc.type, exc.message, exc.details)


@app.exception_handler(errors.ModelUnavailableError)
def model_unavailable(exc: errors.ModelUnavailableError) -> Response[str]:
    """503 while no model can be served (the cause logged with its traceback)."""
    logger.error("no model can be served: %s", exc, exc_info=exc.__cause__ or exc)
    return _error(503, "model_unavailable", str(exc))


@app.exception_handler(errors.ReportUnavailableError)
def report_unavailable(exc: errors.ReportUnavailableError) -> Response[str]:
    """503 for a stored report that cannot be served as it is (the cause logged)."""
    logger.error("report unavailable: %s", exc, exc_info=exc.__cause__ or exc)
    return _error(503, "report_unavailable", str(exc))


@app.not_found
def not_found(exc: Exception) -> Response[str]:
    """Unknown routes and methods get the same JSON error shape."""
    return _error(404, "not_found", "no such route: see GET /openapi.json")


@app.exception_handler(Exception)
def server_error(exc: Exception) -> Response[str]:
    """Our own failures: logged with the traceback, answered without it."""
    logger.exception("unhandled error")
    return _error(500, "internal_error", "internal error; the request id is in the logs")


def _misconfigured(path: str) -> dict[str, Any]:
    """Every route's answer while the settings are invalid (the log line says which)."""
    _count_error("configuration_error")
    message = "the function is misconfigured; see its log"
    found = routes.find("POST", path) or routes.find("GET", path)
    codec = found[0].codec if found is not None and found[0].codec is not None else OWN
    if path.startswith("/v2"):
        codec = OPEN_INFERENCE
    body = codec.error_body(503, "configuration_error", message, [])
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
        return _misconfigured(str(event.get("rawPath") or ""))
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


def _lean_answer(runtime: Runtime, path: str, request: HttpRequest) -> Answer | None:
    """The scoring route's answer from the route table (a refusal is left to the routed
    path, which answers and counts it)."""
    found = routes.scoring_route_of("POST", path)
    if found is None:
        return None
    route, params = found
    assert route.codec is not None
    return serve(runtime, route.codec, request, params, count_refusals=False)


def _predict_lean(event: dict[str, Any]) -> dict[str, Any] | None:
    """A warm scoring request that succeeds, without the router or the metrics objects.

    The answer is the one the routed path gives (same status, headers and body), and
    the metrics line is the same EMF document (:mod:`realtime.emf`). Anything else (a
    refusal, a failure, a large body, another route) returns None, and the routed path
    answers it, with its logs and metrics.
    """
    runtime = container.loaded
    body = event.get("body") or ""
    if runtime is None or not _routed_once or len(body) > LEAN_MAX_BODY_CHARS:
        return None
    try:
        answer = _lean_answer(runtime, str(event.get("rawPath")), HttpRequest.from_event(event))
    except (errors.RequestError, errors.ModelUnavailableError):
        return None
    if answer is None:
        return None
    metrics_line = _metrics_line()
    if metrics_line is not None:
        print(metrics_line.line(answer.model.version, answer.rows, answer.elapsed_ms), flush=False)
    body = answer.body
    binary = isinstance(body, bytes)
    return {
        "statusCode": 200,
        "body": base64.b64encode(body).decode() if isinstance(body, bytes) else body,
        "isBase64Encoded": binary,
        "headers": answer.all_headers(),
        "cookies": [],
    }


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: warm predictions take the lean path, everything else is routed."""
    if event.get("requestContext", {}).get("http", {}).get("method") == "POST":
        try:
            answer = _predict_lean(event)
        except Exception:  # the routed path will meet it again, and log and count it
            answer = None
        if answer is not None:
            return answer
    return dict(_routed(event, context))
