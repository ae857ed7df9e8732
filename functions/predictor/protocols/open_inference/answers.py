"""The Open Inference Protocol's answers: outputs ``predict`` (and ``predict_proba`` for a
classifier with probabilities), as JSON or binary tensors; server and model metadata; the
error document its clients expect (``{"error": "<message>"}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from predictor.models.registry import LoadedModel
from predictor.protocols.open_inference.requests import (
    PREDICT,
    PREDICT_PROBA,
    InferRequest,
    output_names,
)
from predictor.protocols.open_inference.tensors import to_binary
from predictor.schema import NUMERIC
from predictor.serving.scoring import ScoringResult

#: What ``GET /v2`` says of this server.
EXTENSIONS = ["binary_tensor_data"]


@dataclass(frozen=True, slots=True)
class InferAnswer:
    """An inference response: the body and, when it holds binary data, the JSON's length."""

    body: bytes
    json_length: int | None

    @property
    def content_type(self) -> str:
        """``application/octet-stream`` with binary outputs, else JSON."""
        return "application/json" if self.json_length is None else "application/octet-stream"


def _label_datatype(labels: Sequence[Any]) -> str:
    if labels and all(type(v) is bool for v in labels):
        return "BOOL"
    if all(type(v) is int for v in labels):
        return "INT64"
    if all(type(v) is float for v in labels):
        return "FP64"
    return "BYTES"


def infer_answer(result: ScoringResult, request: InferRequest) -> InferAnswer:
    """The response to ``request``: JSON, or JSON then binary data for binary outputs."""
    n = len(result.predictions)
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    label_datatype = _label_datatype(result.predictions)
    for wanted in request.outputs:
        if wanted.name == PREDICT:
            values: list[Any] = (
                [str(v) for v in result.predictions]
                if label_datatype == "BYTES"
                else result.predictions
            )
            datatype, shape = label_datatype, [n]
        else:
            probabilities = result.probabilities or []
            classes = len(probabilities[0]) if probabilities else 0
            values = [p for row in probabilities for p in row.values()]
            datatype, shape = "FP64", [n, classes]
        output: dict[str, Any] = {"name": wanted.name, "datatype": datatype, "shape": shape}
        if wanted.binary:
            data = to_binary(values, datatype)
            output["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            output["data"] = values
        outputs.append(output)
    document: dict[str, Any] = {
        "model_name": result.model_name,
        "model_version": result.model_version,
    }
    if request.request_id is not None:
        document["id"] = request.request_id
    # The protocol's response parameters: the id a label names these rows by.
    document["parameters"] = {"inference_id": result.inference_id}
    document["outputs"] = outputs
    header = json.dumps(document).encode("utf-8")
    if not chunks:
        return InferAnswer(header, None)
    return InferAnswer(header + b"".join(chunks), len(header))


# ----- metadata ---------------------------------------------------------------------------
def server_metadata(version: str) -> dict[str, Any]:
    """``GET /v2``."""
    return {"name": "serverless-predictor", "version": version, "extensions": EXTENSIONS}


def model_metadata(model: LoadedModel) -> dict[str, Any]:
    """``GET /v2/models/{name}[/versions/{version}]``: inputs and outputs as tensors."""
    schema = model.predictor.schema
    inputs = [
        {
            "name": spec.name,
            "datatype": "FP32" if spec.kind == NUMERIC else "BYTES",
            "shape": [-1, 1],
        }
        for spec in schema.columns
    ]
    classes = model.manifest.get("classes") or []
    outputs: list[dict[str, Any]] = [
        {
            "name": PREDICT,
            "datatype": _label_datatype(list(classes)) if classes else "FP64",
            "shape": [-1],
        }
    ]
    if PREDICT_PROBA in output_names(model):
        outputs.append({"name": PREDICT_PROBA, "datatype": "FP64", "shape": [-1, len(classes)]})
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": "onnxruntime_onnx",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {
            key: model.manifest.get(key) for key in ("task", "target", "estimator", "created_at")
        },
    }


def error_document(message: str, details: Sequence[Mapping[str, Any]] = ()) -> dict[str, str]:
    """The protocol's error object: one message, with the first row problems spelled out."""
    shown = [
        f"row {d.get('row')}, column {d.get('column')!r}: {d.get('reason')}"
        if d.get("column") is not None
        else f"row {d.get('row')}: {d.get('reason')}"
        for d in list(details)[:5]
    ]
    return {"error": message + ("" if not shown else " (" + "; ".join(shown) + ")")}
