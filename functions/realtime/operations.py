"""The OpenAPI pieces each route declares its operation with: parameters, bodies, answers.

A route (:mod:`realtime.routes`) states its operation where it is declared, built from
these; :func:`realtime.openapi.document` gathers them, so the document cannot leave a
route out or describe one that does not exist.
"""

from __future__ import annotations

from typing import Any


def obj(**properties: Any) -> dict[str, Any]:
    """A JSON Schema object whose ``properties`` are all required."""
    return {"type": "object", "required": list(properties), "properties": properties}


STRING: dict[str, Any] = {"type": "string"}
#: The id a label names a request's rows by: one row's is the id, the rows of a larger
#: request are ``<id>#0``, ``<id>#1``, ...
INFERENCE_ID: dict[str, Any] = {
    "type": "string",
    "pattern": "^[A-Za-z0-9._:@/+=-]{1,64}$",
    "description": "the id a label names these rows by: the request's X-Inference-Id (or "
    "X-Amzn-SageMaker-Inference-Id), else a new one; a request of several rows labels its "
    "rows <id>#0, <id>#1, ...",
}
CELL: dict[str, Any] = {"type": ["number", "string", "boolean", "null"]}
NAME_PATTERN: dict[str, Any] = {
    "type": "string",
    "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
}

ERROR_OBJECT = obj(
    type=STRING,
    message=STRING,
    details={
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "row": {"type": ["integer", "null"]},
                "column": {"type": ["string", "null"]},
                "reason": STRING,
            },
        },
    },
)

MODEL_REF: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version"],
    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
}

MODEL_HEADERS = {
    "X-Model-Name": {"schema": {"type": "string"}, "description": "served model"},
    "X-Model-Version": {"schema": {"type": "string"}, "description": "served version"},
}
#: A scoring answer's headers: the model's, and the inference id.
SCORED_HEADERS = {
    **MODEL_HEADERS,
    "X-Inference-Id": {"schema": INFERENCE_ID, "description": INFERENCE_ID["description"]},
}

#: What each error status means, on every route.
ERROR_MEANINGS = {
    "400": "Malformed body (not JSON/CSV, wrong shape, bad base64), or a request the "
    "protocol does not allow (the message says why)",
    "404": "A model or version this function does not serve",
    "406": "No response format the Accept header allows",
    "413": "More rows or bytes than the configured limits",
    "415": "Unsupported content type, charset or content-type parameter",
    "422": "Rows that do not fit the model's schema (row and column named)",
    "503": "No model can be served",
}


def errors(schema: str, *statuses: str) -> dict[str, Any]:
    """The error responses ``statuses``, each with the body ``schema`` of its protocol."""
    return {
        status: {
            "description": ERROR_MEANINGS[status],
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
        for status in statuses
    }


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def parameter(where: str, name: str, description: str) -> dict[str, Any]:
    """A parameter ``in`` the path (required, a registry name) or a header (optional)."""
    in_path = where == "path"
    schema = NAME_PATTERN if in_path else STRING
    return {
        "name": name,
        "in": where,
        "required": in_path,
        "description": description,
        "schema": schema,
    }


NAME = parameter("path", "name", "a registry model this function serves (GET /models lists them)")
VERSION = parameter("path", "version", "a registry version of the model")
ACCEPT = parameter(
    "header",
    "Accept",
    "application/json (default), text/csv (one prediction per line) or "
    "application/jsonlines (one object per row)",
)
MODEL_NAME_HEADER = parameter(
    "header",
    "X-Model-Name",
    "the model to score with (default: the function's own model); SageMaker's "
    "X-Amzn-SageMaker-Target-Model is read too",
)
INFERENCE_ID_HEADER = parameter(
    "header",
    "X-Inference-Id",
    "the id a label will name these rows by (X-Amzn-SageMaker-Inference-Id is read too); "
    "without it, a new one",
)
HEADER_LENGTH = parameter(
    "header",
    "Inference-Header-Content-Length",
    "with binary tensor data: the length of the JSON part",
)

#: Bodies every route that takes rows accepts.
ROW_BODIES: dict[str, Any] = {
    "application/json": {"schema": ref("MlflowRequest")},
    "text/csv": {
        "schema": {"type": "string"},
        "example": "col_a,col_b\n1.5,red\n",
        "description": "text/csv; header=present or header=absent (RFC 4180) says whether "
        "the first row names the columns; without it, a first row naming no column is "
        "values (every row in the model's column order), one naming columns that cannot be "
        "values is the header, and one that could be either is a 400",
    },
    "application/jsonlines": {
        "schema": {"type": "string"},
        "example": '{"col_a": 1.5, "col_b": "red"}\n[2.5, "blue"]\n',
        "description": "one JSON object (by name) or array (in column order) per line",
    },
}
BINARY = {"schema": {"type": "string", "format": "binary"}}


def get(
    operation_id: str,
    summary: str,
    schema: dict[str, Any],
    parameters: list[Any],
    errors: dict[str, Any],
    headers: bool = True,
) -> dict[str, Any]:
    """A read operation: a 200 of ``schema`` (with the model headers) and ``errors``."""
    ok: dict[str, Any] = {"description": summary, "content": json_content(schema)}
    if headers:
        ok["headers"] = MODEL_HEADERS
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": parameters,
            "responses": {"200": ok, **errors},
        }
    }


def scoring(
    operation_id: str, summary: str, schema: str, parameters: list[Any], error_schema: str
) -> dict[str, Any]:
    """A route that scores rows: any row body, an answer in the format Accept asks for."""
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": [*parameters, INFERENCE_ID_HEADER],
            "requestBody": {"required": True, "content": ROW_BODIES},
            "responses": {
                "200": {
                    "description": "One prediction per row, in request order",
                    "headers": SCORED_HEADERS,
                    "content": {
                        "application/json": {"schema": ref(schema)},
                        "text/csv": {"schema": {"type": "string"}},
                        "application/jsonlines": {"schema": {"type": "string"}},
                    },
                },
                **errors(error_schema, "400", "404", "406", "413", "415", "422", "503"),
            },
        }
    }


def v2_infer(operation_id: str, *parameters: Any) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "summary": "Inference (JSON tensors, or the binary tensor extension)",
            "parameters": [*parameters, HEADER_LENGTH, INFERENCE_ID_HEADER],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": ref("V2InferenceRequest")},
                    "application/octet-stream": {
                        **BINARY,
                        "description": "JSON, then each binary input's bytes in order",
                    },
                },
            },
            "responses": {
                "200": {
                    "description": "Outputs predict and (classifiers) predict_proba",
                    "headers": SCORED_HEADERS,
                    "content": {
                        "application/json": {"schema": ref("V2InferenceResponse")},
                        "application/octet-stream": BINARY,
                    },
                },
                **errors("V2Error", "400", "404", "413", "422", "503"),
            },
        }
    }


def page(operation_id: str, summary: str, media_types: tuple[str, ...], *parameters: Any) -> Any:
    """A route of the try-it page: text (HTML, a script, a style sheet), or a JSON error."""
    missing = {
        "description": "No such asset; a model this function does not serve; or a report "
        "that does not exist (yet)",
        "content": {"application/json": {"schema": ref("Error")}},
    }
    responses: dict[str, Any] = {
        "200": {
            "description": summary,
            "content": {media_type: {"schema": {"type": "string"}} for media_type in media_types},
        },
    }
    if parameters:
        responses.update({"404": missing, **errors("Error", "503")})
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": list(parameters),
            "responses": responses,
        }
    }


HTML = ("text/html",)
ASSET = {
    "name": "file",
    "in": "path",
    "required": True,
    "description": "one of the page's assets",
    "schema": {"enum": ["try.js", "try.css"]},
}

HEALTH = {
    "type": "object",
    "required": ["status", "model"],
    "properties": {"status": {"const": "ok"}, "model": MODEL_REF},
}
READY = {
    "type": "object",
    "required": ["ready"],
    "properties": {"name": {"type": "string"}, "ready": {"const": True}},
}
TENSOR_METADATA = obj(
    name=STRING, datatype=STRING, shape={"type": "array", "items": {"type": "integer"}}
)
V2_NOT_SERVED = errors("V2Error", "404", "503")
