"""Tensors of the Open Inference Protocol: their datatypes, JSON data checked against them, and
the binary tensor extension's bytes both ways (little-endian, row-major; a BYTES element is
a 4-byte little-endian length and its bytes).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from predictor.errors import MalformedRequestError, PayloadTooLargeError


#: Numpy's little-endian type of each fixed-size datatype.
def bad_request(message: str) -> MalformedRequestError:
    return MalformedRequestError(message)


def parameters_of(value: object, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be an object")
    return value


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
class Tensor:
    name: str
    shape: tuple[int, ...]
    datatype: str
    values: list[Any]


def read_tensors(inputs: list[Any], binary: bytes, max_rows: int, width: int) -> list[Tensor]:
    """Each input's values, checked against its shape and datatype (``width``: the model's)."""
    tensors: list[Tensor] = []
    offset = 0
    names: set[str] = set()
    for position, tensor in enumerate(inputs):
        where = f"inputs[{position}]"
        if not isinstance(tensor, dict):
            raise bad_request(f"{where} must be an object with name, shape, datatype and data")
        name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
        if not isinstance(name, str) or not name:
            raise bad_request(f"{where}.name must be a non-empty string")
        where = f"input {name[:60]!r}"
        if name in names:
            raise bad_request(f"{where} is given twice")
        names.add(name)
        if (
            not isinstance(shape, list)
            or not 1 <= len(shape) <= 2
            or not all(type(d) is int and d >= 0 for d in shape)
        ):
            raise bad_request(f"{where}: shape must be [N] or [N, F] with sizes >= 0")
        if shape[0] > max_rows:
            raise PayloadTooLargeError(f"{where} has {shape[0]} rows; the limit is {max_rows}")
        if shape[0] == 0:
            raise bad_request(f"{where} has no rows")
        if len(shape) == 2 and shape[1] not in (1, width):
            raise bad_request(
                f"{where} has {shape[1]} columns; the model takes {width}, or one input per "
                "column of shape [N] or [N, 1]"
            )
        if datatype not in DATATYPES:
            raise bad_request(
                f"{where}: datatype {str(datatype)[:20]!r} is not supported; use one of "
                + ", ".join(DATATYPES)
            )
        count = math.prod(shape)
        size = parameters_of(tensor.get("parameters"), f"{where}.parameters").get(
            "binary_data_size"
        )
        if size is not None:
            if "data" in tensor:
                raise bad_request(f"{where} has both data and binary_data_size")
            if type(size) is not int or size < 0 or offset + size > len(binary):
                raise bad_request(
                    f"{where}: binary_data_size {str(size)[:20]} goes past the "
                    f"{len(binary)} bytes of binary data after the JSON"
                )
            values = _from_binary(binary[offset : offset + size], datatype, count, where)
            offset += size
        elif "data" in tensor:
            values = _flat(tensor["data"], shape, where)
            if len(values) != count:
                raise bad_request(
                    f"{where}: shape {shape} holds {count} values; data has {len(values)}"
                )
            _check_json_types(values, datatype, where)
        else:
            raise bad_request(f"{where} has neither data nor parameters.binary_data_size")
        tensors.append(Tensor(name, tuple(shape), datatype, values))
    if offset != len(binary):
        raise bad_request(
            f"{len(binary) - offset} bytes of binary data after the JSON belong to no input"
        )
    return tensors


def _flat(data: object, shape: list[int], where: str) -> list[Any]:
    """Row-major values: flat data, or lists nested as deep as ``shape`` with its sizes."""
    if not isinstance(data, list):
        raise bad_request(f"{where}: data must be a list")
    if not any(isinstance(v, list) for v in data):
        if any(isinstance(v, dict) for v in data):
            raise bad_request(f"{where}: data holds an object")
        return data
    level: list[Any] = data
    for depth, size in enumerate(shape[:-1]):
        if len(level) != math.prod(shape[:depth]) * size or not all(
            isinstance(v, list) and len(v) == shape[depth + 1] for v in level
        ):
            raise bad_request(f"{where}: nested data does not have the shape {shape}")
        level = [item for sub in level for item in sub]
    if any(isinstance(v, list | dict) for v in level):
        raise bad_request(f"{where}: data is nested deeper than its shape {shape}")
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
            raise bad_request(f"{where}: value {index} ({str(value)[:40]!r}) is not {datatype}")


def _from_binary(data: bytes, datatype: str, count: int, where: str) -> list[Any]:
    if datatype == "BYTES":
        values: list[Any] = []
        offset = 0
        while offset < len(data):
            if len(values) == count:
                raise bad_request(
                    f"{where}: the BYTES data holds more than the shape's {count} values"
                )
            if offset + 4 > len(data):
                raise bad_request(f"{where}: BYTES data ends inside an element's 4-byte length")
            (length,) = struct.unpack_from("<I", data, offset)
            offset += 4
            if offset + length > len(data):
                raise bad_request(f"{where}: BYTES element {len(values)} runs past the data")
            try:
                values.append(data[offset : offset + length].decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise bad_request(f"{where}: BYTES element {len(values)} is not UTF-8") from exc
            offset += length
        if len(values) != count:
            raise bad_request(
                f"{where}: shape holds {count} values; the BYTES data has {len(values)}"
            )
        return values
    dtype = np.dtype(_NUMPY_TYPES[datatype])
    if len(data) != count * dtype.itemsize:
        raise bad_request(
            f"{where}: {count} {datatype} values take {count * dtype.itemsize} bytes; "
            f"binary_data_size is {len(data)}"
        )
    array = np.frombuffer(data, dtype=dtype)
    return array.astype(np.float64).tolist() if datatype == "FP16" else array.tolist()


def to_binary(values: list[Any], datatype: str) -> bytes:
    if datatype == "BYTES":
        parts: list[bytes] = []
        for value in values:
            encoded = str(value).encode("utf-8")
            parts.append(struct.pack("<I", len(encoded)) + encoded)
        return b"".join(parts)
    return np.asarray(values, dtype=np.dtype(_NUMPY_TYPES[datatype])).tobytes()
