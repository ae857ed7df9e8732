"""The one realtime pipeline: model -> parse -> validate and score -> render -> capture.

Transport-free, as MLflow's scoring server keeps ``invocations()``: a route of any
protocol hands :func:`serve` a request and its :class:`Codec`, the protocol's only part.
A codec says which model a request names, turns its body into rows and context, and
renders the scored rows and its errors in the protocol's shape; everything else (the
model's lookup, the one validator, inference, the metric's timing, capture for
monitoring) is this module's, once. A fourth protocol is a new codec module.
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Mapping
from typing import Any, Protocol

from predictor import errors
from predictor.models.registry import LoadedModel
from predictor.monitoring.exchange import Exchange
from predictor.rows import ParsedRequest, new_inference_id
from predictor.runtime import Runtime
from predictor.serving.messages import (
    Answer,
    HttpRequest,
    Rendered,
    inference_id_of,
)
from predictor.serving.scoring import ScoringResult, score_rows
from predictor.settings import Settings


class Codec(Protocol):
    """One protocol's wire format over the pipeline."""

    def model_ref(
        self, request: HttpRequest, params: Mapping[str, str]
    ) -> tuple[str | None, str | None]:
        """(model name, version) the request asks for; None, None: the default model."""
        ...

    def parse(
        self, request: HttpRequest, model: LoadedModel, settings: Settings
    ) -> tuple[ParsedRequest, Any]:
        """The request's rows, and what :meth:`render` needs of the request (RequestError
        for a client's mistake)."""
        ...

    def render(self, result: ScoringResult, context: Any) -> Rendered:
        """The answer to scored rows, in the protocol's shape."""
        ...

    def error_body(
        self, status: int, kind: str, message: str, details: list[Any]
    ) -> dict[str, Any]:
        """An error document in the protocol's shape."""
        ...


def model_for(runtime: Runtime, name: str | None = None, version: str | None = None) -> LoadedModel:
    """The model a request is served by: the default one, or ``name`` (at ``version``).

    A name or version the function does not serve is a 404; the default model missing,
    or any model failing to load, is a 503 (the failure is logged where it is answered).
    """
    try:
        return runtime.models.get(name, version)
    except errors.UnknownModelError as exc:
        if name is None:  # the function's own model is missing: it cannot serve at all
            raise errors.ModelUnavailableError("no model is available to serve") from exc
        raise
    except Exception as exc:
        raise errors.ModelUnavailableError(
            f"model {name!r} cannot be loaded now" if name else "no model is available to serve"
        ) from exc


def serve(
    runtime: Runtime,
    codec: Codec,
    request: HttpRequest,
    params: Mapping[str, str] | None = None,
    *,
    count_refusals: bool = True,
) -> Answer:
    """Score a request with the model it names and answer it in its protocol.

    Rows the schema refuses are counted for monitoring when ``count_refusals`` is set
    (the lean warm path leaves a refusal to the routed path, which meets it again).
    """
    name, version = codec.model_ref(request, params or {})
    given = inference_id_of(request)
    model = model_for(runtime, name, version)
    rows, context = codec.parse(request, model, runtime.settings)
    inference_id = given or rows.inference_id or new_inference_id()
    started = time.perf_counter()
    try:
        result = score_rows(model, rows, inference_id)
    except errors.SchemaViolationError as exc:
        if count_refusals and runtime.capture is not None:
            runtime.capture.refused(model, exc.refused_rows, exc.refused_columns)
        raise
    elapsed_ms = (time.perf_counter() - started) * 1000
    rendered = codec.render(result, context)
    answer = Answer(
        rendered.body,
        rendered.content_type,
        model,
        rows.n_rows,
        elapsed_ms,
        rendered.headers,
        inference_id,
    )
    _capture(runtime, codec, request, result, answer)
    return answer


def _capture(
    runtime: Runtime, codec: Codec, request: HttpRequest, result: ScoringResult, answer: Answer
) -> None:
    """Note the scored rows for monitoring (and the exchange, if it is sampled).

    Capture may keep a small request as it came and parse it again later, off the
    request's path: it gets the codec's own parse for that.
    """
    capture = runtime.capture
    if capture is None:
        return
    # The exchange is built only for a sampled request (no closure when none is).
    sample = (lambda: _exchange(request, answer)) if capture.sample_percent else None
    parse_again = functools.partial(_rows_again, codec, request, answer.model, runtime.settings)
    capture.record(
        answer.model,
        result.features,
        result.values,
        sample,
        parse_again,
        result.inference_id,
        result.probability_values,
    )


def _rows_again(
    codec: Codec, request: HttpRequest, model: LoadedModel, settings: Settings
) -> ParsedRequest:
    rows, _ = codec.parse(request, model, settings)
    return rows


def _exchange(request: HttpRequest, answer: Answer) -> Exchange:
    body: str | bytes = request.body
    if request.base64_encoded:
        body = base64.b64decode(request.body)
    return Exchange(request.headers.get("content-type", ""), body, answer.content_type, answer.body)
