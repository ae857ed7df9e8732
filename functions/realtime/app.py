"""Realtime predictions: API Gateway HTTP API (payload 2.0) -> this Lambda function.

A scoring request (the routes of :mod:`realtime.routes.scoring`, this API's own, MLflow's
and SageMaker's ``/invocations``, the Open Inference Protocol) that succeeds takes the
lean path: its route from the scoring table, the one pipeline
(:func:`predictor.serving.pipeline.serve`) with its protocol's codec, and the metrics
line powertools would write (:mod:`realtime.emf`), all without powertools' router or
metrics objects. Everything else (other routes, refusals, failures, large bodies) is
answered by powertools' resolver (:mod:`realtime.routed`), imported when first needed,
and meets the same pipeline and route table.

So a cold start's first prediction imports neither powertools nor botocore: the
settings, the S3 client (a signed GET until boto3 is needed) and the model are created
on the first invocation and kept for the life of the container (:mod:`predictor.runtime`);
an alias is re-checked at most every ``ALIAS_RECHECK_SECONDS``. No tracing SDK is
imported: Lambda's own segments (``Tracing: Active``) show each invocation, and
inference time is the ``InferenceLatency`` metric.
"""

from __future__ import annotations

import base64
import functools
import logging
import os
from typing import Any

from predictor import errors
from predictor.runtime import Runtime
from predictor.serving.messages import Answer, HttpRequest
from predictor.serving.pipeline import serve
from realtime.container import container
from realtime.emf import PredictionMetricsLine, cold_start_line, metrics_disabled, metrics_target
from realtime.routes.scoring import scoring_route_of

#: Bodies the lean path takes: the router's 0.1 ms matters for small requests, while a
#: large one is dominated by parsing, and a refused one is parsed again when routed.
LEAN_MAX_BODY_CHARS = 64 * 1024
#: Whether this container has answered an invocation yet (the ColdStart metric).
_cold = True

logger = logging.getLogger(__name__)


def _import_routed() -> None:
    """Before a SnapStart snapshot: the whole handler imported, so no restore pays for it."""
    import realtime.routed  # noqa: F401


def _capture_failed(what: str) -> None:
    """A capture failure (logged where it happened): the CaptureErrors metric."""
    from realtime.routed import count

    count("CaptureErrors")


container.register_snapshot_hooks(_import_routed)  # SnapStart: warm before, refresh after
container.on_capture_failure = _capture_failed


@functools.cache
def _metrics_line() -> PredictionMetricsLine | None:
    """The lean path's metrics line; None while powertools' variables turn metrics off."""
    if metrics_disabled():
        return None
    return PredictionMetricsLine(*metrics_target())


def _count_cold_start(context: Any) -> None:
    """The ColdStart metric of a container's first invocation, as powertools counts it:
    none under provisioned concurrency; ``POWERTOOLS_METRICS_FUNCTION_NAME`` first."""
    global _cold
    if not _cold:
        return
    _cold = False
    if metrics_disabled() or os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == (
        "provisioned-concurrency"
    ):
        return
    namespace, service = metrics_target()
    function_name = os.environ.get("POWERTOOLS_METRICS_FUNCTION_NAME") or str(
        getattr(context, "function_name", "") or ""
    )
    print(cold_start_line(namespace, service, function_name), flush=False)


def _lean_answer(runtime: Runtime, path: str, request: HttpRequest) -> Answer | None:
    """The scoring route's answer from the scoring table (a refusal is left to the routed
    path, which answers and counts it)."""
    found = scoring_route_of("POST", path)
    if found is None:
        return None
    route, params = found
    assert route.codec is not None
    return serve(runtime, route.codec, request, params, count_refusals=False)


def _predict_lean(event: dict[str, Any]) -> dict[str, Any] | None:
    """A scoring request that succeeds, without the router or the metrics objects.

    The answer is the one the routed path gives (same status, headers and body), and
    the metrics line is the same EMF document (:mod:`realtime.emf`). Anything else (a
    refusal, a failure, a misconfiguration, a large body, another route) returns None,
    and the routed path answers it, with its logs and metrics.
    """
    body = event.get("body") or ""
    if len(body) > LEAN_MAX_BODY_CHARS:
        return None
    try:
        runtime = container.get()
        answer = _lean_answer(runtime, str(event.get("rawPath")), HttpRequest.from_event(event))
    except (errors.RequestError, errors.ConfigError):
        return None
    except errors.ModelUnavailableError as exc:  # the routed answer meets it again, untraced
        logger.warning("the model could not be loaded", exc_info=exc)
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


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: predictions take the lean path, everything else is routed."""
    cold = _cold
    _count_cold_start(context)
    if event.get("requestContext", {}).get("http", {}).get("method") == "POST":
        try:
            answer = _predict_lean(event)
        except Exception:  # the routed path will meet it again, and log and count it
            answer = None
        if answer is not None:
            return answer
    from realtime import routed

    return dict(routed.handle(event, context, first=cold))
