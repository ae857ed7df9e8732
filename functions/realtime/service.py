"""What every realtime route shares: the container, model lookup, scoring, answers, errors.

Each scoring route is a plain function from a :class:`HttpRequest` to an :class:`Answer`,
so the router (:mod:`realtime.app`) and the lean warm path call the very same code. The
protocols differ only in how they read the body and write the answer:

* ``/predict`` and ``/models/{name}/predict``: this API's own document;
* ``/invocations``: MLflow's scoring protocol (``{"predictions": [...]}``);
* ``/v2/models/{name}[/versions/{version}]/infer``: the Open Inference Protocol.

Errors keep one status per cause everywhere; their body follows the route's protocol
(:func:`error_body`).
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from predictor import errors
from predictor.capture import Exchange
from predictor.open_inference import error_document, infer_answer, parse_infer_request
from predictor.registry import LoadedModel
from predictor.request_parsing import ParsedRequest, body_bytes, parse_request
from predictor.response_formats import negotiate
from predictor.runtime import Container, Runtime
from predictor.scoring import ScoringResult, score_rows
from predictor.values import shortened

#: The baseline waits for the capture thread: a cold start loads the model alone.
container = Container(eager_baselines=False)

JSON = "application/json"

#: Headers that name the model of ``POST /invocations`` (ours, then SageMaker's).
MODEL_HEADER = "x-model-name"
SAGEMAKER_MODEL_HEADER = "x-amzn-sagemaker-target-model"

#: MLflow's ``error_code`` for each of our statuses (MLflow's own codes).
MLFLOW_ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    406: "BAD_REQUEST",
    413: "REQUEST_LIMIT_EXCEEDED",
    415: "BAD_REQUEST",
    422: "INVALID_PARAMETER_VALUE",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """The parts of an API Gateway (payload 2.0) or Function URL event a route reads."""

    headers: Mapping[str, str]
    body: str
    base64_encoded: bool

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> HttpRequest:
        """Headers with lower-case names, the raw body.

        API Gateway and Function URLs deliver header names in lower case; other front
        doors (`sam local start-api`) keep the client's case, so those are folded.
        """
        headers = event.get("headers") or {}
        if not all(name.islower() for name in headers):
            headers = {name.lower(): value for name, value in headers.items()}
        return cls(headers, event.get("body") or "", bool(event.get("isBase64Encoded")))

    def body_bytes(self, max_bytes: int) -> bytes:
        """The body's bytes (decoded from base64 when the event says so)."""
        return body_bytes(self.body, self.base64_encoded, max_bytes)


@dataclass(frozen=True, slots=True)
class Answer:
    """A route's successful answer, and what its metrics record."""

    body: str | bytes
    content_type: str
    model: LoadedModel
    rows: int = 0
    elapsed_ms: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    def all_headers(self) -> dict[str, str]:
        """The model's headers, the route's own, and the content type."""
        return {**model_headers(self.model), **self.headers, "Content-Type": self.content_type}


def model_headers(model: LoadedModel | None) -> dict[str, str]:
    """``X-Model-Name`` and ``X-Model-Version`` of the model that answered."""
    if model is None:
        return {}
    return {"X-Model-Name": model.name, "X-Model-Version": model.version}


def model_for(runtime: Runtime, name: str | None = None, version: str | None = None) -> LoadedModel:
    """The model a route serves: the default one, or ``name`` (at ``version``).

    A name or version the function does not serve is a 404; the default model missing,
    or any model failing to load, is a 503 (the failure is logged).
    """
    try:
        return runtime.models.get(name, version)
    except errors.UnknownModelError as exc:
        if name is None:  # the function's own model is missing: it cannot serve at all
            raise errors.ModelUnavailableError("no model is available to serve") from exc
        raise
    except Exception as exc:  # logged where it is answered (the router's 503)
        raise errors.ModelUnavailableError(
            f"model {name!r} cannot be loaded now" if name else "no model is available to serve"
        ) from exc


def _parse(runtime: Runtime, request: HttpRequest, model: LoadedModel) -> ParsedRequest:
    settings = runtime.settings
    return parse_request(
        request.body_bytes(settings.max_request_bytes),
        request.headers.get("content-type"),
        settings.max_request_rows,
        settings.max_request_bytes,
        model.predictor.schema,
    )


def _timed_score(
    runtime: Runtime, model: LoadedModel, parsed: ParsedRequest, count_refusals: bool
) -> tuple[ScoringResult, float]:
    """Score ``parsed`` and the milliseconds it took (the InferenceLatency metric).

    Rows the schema refuses are counted for monitoring when ``count_refusals`` is set
    (the lean path leaves a refusal to the routed path, which meets it again).
    """
    started = time.perf_counter()
    try:
        result = score_rows(model, parsed)
    except errors.SchemaViolationError as exc:
        if count_refusals and runtime.capture is not None:
            runtime.capture.refused(model, exc.refused_rows, exc.refused_columns)
        raise
    return result, (time.perf_counter() - started) * 1000


def _capture(
    runtime: Runtime,
    request: HttpRequest,
    result: ScoringResult,
    answer: Answer,
    parse: Callable[[Runtime, HttpRequest, LoadedModel], ParsedRequest],
) -> Answer:
    """Note the scored rows for monitoring (and the exchange, if it is sampled).

    ``parse`` is how the route read the request: capture may keep a small request as it
    came and parse it again later, off the request's path.
    """
    capture = runtime.capture
    if capture is not None:
        # The exchange is built only for a sampled request (no closure when none is).
        sample = (lambda: _exchange(request, answer)) if capture.sample_percent else None
        parse_again = functools.partial(parse, runtime, request, answer.model)
        capture.record(answer.model, result.features, result.values, sample, parse_again)
    return answer


def _exchange(request: HttpRequest, answer: Answer) -> Exchange:
    body: str | bytes = request.body
    if request.base64_encoded:
        body = base64.b64decode(request.body)
    return Exchange(request.headers.get("content-type", ""), body, answer.content_type, answer.body)


def path_parameter(value: str | None) -> str | None:
    """A path segment as the client meant it (a name may arrive percent-encoded)."""
    return None if value is None else unquote(value)


def predict(
    runtime: Runtime, request: HttpRequest, name: str | None = None, *, count_refusals: bool = True
) -> Answer:
    """``POST /predict`` and ``POST /models/{name}/predict``."""
    model = model_for(runtime, path_parameter(name))
    fmt = negotiate(request.headers.get("accept"))
    parsed = _parse(runtime, request, model)
    result, elapsed_ms = _timed_score(runtime, model, parsed, count_refusals)
    body, content_type = result.render(fmt, result.to_dict())
    answer = Answer(body, content_type, model, parsed.n_rows, elapsed_ms)
    return _capture(runtime, request, result, answer, _parse)


def invocations_model_name(headers: Mapping[str, str]) -> str | None:
    """The model ``POST /invocations`` asks for: ``X-Model-Name``, or SageMaker's target model.

    SageMaker's header holds an artifact path (``dir/name.tar.gz``): its last segment,
    without the archive suffix, is the name. Neither header: the default model. A header
    that is sent but names no model (empty, or a path ending in ``/``) is a 400, never
    the default model in its place.
    """
    name = headers.get(MODEL_HEADER)
    if name is not None:
        if not name.strip():
            raise errors.MalformedRequestError(
                "the X-Model-Name header is empty: name a model, or leave the header out "
                "for the default model"
            )
        return name.strip()
    target = headers.get(SAGEMAKER_MODEL_HEADER)
    if target is None:
        return None
    name = target.rsplit("/", 1)[-1].removesuffix(".tar.gz").strip()
    if not name:
        raise errors.MalformedRequestError(
            f"the X-Amzn-SageMaker-Target-Model header {shortened(target)!r} names no model: "
            "its last path segment is the model's name (e.g. 'wine-quality' or "
            "'models/wine-quality.tar.gz')"
        )
    return name


def invocations(runtime: Runtime, request: HttpRequest, *, count_refusals: bool = True) -> Answer:
    """``POST /invocations``: MLflow's scoring protocol, SageMaker's Accept conventions."""
    model = model_for(runtime, invocations_model_name(request.headers))
    fmt = negotiate(request.headers.get("accept"))
    parsed = _parse(runtime, request, model)
    result, elapsed_ms = _timed_score(runtime, model, parsed, count_refusals)
    body, content_type = result.render(fmt, result.to_mlflow_dict())
    answer = Answer(body, content_type, model, parsed.n_rows, elapsed_ms)
    return _capture(runtime, request, result, answer, _parse)


def _parse_infer(runtime: Runtime, request: HttpRequest, model: LoadedModel) -> ParsedRequest:
    settings = runtime.settings
    return parse_infer_request(
        request.body_bytes(settings.max_request_bytes),
        request.headers.get("inference-header-content-length"),
        model,
        settings.max_request_rows,
    ).parsed


def infer(
    runtime: Runtime,
    request: HttpRequest,
    name: str,
    version: str | None = None,
    *,
    count_refusals: bool = True,
) -> Answer:
    """``POST /v2/models/{name}[/versions/{version}]/infer``."""
    model = model_for(runtime, path_parameter(name), path_parameter(version))
    settings = runtime.settings
    infer_request = parse_infer_request(
        request.body_bytes(settings.max_request_bytes),
        request.headers.get("inference-header-content-length"),
        model,
        settings.max_request_rows,
    )
    result, elapsed_ms = _timed_score(runtime, model, infer_request.parsed, count_refusals)
    inferred = infer_answer(result, infer_request)
    headers = {}
    if inferred.json_length is not None:
        headers["Inference-Header-Content-Length"] = str(inferred.json_length)
    answer = Answer(
        inferred.body if inferred.json_length is not None else inferred.body.decode("utf-8"),
        inferred.content_type,
        model,
        infer_request.parsed.n_rows,
        elapsed_ms,
        headers,
    )
    return _capture(runtime, request, result, answer, _parse_infer)


# ----- errors --------------------------------------------------------------------------
def error_body(
    path: str, kind: str, status: int, message: str, details: list[Any] | None = None
) -> dict[str, Any]:
    """The error document of the protocol ``path`` belongs to.

    Ours everywhere: ``{"error": {"type", "message", "details"}}``; MLflow's routes add
    ``error_code`` and ``message`` beside it; the Open Inference Protocol's routes answer
    ``{"error": "<message>"}`` as its clients expect.
    """
    if path == "/v2" or path.startswith("/v2/"):
        return error_document(message, details or [])
    body: dict[str, Any] = {"error": {"type": kind, "message": message, "details": details or []}}
    if path in ("/invocations", "/ping"):
        code = MLFLOW_ERROR_CODES.get(status, "BAD_REQUEST")
        return {"error_code": code, "message": message, **body}
    return body
