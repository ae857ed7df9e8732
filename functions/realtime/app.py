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

import base64
import binascii
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
from predictor.request_parsing import parse_request
from predictor.runtime import Container
from predictor.scoring import public_manifest, score_rows
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


def _request_body(max_bytes: int) -> bytes:
    event = app.current_event
    raw = event.body or ""
    if not event.is_base64_encoded:
        return raw.encode("utf-8")
    # Base64 inflates by 4/3: refuse what could not fit before decoding it.
    if len(raw) > max_bytes * 4 // 3 + 4:
        raise errors.PayloadTooLargeError(f"request body exceeds the limit of {max_bytes} bytes")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.MalformedRequestError(f"body is marked base64 but is not: {exc}") from exc


@app.post("/predict")
def predict() -> Response[str]:
    """Score the rows of a JSON (instances / dataframe_split) or CSV body."""
    settings = container.get().settings
    request = parse_request(
        _request_body(settings.max_request_bytes),
        app.current_event.headers.get("content-type"),
        settings.max_request_rows,
        settings.max_request_bytes,
    )
    model = current_model()
    started = time.perf_counter()
    result = score_rows(model, request)
    elapsed_ms = (time.perf_counter() - started) * 1000
    metrics.add_dimension(name="ModelVersion", value=model.version)
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Rows", unit=MetricUnit.Count, value=request.n_rows)
    metrics.add_metric(name="InferenceLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    return _json(200, result.to_dict(), _model_headers(model))


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
    _LEAN_METRICS.routed_once = True
    try:
        container.get()
    except errors.ConfigError:
        return _misconfigured()
    return dict(app.resolve(event, context))


#: Bodies the lean path takes: the router's 0.1 ms matters for small requests, while a
#: large one is dominated by parsing, and a refused one is parsed again when routed.
LEAN_MAX_BODY_CHARS = 64 * 1024


def _predict_lean(event: dict[str, Any]) -> dict[str, Any] | None:
    """A warm ``POST /predict`` that scores, without the router or the metrics objects.

    The answer is the one the routed path gives (same status, headers and body), and
    the metrics line is the same EMF document, written in one print. Anything else (a
    refusal, a failure, a base64 body) returns None, and the routed path answers it, with
    its logs and metrics.
    """
    runtime = container.loaded
    body = event.get("body") or ""
    if (
        runtime is None
        or not _LEAN_METRICS.routed_once
        or event.get("isBase64Encoded")
        or len(body) > LEAN_MAX_BODY_CHARS
    ):
        return None
    model = runtime.models.get()
    settings = runtime.settings
    try:
        request = parse_request(
            body.encode(),
            (event.get("headers") or {}).get("content-type"),
            settings.max_request_rows,
            settings.max_request_bytes,
        )
        started = time.perf_counter()
        result = score_rows(model, request)
    except errors.RequestError:
        return None
    elapsed_ms = (time.perf_counter() - started) * 1000
    if _LEAN_METRICS.enabled:
        print(_LEAN_METRICS.line(model.version, request.n_rows, elapsed_ms), flush=False)
    return {
        "statusCode": 200,
        "body": json.dumps(result.to_dict()),
        "isBase64Encoded": False,
        "headers": {**_model_headers(model), "Content-Type": JSON},
        "cookies": [],
    }


class _LeanMetrics:
    """The EMF line of a scored request, its fixed part built once per model version."""

    def __init__(self) -> None:
        self._templates: dict[str, str] = {}
        self._enabled: bool | None = None  # read from the environment on first use
        self.routed_once = False  # the first invocation (and its cold-start metric) is routed

    @property
    def enabled(self) -> bool:
        """Whether metrics are on (POWERTOOLS_METRICS_DISABLED, as powertools reads it)."""
        if self._enabled is None:
            self._enabled = not is_metrics_disabled()
        return self._enabled

    def line(self, version: str, rows: int, elapsed_ms: float) -> str:
        template = self._templates.get(version)
        if template is None:
            template = self._templates[version] = self._template(version)
        return template % (int(time.time() * 1000), float(rows), elapsed_ms)

    @staticmethod
    def _template(version: str) -> str:
        names = [("Predictions", "Count"), ("Rows", "Count"), ("InferenceLatency", "Milliseconds")]
        head = {
            "Namespace": metrics.namespace,
            "Dimensions": [["ModelVersion", "service"]],
            "Metrics": [{"Name": name, "Unit": unit} for name, unit in names],
        }
        dimensions = json.dumps({"ModelVersion": version, "service": metrics.service})[1:-1]
        prefix = '{"_aws":{"Timestamp":%d,"CloudWatchMetrics":' + json.dumps([head]).replace(
            "%", "%%"
        )
        return (
            prefix
            + "},"
            + dimensions.replace("%", "%%")
            + ',"Predictions":[1.0],"Rows":[%r],"InferenceLatency":[%r]}'
        )


_LEAN_METRICS = _LeanMetrics()


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: warm predictions take the lean path, everything else is routed."""
    if event.get("rawPath") == "/predict" and _method(event) == "POST":
        try:
            answer = _predict_lean(event)
        except Exception:  # the routed path will meet it again, and log and count it
            answer = None
        if answer is not None:
            return answer
    return dict(_routed(event, context))


def _method(event: dict[str, Any]) -> str:
    return str(event.get("requestContext", {}).get("http", {}).get("method", ""))
