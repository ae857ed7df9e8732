"""The Open Inference Protocol (KServe V2, Triton's HTTP API): tensors in, tensors out.

An inference request carries either one input per schema column (shape ``[N]`` or
``[N, 1]``) or, for a model whose columns are all numeric, one ``[N, F]`` tensor with the
columns in schema order. Each input becomes the same raw column the JSON routes produce,
so the one validator decides what is acceptable (:func:`predictor.serving.scoring.score_rows`).
Outputs are ``predict`` and, for classifiers, ``predict_proba``.

The binary tensor extension is implemented both ways, since tritonclient uses it unless
told otherwise: a body whose ``Inference-Header-Content-Length`` header gives the length
of its JSON part carries the inputs' data after it, each input's
``parameters.binary_data_size`` bytes in order (little-endian, row-major; a BYTES
element is a 4-byte little-endian length and its bytes). Outputs asked for with
``parameters.binary_data`` come back the same way; the request's ``binary_data_output``
is the default of every output, listed or not (as Triton reads it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from predictor.models.registry import LoadedModel
from predictor.protocols.json_bodies import load_json
from predictor.protocols.open_inference.tensors import (
    Tensor,
    bad_request,
    parameters_of,
    read_tensors,
)
from predictor.rows import ParsedRequest
from predictor.schema import NUMERIC

#: The header that splits a binary request or response into JSON and tensor data.
HEADER_LENGTH = "inference-header-content-length"


PREDICT, PREDICT_PROBA = "predict", "predict_proba"


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    """An output the client asked for, and whether it wants it as binary data."""

    name: str
    binary: bool


@dataclass(frozen=True, slots=True)
class InferRequest:
    """An inference request as columns, with what the response must echo and hold."""

    parsed: ParsedRequest
    request_id: str | None
    outputs: tuple[RequestedOutput, ...]


def output_names(model: LoadedModel) -> tuple[str, ...]:
    """``predict``, and ``predict_proba`` for a classifier with probabilities."""
    if model.predictor.has_probabilities:
        return (PREDICT, PREDICT_PROBA)
    return (PREDICT,)


def parse_infer_request(
    body: bytes, header_length: str | None, model: LoadedModel, max_rows: int
) -> InferRequest:
    """Read an inference request for ``model`` (400 for anything the protocol does not allow)."""
    document, binary = _split(body, header_length)
    if not isinstance(document, dict):
        raise bad_request('the inference request must be a JSON object with "inputs"')
    request_id = document.get("id")
    if request_id is not None and (not isinstance(request_id, str) or len(request_id) > 256):
        raise bad_request('"id" must be a string of at most 256 characters')
    parameters = parameters_of(document.get("parameters"), '"parameters"')
    if "classification" in parameters:
        raise bad_request('the classification extension is not supported: ask for "predict_proba"')
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise bad_request('"inputs" must be a non-empty list of tensors')
    tensors = read_tensors(inputs, binary, max_rows, len(model.predictor.schema.names))
    parsed = tensor_columns(tensors, model)
    outputs = requested_outputs(
        document.get("outputs"), model, flag_of(parameters, "binary_data_output")
    )
    return InferRequest(parsed, request_id, outputs)


def _split(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    if header_length is None:
        return _json(body), b""
    try:
        length = int(header_length.strip())
    except ValueError:
        length = -1
    if not 0 < length <= len(body):
        raise bad_request(
            f"Inference-Header-Content-Length {header_length[:20]!r} is not a length within "
            f"the body's {len(body)} bytes"
        )
    return _json(body[:length]), body[length:]


def _json(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(
            f"the request's JSON is not UTF-8 (byte {exc.start}); binary tensor data must "
            "follow the JSON, with Inference-Header-Content-Length giving the JSON's length"
        ) from exc
    return load_json(text, "the inference request")


def tensor_columns(tensors: list[Tensor], model: LoadedModel) -> ParsedRequest:
    schema = model.predictor.schema
    first = tensors[0]
    if len(tensors) == 1 and len(first.shape) == 2 and first.name not in schema.names:
        rows, width = first.shape
        if width != len(schema.names):
            raise bad_request(
                f"input {first.name[:60]!r} has {width} columns; the model takes "
                f"{len(schema.names)} ({', '.join(schema.names[:5])}...) or one input per column"
            )
        if any(spec.kind != NUMERIC for spec in schema.columns):
            raise bad_request(
                "a single [N, F] tensor is accepted for all-numeric models only: send one "
                "input per column, named as the model's columns (GET /v2/models/<name>)"
            )
        values = first.values
        return ParsedRequest(
            {name: values[j::width] for j, name in enumerate(schema.names)}, rows, text=False
        )
    columns: dict[str, list[Any]] = {}
    rows_seen: set[int] = set()
    for tensor in tensors:
        if tensor.name not in schema.names:
            raise bad_request(
                f"input {tensor.name[:60]!r} is not a column of the model; its inputs are "
                + ", ".join(repr(n) for n in schema.names[:20])
            )
        if len(tensor.shape) == 2 and tensor.shape[1] != 1:
            raise bad_request(f"input {tensor.name[:60]!r}: a column's shape is [N] or [N, 1]")
        columns[tensor.name] = tensor.values
        rows_seen.add(tensor.shape[0])
    if len(rows_seen) != 1:
        raise bad_request(f"inputs have different numbers of rows: {sorted(rows_seen)}")
    return ParsedRequest(columns, rows_seen.pop(), text=False)


def requested_outputs(
    outputs: object, model: LoadedModel, binary_default: bool
) -> tuple[RequestedOutput, ...]:
    available = output_names(model)
    if outputs is None:
        return tuple(RequestedOutput(name, binary_default) for name in available)
    if not isinstance(outputs, list) or not outputs:
        raise bad_request('"outputs" must be a non-empty list of {"name": ...} objects')
    requested: list[RequestedOutput] = []
    for position, output in enumerate(outputs):
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            raise bad_request(f"outputs[{position}] must be an object with a name")
        name = output["name"]
        if name == PREDICT_PROBA and PREDICT_PROBA not in available:
            kind = "a regressor" if model.predictor.task == "regression" else "a classifier"
            raise bad_request(
                f"output predict_proba: model {model.name!r} is {kind} without class "
                "probabilities; ask for predict"
            )
        if name not in available:
            raise bad_request(
                f"output {name[:60]!r} does not exist; this model's outputs are "
                + ", ".join(available)
            )
        parameters = parameters_of(output.get("parameters"), f"outputs[{position}].parameters")
        if "classification" in parameters:
            raise bad_request(
                'the classification extension is not supported: ask for "predict_proba"'
            )
        if any(r.name == name for r in requested):
            raise bad_request(f"output {name!r} is asked for twice")
        # Triton: the request's binary_data_output is each listed output's default.
        binary = (
            flag_of(parameters, "binary_data") if "binary_data" in parameters else binary_default
        )
        requested.append(RequestedOutput(name, binary))
    return tuple(requested)


def flag_of(parameters: Mapping[str, Any], key: str) -> bool:
    value = parameters.get(key, False)
    if type(value) is not bool:
        raise bad_request(f"parameter {key} must be true or false")
    return value
