"""Every request the lean path of :mod:`realtime.app` does not answer, through powertools.

The route groups (:mod:`realtime.routes`: this API's own, the try-it page, MLflow's and
SageMaker's ``/invocations``, the Open Inference Protocol) in one resolver, and the error
handlers: each error in the shape of the protocol of the route it met. Imported on the
first request that needs it (or before a SnapStart snapshot), not by a cold start's
first prediction.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging import logger as powertools_logging
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext

from predictor import errors
from predictor.models.registry import LoadedModel
from predictor.protocols.mlflow import invocations_model_name
from predictor.protocols.open_inference.codec import OPEN_INFERENCE
from predictor.protocols.own import OWN
from predictor.serving.messages import model_headers
from realtime import routes
from realtime.container import container
from realtime.context import JSON, json_response, logger, metrics
from realtime.routes import api, mlflow, page, v2

app = APIGatewayHttpResolver()
for group in (api.router, page.router, mlflow.router, v2.router):
    app.include_router(group)


def _loaded_model() -> LoadedModel | None:
    """The default model loaded now, without trying to load one."""
    runtime = container.loaded
    return runtime.models.current if runtime is not None else None


def count(metric_name: str, **dimensions: str) -> None:
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
    count("Errors", ErrorType=kind)


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
    # The default model's headers, only where the default model is the one asked for.
    model = _default_model_asked()
    return json_response(status, body, model_headers(model) if model is not None else None)


def _default_model_asked() -> LoadedModel | None:
    """The default model, loaded, if the request being answered asked for it."""
    event = app.current_event
    if event is None:
        return None
    path = event.path
    if path in DEFAULT_MODEL_ROUTES or (
        path == "/invocations" and _asks_for_default_model(event.headers)
    ):
        return _loaded_model()
    return None


@app.exception_handler(errors.RequestError)
def client_error(exc: errors.RequestError) -> Response[str]:
    """Client mistakes: 400/404/406/413/415/422 with the offending field and row."""
    facts: dict[str, Any] = {"error_type": exc.type, "status": exc.status}
    model = _default_model_asked()
    if model is not None:  # the version that refused it (a named model's is in its answer)
        facts["model_version"] = model.version
    logger.info("request refused", extra=facts)
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


def handle(event: dict[str, Any], context: LambdaContext, *, first: bool) -> dict[str, Any]:
    """Every request the lean path does not answer: routes, refusals, errors. ``first``:
    whether it is the container's first invocation (the logs' ``cold_start`` key, which
    powertools would otherwise give the first routed one, however late)."""
    if not first:
        powertools_logging.is_cold_start = False
    return dict(_handle(event, context))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics  # the cold start is counted by realtime.app, whichever path answers
def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        container.get()
    except errors.ConfigError:
        return _misconfigured(str(event.get("rawPath") or ""))
    return dict(app.resolve(event, context))
