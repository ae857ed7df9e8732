"""MLflow's and SageMaker's protocol: ``POST /invocations`` (``GET /ping`` is the health check).

The bodies of MLflow's scoring server and SageMaker's content conventions (the same
bodies as :mod:`predictor.protocols.own`); the model named by ``X-Model-Name`` or
SageMaker's ``X-Amzn-SageMaker-Target-Model``, else the function's own. Answers:
``{"predictions": [...]}`` (or CSV / JSON Lines by ``Accept``). Errors carry MLflow's
``error_code`` and ``message`` beside this API's own ``error`` object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predictor import errors
from predictor.models.registry import LoadedModel
from predictor.protocols.own import error_document, read_rows
from predictor.rows import ParsedRequest
from predictor.serving.formats import ResponseFormat
from predictor.serving.messages import HttpRequest, Rendered
from predictor.serving.scoring import ScoringResult
from predictor.settings import Settings
from predictor.values import shortened

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


class MlflowCodec:
    """``/invocations``."""

    def model_ref(
        self, request: HttpRequest, params: Mapping[str, str]
    ) -> tuple[str | None, str | None]:
        return invocations_model_name(request.headers), None

    def parse(
        self, request: HttpRequest, model: LoadedModel, settings: Settings
    ) -> tuple[ParsedRequest, ResponseFormat]:
        return read_rows(request, model, settings)

    def render(self, result: ScoringResult, context: ResponseFormat) -> Rendered:
        body, content_type = result.render(context, result.to_mlflow_dict())
        return Rendered(body, content_type)

    def error_body(
        self, status: int, kind: str, message: str, details: list[Any]
    ) -> dict[str, Any]:
        code = MLFLOW_ERROR_CODES.get(status, "BAD_REQUEST")
        return {
            "error_code": code,
            "message": message,
            **error_document(status, kind, message, details),
        }


#: MLflow's and SageMaker's protocol.
MLFLOW = MlflowCodec()
