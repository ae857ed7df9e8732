"""The Open Inference Protocol (KServe V2, Triton's HTTP API): tensors in, tensors out.

An inference request carries either one input per schema column (shape ``[N]`` or
``[N, 1]``) or, for a model whose columns are all numeric, one ``[N, F]`` tensor with the
columns in schema order. Each input becomes the same raw column the JSON routes produce,
so the one validator decides what is acceptable (:func:`predictor.scoring.score_rows`).
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

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from predictor.errors import MalformedRequestError, PayloadTooLargeError
from predictor.registry import LoadedModel
from predictor.request_parsing import ParsedRequest, load_json
from predictor.schema import NUMERIC
from predictor.scoring import ScoringResult

#: The header that splits a binary request or response into JSON and tensor data.
HEADER_LENGTH = "inference-header-content-length"
PREDICT, PREDICT_PROBA = "predict", "predict_proba"
#: What ``GET /v2`` says of this server.
EXTENSIONS = ["binary_tensor_data"]

#: Numpy's little-endian type of each fixed-size datatype.
_NUMPY_TYPES = {
    "BOOL": "|b1",
    "UINT8": "|u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "|i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
DATATYPES = (*_NUMPY_TYPES, "BYTES")


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


@dataclass(frozen=True, slots=True)
class InferAnswer:
    """An inference response: the body and, when it holds binary data, the JSON's length."""

    body: bytes
    json_length: int | None

    @property
    def content_type(self) -> str:
        """``application/octet-stream`` with binary outputs, else JSON."""
        return "application/json" if self.json_length is None else "application/octet-stream"


def _bad(message: str) -> MalformedRequestError:
    return MalformedRequestError(message)


def parse_infer_request(
    body: bytes, header_length: str | None, model: LoadedModel, max_rows: int
) -> InferRequest:
    """Read an inference request for ``model`` (400 for anything the protocol does not allow)."""
    document, binary = _split(body, header_length)
    if not isinstance(document, dict):
        raise _bad('the inference request must be a JSON object with "inputs"')
    request_id = document.get("id")
    if request_id is not None and (not isinstance(request_id, str) or len(request_id) > 256):
        raise _bad('"id" must be a string of at most 256 characters')
    parameters = _parameters(document.get("parameters"), '"parameters"')
    if "classification" in parameters:
        raise _bad('the classification extension is not supported: ask for "predict_proba"')
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _bad('"inputs" must be a non-empty list of tensors')
    tensors = _read_tensors(inputs, binary, max_rows, len(model.predictor.schema.names))
    parsed = _columns(tensors, model)
    outputs = _requested_outputs(
        document.get("outputs"), model, _flag(parameters, "binary_data_output")
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
        raise _bad(
            f"Inference-Header-Content-Length {header_length[:20]!r} is not a length within "
            f"the body's {len(body)} bytes"
        )
    return _json(body[:length]), body[length:]


def _json(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(
            f"the request's JSON is not UTF-8 (byte {exc.start}); binary tensor data must "
            "follow the JSON, with Inference-Header-Content-Length giving the JSON's length"
        ) from exc
    return load_json(text, "the inference request")


def _parameters(value: object, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object")
    return value


@dataclass(frozen=True, slots=True)
class _Tensor:
    name: str
    shape: tuple[int, ...]
    datatype: str
    values: list[Any]


def _read_tensors(inputs: list[Any], binary: bytes, max_rows: int, width: int) -> list[_Tensor]:
    """Each input's values, checked against its shape and datatype (``width``: the model's)."""
    tensors: list[_Tensor] = []
    offset = 0
    names: set[str] = set()
    for position, tensor in enumerate(inputs):
        where = f"inputs[{position}]"
        if not isinstance(tensor, dict):
            raise _bad(f"{where} must be an object with name, shape, datatype and data")
        name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
        if not isinstance(name, str) or not name:
            raise _bad(f"{where}.name must be a non-empty string")
        where = f"input {name[:60]!r}"
        if name in names:
            raise _bad(f"{where} is given twice")
        names.add(name)
        if (
            not isinstance(shape, list)
            or not 1 <= len(shape) <= 2
            or not all(type(d) is int and d >= 0 for d in shape)
        ):
            raise _bad(f"{where}: shape must be [N] or [N, F] with sizes >= 0")
        if shape[0] > max_rows:
            raise PayloadTooLargeError(f"{where} has {shape[0]} rows; the limit is {max_rows}")
        if shape[0] == 0:
            raise _bad(f"{where} has no rows")
        if len(shape) == 2 and shape[1] not in (1, width):
            raise _bad(
                f"{where} has {shape[1]} columns; the model takes {width}, or one input per "
                "column of shape [N] or [N, 1]"
            )
        if datatype not in DATATYPES:
            raise _bad(
                f"{where}: datatype {str(datatype)[:20]!r} is not supported; use one of "
                + ", ".join(DATATYPES)
            )
        count = math.prod(shape)
        size = _parameters(tensor.get("parameters"), f"{where}.parameters").get("binary_data_size")
        if size is not None:
            if "data" in tensor:
                raise _bad(f"{where} has both data and binary_data_size")
            if type(size) is not int or size < 0 or offset + size > len(binary):
                raise _bad(
                    f"{where}: binary_data_size {str(size)[:20]} goes past the "
                    f"{len(binary)} bytes of binary data after the JSON"
                )
            values = _from_binary(binary[offset : offset + size], datatype, count, where)
            offset += size
        elif "data" in tensor:
            values = _flat(tensor["data"], shape, where)
            if len(values) != count:
                raise _bad(f"{where}: shape {shape} holds {count} values; data has {len(values)}")
            _check_json_types(values, datatype, where)
        else:
            raise _bad(f"{where} has neither data nor parameters.binary_data_size")
        tensors.append(_Tensor(name, tuple(shape), datatype, values))
    if offset != len(binary):
        raise _bad(f"{len(binary) - offset} bytes of binary data after the JSON belong to no input")
    return tensors


def _flat(data: object, shape: list[int], where: str) -> list[Any]:
    """Row-major values: flat data, or lists nested as deep as ``shape`` with its sizes."""
    if not isinstance(data, list):
        raise _bad(f"{where}: data must be a list")
    if not any(isinstance(v, list) for v in data):
        if any(isinstance(v, dict) for v in data):
            raise _bad(f"{where}: data holds an object")
        return data
    level: list[Any] = data
    for depth, size in enumerate(shape[:-1]):
        if len(level) != math.prod(shape[:depth]) * size or not all(
            isinstance(v, list) and len(v) == shape[depth + 1] for v in level
        ):
            raise _bad(f"{where}: nested data does not have the shape {shape}")
        level = [item for sub in level for item in sub]
    if any(isinstance(v, list | dict) for v in level):
        raise _bad(f"{where}: data is nested deeper than its shape {shape}")
    return level


_INT_RANGES = {
    name: (int(np.iinfo(np.dtype(code)).min), int(np.iinfo(np.dtype(code)).max))
    for name, code in _NUMPY_TYPES.items()
    if name.startswith(("INT", "UINT"))
}


def _check_json_types(values: list[Any], datatype: str, where: str) -> None:
    """Each JSON value must be of the declared datatype (null stays: a missing value)."""
    for index, value in enumerate(values):
        if value is None:
            continue
        kind = type(value)
        if datatype == "BOOL":
            ok = kind is bool
        elif datatype == "BYTES":
            ok = kind is str
        elif datatype in _INT_RANGES:
            low, high = _INT_RANGES[datatype]
            ok = kind is int and low <= value <= high
        else:  # FP16, FP32, FP64
            ok = kind is float or kind is int
        if not ok:
            raise _bad(f"{where}: value {index} ({str(value)[:40]!r}) is not {datatype}")


def _from_binary(data: bytes, datatype: str, count: int, where: str) -> list[Any]:
    if datatype == "BYTES":
        values: list[Any] = []
        offset = 0
        while offset < len(data):
            if len(values) == count:
                raise _bad(f"{where}: the BYTES data holds more than the shape's {count} values")
            if offset + 4 > len(data):
                raise _bad(f"{where}: BYTES data ends inside an element's 4-byte length")
            (length,) = struct.unpack_from("<I", data, offset)
            offset += 4
            if offset + length > len(data):
                raise _bad(f"{where}: BYTES element {len(values)} runs past the data")
            try:
                values.append(data[offset : offset + length].decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise _bad(f"{where}: BYTES element {len(values)} is not UTF-8") from exc
            offset += length
        if len(values) != count:
            raise _bad(f"{where}: shape holds {count} values; the BYTES data has {len(values)}")
        return values
    dtype = np.dtype(_NUMPY_TYPES[datatype])
    if len(data) != count * dtype.itemsize:
        raise _bad(
            f"{where}: {count} {datatype} values take {count * dtype.itemsize} bytes; "
            f"binary_data_size is {len(data)}"
        )
    array = np.frombuffer(data, dtype=dtype)
    return array.astype(np.float64).tolist() if datatype == "FP16" else array.tolist()


def _columns(tensors: list[_Tensor], model: LoadedModel) -> ParsedRequest:
    schema = model.predictor.schema
    first = tensors[0]
    if len(tensors) == 1 and len(first.shape) == 2 and first.name not in schema.names:
        rows, width = first.shape
        if width != len(schema.names):
            raise _bad(
                f"input {first.name[:60]!r} has {width} columns; the model takes "
                f"{len(schema.names)} ({', '.join(schema.names[:5])}...) or one input per column"
            )
        if any(spec.kind != NUMERIC for spec in schema.columns):
            raise _bad(
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
            raise _bad(
                f"input {tensor.name[:60]!r} is not a column of the model; its inputs are "
                + ", ".join(repr(n) for n in schema.names[:20])
            )
        if len(tensor.shape) == 2 and tensor.shape[1] != 1:
            raise _bad(f"input {tensor.name[:60]!r}: a column's shape is [N] or [N, 1]")
        columns[tensor.name] = tensor.values
        rows_seen.add(tensor.shape[0])
    if len(rows_seen) != 1:
        raise _bad(f"inputs have different numbers of rows: {sorted(rows_seen)}")
    return ParsedRequest(columns, rows_seen.pop(), text=False)


def _requested_outputs(
    outputs: object, model: LoadedModel, binary_default: bool
) -> tuple[RequestedOutput, ...]:
    available = output_names(model)
    if outputs is None:
        return tuple(RequestedOutput(name, binary_default) for name in available)
    if not isinstance(outputs, list) or not outputs:
        raise _bad('"outputs" must be a non-empty list of {"name": ...} objects')
    requested: list[RequestedOutput] = []
    for position, output in enumerate(outputs):
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            raise _bad(f"outputs[{position}] must be an object with a name")
        name = output["name"]
        if name == PREDICT_PROBA and PREDICT_PROBA not in available:
            kind = "a regressor" if model.predictor.task == "regression" else "a classifier"
            raise _bad(
                f"output predict_proba: model {model.name!r} is {kind} without class "
                "probabilities; ask for predict"
            )
        if name not in available:
            raise _bad(
                f"output {name[:60]!r} does not exist; this model's outputs are "
                + ", ".join(available)
            )
        parameters = _parameters(output.get("parameters"), f"outputs[{position}].parameters")
        if "classification" in parameters:
            raise _bad('the classification extension is not supported: ask for "predict_proba"')
        if any(r.name == name for r in requested):
            raise _bad(f"output {name!r} is asked for twice")
        # Triton: the request's binary_data_output is each listed output's default.
        binary = _flag(parameters, "binary_data") if "binary_data" in parameters else binary_default
        requested.append(RequestedOutput(name, binary))
    return tuple(requested)


def _flag(parameters: Mapping[str, Any], key: str) -> bool:
    value = parameters.get(key, False)
    if type(value) is not bool:
        raise _bad(f"parameter {key} must be true or false")
    return value


def output_names(model: LoadedModel) -> tuple[str, ...]:
    """``predict``, and ``predict_proba`` for a classifier with probabilities."""
    if model.predictor.has_probabilities:
        return (PREDICT, PREDICT_PROBA)
    return (PREDICT,)


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
            data = _to_binary(values, datatype)
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
    document["outputs"] = outputs
    header = json.dumps(document).encode("utf-8")
    if not chunks:
        return InferAnswer(header, None)
    return InferAnswer(header + b"".join(chunks), len(header))


def _to_binary(values: list[Any], datatype: str) -> bytes:
    if datatype == "BYTES":
        parts: list[bytes] = []
        for value in values:
            encoded = str(value).encode("utf-8")
            parts.append(struct.pack("<I", len(encoded)) + encoded)
        return b"".join(parts)
    return np.asarray(values, dtype=np.dtype(_NUMPY_TYPES[datatype])).tobytes()


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
