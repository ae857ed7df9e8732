"""The Open Inference Protocol's codec: ``POST /v2/models/{name}[/versions/{version}]/infer``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from predictor.models.registry import LoadedModel
from predictor.protocols.open_inference.answers import error_document, infer_answer
from predictor.protocols.open_inference.requests import (
    HEADER_LENGTH,
    InferRequest,
    parse_infer_request,
)
from predictor.protocols.own import path_parameter
from predictor.rows import ParsedRequest
from predictor.serving.messages import HttpRequest, Rendered, valid_inference_id
from predictor.serving.scoring import ScoringResult
from predictor.settings import Settings


class OpenInferenceCodec:
    """Tensors in, tensors out; the model and version from the path."""

    def model_ref(
        self, request: HttpRequest, params: Mapping[str, str]
    ) -> tuple[str | None, str | None]:
        return path_parameter(params.get("name")), path_parameter(params.get("version"))

    def parse(
        self, request: HttpRequest, model: LoadedModel, settings: Settings
    ) -> tuple[ParsedRequest, InferRequest]:
        infer = parse_infer_request(
            request.body_bytes(settings.max_request_bytes),
            request.headers.get(HEADER_LENGTH),
            model,
            settings.max_request_rows,
        )
        given = infer.request_id  # kept when a labels file can name it as it is
        if given is not None and valid_inference_id(given):
            return replace(infer.parsed, inference_id=given), infer
        return infer.parsed, infer

    def render(self, result: ScoringResult, context: InferRequest) -> Rendered:
        inferred = infer_answer(result, context)
        if inferred.json_length is None:
            return Rendered(inferred.body.decode("utf-8"), inferred.content_type)
        headers = {"Inference-Header-Content-Length": str(inferred.json_length)}
        return Rendered(inferred.body, inferred.content_type, headers)

    def error_body(
        self, status: int, kind: str, message: str, details: list[Any]
    ) -> dict[str, Any]:
        return error_document(message, details)


#: The Open Inference Protocol (KServe V2).
OPEN_INFERENCE = OpenInferenceCodec()
