"""Realtime predictions: API Gateway HTTP API (payload 2.0) -> this Lambda function.

A thin powertools event handler over :mod:`predictor.request_parsing` and
:mod:`predictor.scoring`. The settings, the S3 client and the model are created on the
first invocation and kept for the life of the container (:mod:`predictor.runtime`); the
alias is re-checked at most every ``ALIAS_RECHECK_SECONDS``. The service name and the
metrics namespace come from the template (``POWERTOOLS_SERVICE_NAME``,
``POWERTOOLS_METRICS_NAMESPACE``). No tracing SDK is imported: Lambda's own segments
(``Tracing: Active``) show each invocation, and inference time is the
``InferenceLatency`` metric; the X-Ray SDK would cost about 0.2 s of every cold start.

Routes (each protocol's answers and errors in :mod:`realtime.service`):

* this API's own: ``POST /predict`` (also at ``POST /``, where the tutorials' Flask apps
  answer), ``POST /models/{name}/predict``, ``GET /models``,
  ``GET /models/{name}``, ``GET /model``, ``GET /health``, ``GET /openapi.json``;
* the try-it page (:mod:`realtime.try_page`): ``GET /``, ``GET /assets/{file}``,
  ``GET /models/{name}/card``, ``GET /models/{name}/report`` (training),
  ``GET /models/{name}/drift`` (the latest drift report);
* MLflow and SageMaker: ``POST /invocations``, ``GET /ping``;
* the Open Inference Protocol (KServe V2): ``GET /v2``, ``GET /v2/health/{live,ready}``,
  ``GET /v2/models/{name}[/versions/{version}][/ready]``, ``POST .../infer``.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext

from predictor import errors
from predictor.open_inference import model_metadata, server_metadata
from predictor.registry import LoadedModel
from predictor.runtime import Runtime
from predictor.scoring import public_manifest
from realtime import service, try_page
from realtime.emf import PredictionMetricsLine
from realtime.openapi import API_VERSION, OPENAPI_DOCUMENT
from realtime.service import JSON, Answer, HttpRequest, container, model_headers

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver()
container.register_snapshot_hooks()  # SnapStart: warm before the snapshot, refresh after


def _runtime() -> Runtime:
    return container.get()


def current_model(name: str | None = None, version: str | None = None) -> LoadedModel:
    """The model a route serves now (loaded or swapped as the model set decides)."""
    parameter = service.path_parameter
    model = service.model_for(_runtime(), parameter(name), parameter(version))
    logger.append_keys(model_version=model.version)
    return model


def _loaded_model() -> LoadedModel | None:
    """The default model loaded now, without trying to load one."""
    runtime = container.loaded
    return runtime.models.current if runtime is not None else None


def _json(
    status: int, body: dict[str, Any] | list[Any], headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json.dumps(body), headers=headers)


def _count_error(kind: str) -> None:
    if is_metrics_disabled():
        return
    with single_metric(
        name="Errors", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="service", value=str(metrics.service))
        metric.add_dimension(name="ErrorType", value=kind)


def _capture_failed(what: str) -> None:
    """A capture failure (logged where it happened): the CaptureErrors metric."""
    if is_metrics_disabled():
        return
    with single_metric(
        name="CaptureErrors", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="service", value=str(metrics.service))


container.on_capture_failure = _capture_failed


def _error(status: int, kind: str, message: str, details: list[Any] | None = None) -> Response[str]:
    _count_error(kind)
    event = app.current_event
    path = event.path if event is not None else ""
    body = service.error_body(path, kind, status, message, details)
    default_route = path in DEFAULT_MODEL_ROUTES or (
        path == "/invocations" and _asks_for_default_model(event.headers)
    )
    # The default model's headers, only where the default model is the one asked for.
    return _json(status, body, model_headers(_loaded_model()) if default_route else None)


def _asks_for_default_model(headers: dict[str, str]) -> bool:
    try:
        return service.invocations_model_name(headers) is None
    except errors.RequestError:  # a header that names no model: no model answered
        return False


#: Routes that serve the function's own model (an error there names it in its headers).
DEFAULT_MODEL_ROUTES = frozenset(
    {"/", "/predict", "/model", "/health", "/ping", "/v2/health/ready"}
)


def _scored(answer: Answer) -> Response[Any]:
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


def _request() -> HttpRequest:
    return HttpRequest.from_event(app.current_event.raw_event)


# ----- this API's own routes -------------------------------------------------------------
@app.post("/predict")
def predict() -> Response[Any]:
    """Score the rows of a JSON, JSON Lines or CSV body with the default model."""
    return _scored(service.predict(_runtime(), _request()))


@app.post("/models/<name>/predict")
def predict_with(name: str) -> Response[Any]:
    """Score with the model ``name`` (at the function's alias)."""
    return _scored(service.predict(_runtime(), _request(), name))


@app.get("/models")
def list_models() -> Response[str]:
    """The models this function serves now, the default first; the others it may serve,
    with the reason each cannot be served now."""
    runtime = _runtime()
    try:
        listing = runtime.models.servable()
    except Exception as exc:
        logger.exception("cannot list the registry's models")
        raise errors.ModelUnavailableError("the model registry cannot be listed now") from exc
    return _json(200, listing.to_dict())


@app.get("/models/<name>")
def describe_named_model(name: str) -> Response[str]:
    """The public manifest of model ``name`` (at the function's alias)."""
    model = current_model(name)
    return _json(200, public_manifest(model), model_headers(model))


@app.get("/model")
def describe_model() -> Response[str]:
    """The served model's public manifest: schema, classes, metrics, library versions."""
    model = current_model()
    return _json(200, public_manifest(model), model_headers(model))


@app.get("/health")
def health() -> Response[str]:
    """200 with the loaded version, or 503 when no model can be served."""
    model = current_model()
    body = {"status": "ok", "model": {"name": model.name, "version": model.version}}
    return _json(200, body, model_headers(model))


@app.get("/openapi.json")
def openapi() -> Response[str]:
    """The OpenAPI 3.1 document of this API."""
    return _json(200, OPENAPI_DOCUMENT)


# ----- the try-it page ----------------------------------------------------------------
def _page(body: str, content_type: str, headers: dict[str, str]) -> Response[str]:
    return Response(status_code=200, content_type=content_type, body=body, headers=headers)


@app.post("/")
def predict_at_root() -> Response[Any]:
    """``POST /predict`` at the root, where the tutorials' Flask apps answer."""
    return _scored(service.predict(_runtime(), _request()))


@app.get("/")
def try_it() -> Response[str]:
    """The try-it page: a form, a CSV upload and a model card for each served model."""
    return _page(try_page.static_text(try_page.PAGE_FILE), try_page.HTML, try_page.PAGE_HEADERS)


@app.get("/assets/<file>")
def page_asset(file: str) -> Response[str]:
    """The page's script and style sheet."""
    text, content_type = try_page.asset(file)
    return _page(text, content_type, try_page.PAGE_HEADERS)


@app.get("/models/<name>/card")
def model_card(name: str) -> Response[str]:
    """What the page shows of a model: facts, form fields, limits, report links."""
    runtime = _runtime()
    model = current_model(name)
    drift = try_page.drift_report_exists(runtime.s3, runtime.settings.capture_bucket, model.name)
    report = try_page.has_training_report(runtime.models.reader, model)
    card = try_page.model_card(model, runtime.settings, has_report=report, has_drift_report=drift)
    return _json(200, card, model_headers(model))


@app.get("/models/<name>/report")
def training_report(name: str) -> Response[str]:
    """The served version's training report (HTML)."""
    model = current_model(name)
    body = try_page.training_report(_runtime().models.reader, model)
    return _page(body, try_page.HTML, {**try_page.REPORT_HEADERS, **model_headers(model)})


@app.get("/models/<name>/drift")
def drift_report(name: str) -> Response[str]:
    """The model's latest drift report (HTML)."""
    runtime = _runtime()
    model = current_model(name)
    body = try_page.drift_report(runtime.s3, runtime.settings.capture_bucket, model.name)
    return _page(body, try_page.HTML, try_page.REPORT_HEADERS)


# ----- MLflow and SageMaker ---------------------------------------------------------------
@app.post("/invocations")
def invocations() -> Response[Any]:
    """MLflow's scoring protocol (the model from X-Model-Name, else the default)."""
    return _scored(service.invocations(_runtime(), _request()))


@app.get("/ping")
def ping() -> Response[str]:
    """MLflow's and SageMaker's health check: ``GET /health``'s answer."""
    return health()


# ----- Open Inference Protocol (KServe V2) -------------------------------------------------
@app.get("/v2")
def v2_server() -> Response[str]:
    """Server metadata."""
    return _json(200, server_metadata(API_VERSION))


@app.get("/v2/health/live")
def v2_live() -> Response[str]:
    """The function runs."""
    return _json(200, {"live": True})


@app.get("/v2/health/ready")
def v2_ready() -> Response[str]:
    """Ready when the default model is loaded (or loads now)."""
    current_model()
    return _json(200, {"ready": True})


@app.get("/v2/models/<name>")
def v2_model(name: str) -> Response[str]:
    """A model's metadata at the function's alias."""
    model = current_model(name)
    return _json(200, model_metadata(model), model_headers(model))


@app.get("/v2/models/<name>/versions/<version>")
def v2_model_version(name: str, version: str) -> Response[str]:
    """A model's metadata at one registry version."""
    model = current_model(name, version)
    return _json(200, model_metadata(model), model_headers(model))


@app.get("/v2/models/<name>/ready")
def v2_model_ready(name: str) -> Response[str]:
    """200 when the model loads; 404 when it is not served, 503 when it cannot load."""
    model = current_model(name)
    return _json(200, {"name": model.name, "ready": True}, model_headers(model))


@app.get("/v2/models/<name>/versions/<version>/ready")
def v2_model_version_ready(name: str, version: str) -> Response[str]:
    """200 when that version loads."""
    model = current_model(name, version)
    return _json(200, {"name": model.name, "ready": True}, model_headers(model))


@app.post("/v2/models/<name>/infer")
def v2_infer(name: str) -> Response[Any]:
    """Inference at the function's alias."""
    return _scored(service.infer(_runtime(), _request(), name))


@app.post("/v2/models/<name>/versions/<version>/infer")
def v2_infer_version(name: str, version: str) -> Response[Any]:
    """Inference at one registry version."""
    return _scored(service.infer(_runtime(), _request(), name, version))


# ----- errors -----------------------------------------------------------------------------
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
    body = service.error_body(path, "configuration_error", 503, message)
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

#: The scoring routes the lean path answers: path -> the service call.
_MODEL_PREDICT = re.compile(r"/models/([^/]+)/predict")
_V2_INFER = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")


@functools.cache
def _metrics_line() -> PredictionMetricsLine | None:
    """The lean path's metrics line; None while POWERTOOLS_METRICS_DISABLED turns it off."""
    if is_metrics_disabled():
        return None
    return PredictionMetricsLine(metrics.namespace, metrics.service)


def _lean_answer(runtime: Runtime, path: str, request: HttpRequest) -> Answer | None:
    # A refusal is answered (and counted for monitoring) by the routed path.
    if path in ("/predict", "/"):
        return service.predict(runtime, request, count_refusals=False)
    if path == "/invocations":
        return service.invocations(runtime, request, count_refusals=False)
    if (match := _MODEL_PREDICT.fullmatch(path)) is not None:
        return service.predict(runtime, request, match[1], count_refusals=False)
    if (match := _V2_INFER.fullmatch(path)) is not None:
        return service.infer(runtime, request, match[1], match[2], count_refusals=False)
    return None


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
