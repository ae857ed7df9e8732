"""What crosses the serving pipeline's edges: a request's parts, and an answer."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from predictor.errors import (
    MalformedRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from predictor.models.registry import LoadedModel
from predictor.values import shortened


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
        """The body's bytes (decoded from base64 when the event says so); a compressed
        body is refused by name (it would otherwise read as bytes that are not UTF-8)."""
        encoding = self.headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            raise UnsupportedMediaTypeError(
                f"Content-Encoding {shortened(encoding)!r} is not supported: send the body "
                "uncompressed"
            )
        if not self.base64_encoded:
            return self.body.encode("utf-8")
        # Base64 inflates by 4/3: refuse what could not fit before decoding it.
        if len(self.body) > max_bytes * 4 // 3 + 4:
            raise PayloadTooLargeError(f"request body exceeds the limit of {max_bytes} bytes")
        try:
            return base64.b64decode(self.body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedRequestError(f"body is marked base64 but is not: {exc}") from exc


#: The request headers a caller may name its inference id in: this API's own, and
#: SageMaker's (``InvokeEndpoint``'s ``InferenceId``).
INFERENCE_ID_HEADERS = ("x-inference-id", "x-amzn-sagemaker-inference-id")
#: An inference id a caller may give: what a labels file can hold without quoting.
INFERENCE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,64}")


def valid_inference_id(value: str) -> bool:
    """Whether ``value`` may be an inference id (1-64 of ``A-Z a-z 0-9 . _ : @ / + = -``)."""
    return INFERENCE_ID.fullmatch(value) is not None


def inference_id_of(request: HttpRequest) -> str | None:
    """The inference id the caller gave in a header; None when it gave none.

    400 for an id that could not be written into a labels file as it is.
    """
    for header in INFERENCE_ID_HEADERS:
        given = request.headers.get(header)
        if given is not None:
            if not valid_inference_id(given):
                raise MalformedRequestError(
                    f"{header} must be 1 to 64 characters of A-Z a-z 0-9 . _ : @ / + = -"
                )
            return given
    return None


@dataclass(frozen=True, slots=True)
class Rendered:
    """A protocol's answer to scored rows: its body, content type and own headers."""

    body: str | bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    """A route's successful answer, and what its metrics record."""

    body: str | bytes
    content_type: str
    model: LoadedModel
    rows: int = 0
    elapsed_ms: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    #: The id a label for these rows names (see :func:`row_ids`).
    inference_id: str = ""

    def all_headers(self) -> dict[str, str]:
        """The model's headers, the inference id, the route's own, and the content type."""
        return {
            **model_headers(self.model),
            "X-Inference-Id": self.inference_id,
            **self.headers,
            "Content-Type": self.content_type,
        }


def model_headers(model: LoadedModel | None) -> dict[str, str]:
    """``X-Model-Name`` and ``X-Model-Version`` of the model that answered."""
    if model is None:
        return {}
    return {"X-Model-Name": model.name, "X-Model-Version": model.version}
