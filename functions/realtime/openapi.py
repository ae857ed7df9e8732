"""The OpenAPI 3.1 document of the realtime API, served at ``GET /openapi.json``.

Written out rather than generated: powertools generates OpenAPI only with pydantic
validation, which would add a dependency and ~60 µs to every request for checks the
schema validator already makes (it knows each model's columns, which OpenAPI cannot).
Every route of the handler is here, and a test compares the two.
"""

from __future__ import annotations

from typing import Any

from predictor.open_inference import DATATYPES

#: The version of this API (the document's and ``GET /v2``'s).
API_VERSION = "1.2.0"

_CELL: dict[str, Any] = {"type": ["number", "string", "boolean", "null"]}
_NAME_PATTERN: dict[str, Any] = {
    "type": "string",
    "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
}

_ERROR_OBJECT: dict[str, Any] = {
    "type": "object",
    "required": ["type", "message", "details"],
    "properties": {
        "type": {"type": "string"},
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "row": {"type": ["integer", "null"]},
                    "column": {"type": ["string", "null"]},
                    "reason": {"type": "string"},
                },
            },
        },
    },
}

_MODEL_REF: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version"],
    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
}

_MODEL_HEADERS = {
    "X-Model-Name": {"schema": {"type": "string"}, "description": "served model"},
    "X-Model-Version": {"schema": {"type": "string"}, "description": "served version"},
}

#: What each error status means, on every route.
_ERROR_MEANINGS = {
    "400": "Malformed body (not JSON/CSV, wrong shape, bad base64), or a request the "
    "protocol does not allow (the message says why)",
    "404": "A model or version this function does not serve",
    "406": "No response format the Accept header allows",
    "413": "More rows or bytes than the configured limits",
    "415": "Unsupported content type, charset or content-type parameter",
    "422": "Rows that do not fit the model's schema (row and column named)",
    "503": "No model can be served",
}


def _errors(schema: str, *statuses: str) -> dict[str, Any]:
    """The error responses ``statuses``, each with the body ``schema`` of its protocol."""
    return {
        status: {
            "description": _ERROR_MEANINGS[status],
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
        for status in statuses
    }


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": _NAME_PATTERN,
    }


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


_NAME = _path("name", "a registry model this function serves (GET /models lists them)")
_VERSION = _path("version", "a registry version of the model")
_ACCEPT = _header(
    "Accept",
    "application/json (default), text/csv (one prediction per line) or "
    "application/jsonlines (one object per row)",
)
_MODEL_NAME_HEADER = _header(
    "X-Model-Name",
    "the model to score with (default: the function's own model); SageMaker's "
    "X-Amzn-SageMaker-Target-Model is read too",
)
_HEADER_LENGTH = _header(
    "Inference-Header-Content-Length", "with binary tensor data: the length of the JSON part"
)

#: Bodies every route that takes rows accepts.
_ROW_BODIES: dict[str, Any] = {
    "application/json": {"schema": _ref("MlflowRequest")},
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
_BINARY = {"schema": {"type": "string", "format": "binary"}}


def _get(
    operation_id: str,
    summary: str,
    schema: dict[str, Any],
    parameters: list[Any],
    errors: dict[str, Any],
    headers: bool = True,
) -> dict[str, Any]:
    """A read operation: a 200 of ``schema`` (with the model headers) and ``errors``."""
    ok: dict[str, Any] = {"description": summary, "content": _json_content(schema)}
    if headers:
        ok["headers"] = _MODEL_HEADERS
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": parameters,
            "responses": {"200": ok, **errors},
        }
    }


def _scoring(
    operation_id: str, summary: str, schema: str, parameters: list[Any], error_schema: str
) -> dict[str, Any]:
    """A route that scores rows: any row body, an answer in the format Accept asks for."""
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": parameters,
            "requestBody": {"required": True, "content": _ROW_BODIES},
            "responses": {
                "200": {
                    "description": "One prediction per row, in request order",
                    "headers": _MODEL_HEADERS,
                    "content": {
                        "application/json": {"schema": _ref(schema)},
                        "text/csv": {"schema": {"type": "string"}},
                        "application/jsonlines": {"schema": {"type": "string"}},
                    },
                },
                **_errors(error_schema, "400", "404", "406", "413", "415", "422", "503"),
            },
        }
    }


def _v2_infer(operation_id: str, *parameters: Any) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "summary": "Inference (JSON tensors, or the binary tensor extension)",
            "parameters": [*parameters, _HEADER_LENGTH],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _ref("V2InferenceRequest")},
                    "application/octet-stream": {
                        **_BINARY,
                        "description": "JSON, then each binary input's bytes in order",
                    },
                },
            },
            "responses": {
                "200": {
                    "description": "Outputs predict and (classifiers) predict_proba",
                    "headers": _MODEL_HEADERS,
                    "content": {
                        "application/json": {"schema": _ref("V2InferenceResponse")},
                        "application/octet-stream": _BINARY,
                    },
                },
                **_errors("V2Error", "400", "404", "413", "422", "503"),
            },
        }
    }


def _page(operation_id: str, summary: str, media_types: tuple[str, ...], *parameters: Any) -> Any:
    """A route of the try-it page: text (HTML, a script, a style sheet), or a JSON error."""
    missing = {
        "description": "No such asset; a model this function does not serve; or a report "
        "that does not exist (yet)",
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    responses: dict[str, Any] = {
        "200": {
            "description": summary,
            "content": {media_type: {"schema": {"type": "string"}} for media_type in media_types},
        },
    }
    if parameters:
        responses.update({"404": missing, **_errors("Error", "503")})
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": list(parameters),
            "responses": responses,
        }
    }


_HTML = ("text/html",)
_MODEL_CARD: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version", "task", "features", "metrics", "limits", "links"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "created_at": {"type": ["string", "null"]},
        "task": {"enum": ["regression", "classification"]},
        "target": {"type": ["string", "null"]},
        "estimator": {"type": ["string", "null"]},
        "classes": {"type": ["array", "null"]},
        "features": {
            "type": "array",
            "description": "the schema's columns, in model order (numeric ones with min, "
            "max and median; categorical ones with their categories)",
            "items": {"type": "object", "required": ["name", "kind", "nullable"]},
        },
        "metrics": {"type": "object"},
        "importance": {
            "type": ["array", "null"],
            "description": "holdout permutation importance of each column, largest first",
        },
        "image": {
            "type": ["object", "null"],
            "description": "the pixel grid of a model whose columns are p_<row>_<column>",
        },
        "limits": {
            "type": "object",
            "required": ["max_rows", "max_bytes"],
            "properties": {
                "max_rows": {"type": "integer"},
                "max_bytes": {"type": "integer"},
                "error_details": {
                    "type": "integer",
                    "description": "the most problems one 422 lists",
                },
            },
        },
        "links": {
            "type": "object",
            "required": ["predict", "report", "drift"],
            "description": "paths relative to the API's root",
            "properties": {
                "predict": {"type": "string"},
                "report": {"type": ["string", "null"]},
                "drift": {"type": ["string", "null"]},
            },
        },
    },
}
_ASSET = {
    "name": "file",
    "in": "path",
    "required": True,
    "description": "one of the page's assets",
    "schema": {"enum": ["try.js", "try.css"]},
}

_HEALTH = {
    "type": "object",
    "required": ["status", "model"],
    "properties": {"status": {"const": "ok"}, "model": _MODEL_REF},
}
_READY = {
    "type": "object",
    "required": ["ready"],
    "properties": {"name": {"type": "string"}, "ready": {"const": True}},
}
_TENSOR_METADATA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}
_V2_NOT_SERVED = _errors("V2Error", "404", "503")

OPENAPI_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Serverless Predictor realtime API",
        "version": API_VERSION,
        "description": "Predictions from the model versions the served alias points at, "
        "in this API's own format, MLflow's and SageMaker's (/invocations) and the Open "
        "Inference Protocol (/v2).",
    },
    "paths": {
        # ----- this API's own routes
        "/predict": _scoring(
            "predict",
            "Predict for one or more rows with the function's own model",
            "Predictions",
            [_ACCEPT],
            "Error",
        ),
        "/models/{name}/predict": _scoring(
            "predictWithModel",
            "Predict with a named model (at the function's alias)",
            "Predictions",
            [_NAME, _ACCEPT],
            "Error",
        ),
        "/models": _get(
            "listModels",
            "The models this function can serve, the default first",
            _ref("ModelList"),
            [],
            _errors("Error", "503"),
            headers=False,
        ),
        "/models/{name}": _get(
            "describeNamedModel",
            "A served model's schema, classes, metrics and versions",
            {"type": "object"},
            [_NAME],
            _errors("Error", "404", "503"),
        ),
        "/model": _get(
            "describeModel",
            "The served model's schema, classes, metrics and versions",
            {"type": "object"},
            [],
            _errors("Error", "503"),
        ),
        "/health": _get(
            "health", "Whether a model is loaded, and which", _HEALTH, [], _errors("Error", "503")
        ),
        "/openapi.json": _get(
            "openapi", "This document", {"type": "object"}, [], {}, headers=False
        ),
        # ----- the try-it page
        "/": {
            **_page("tryPage", "The try-it page (HTML; its script and style under /assets)", _HTML),
            **_scoring(
                "predictAtRoot",
                "POST /predict's answer at the root, as the tutorials' Flask apps serve it",
                "Predictions",
                [_ACCEPT],
                "Error",
            ),
        },
        "/assets/{file}": _page(
            "pageAsset", "The page's script or style sheet", ("text/javascript", "text/css"), _ASSET
        ),
        "/models/{name}/card": _get(
            "modelCard",
            "What the page shows of a model: facts, form fields, limits, report links",
            _MODEL_CARD,
            [_NAME],
            _errors("Error", "404", "503"),
        ),
        "/models/{name}/report": _page(
            "trainingReport", "The served version's training report", _HTML, _NAME
        ),
        "/models/{name}/drift": _page(
            "driftReport", "The model's latest drift report", _HTML, _NAME
        ),
        # ----- MLflow and SageMaker
        "/invocations": _scoring(
            "invocations",
            "MLflow's scoring protocol (SageMaker's Accept conventions)",
            "MlflowPredictions",
            [_MODEL_NAME_HEADER, _ACCEPT],
            "MlflowError",
        ),
        "/ping": _get(
            "ping",
            "200 when the default model is loaded",
            _HEALTH,
            [],
            _errors("MlflowError", "503"),
        ),
        # ----- the Open Inference Protocol (KServe V2)
        "/v2": _get("v2ServerMetadata", "Server metadata", _ref("V2Server"), [], {}, headers=False),
        "/v2/health/live": _get(
            "v2Live", "The server is live", {"type": "object"}, [], {}, headers=False
        ),
        "/v2/health/ready": _get(
            "v2Ready", "The default model is loaded", _READY, [], _V2_NOT_SERVED, headers=False
        ),
        "/v2/models/{name}": _get(
            "v2ModelMetadata", "A model's tensors", _ref("V2ModelMetadata"), [_NAME], _V2_NOT_SERVED
        ),
        "/v2/models/{name}/ready": _get(
            "v2ModelReady", "The model loads", _READY, [_NAME], _V2_NOT_SERVED
        ),
        "/v2/models/{name}/infer": _v2_infer("v2Infer", _NAME),
        "/v2/models/{name}/versions/{version}": _get(
            "v2ModelVersionMetadata",
            "A version's tensors",
            _ref("V2ModelMetadata"),
            [_NAME, _VERSION],
            _V2_NOT_SERVED,
        ),
        "/v2/models/{name}/versions/{version}/ready": _get(
            "v2ModelVersionReady", "The version loads", _READY, [_NAME, _VERSION], _V2_NOT_SERVED
        ),
        "/v2/models/{name}/versions/{version}/infer": _v2_infer("v2InferVersion", _NAME, _VERSION),
    },
    "components": {
        "schemas": {
            "MlflowRequest": {
                "type": "object",
                "description": "exactly one of dataframe_split, dataframe_records, instances, "
                "inputs or feature_array, and optionally params",
                "properties": {
                    "dataframe_split": {
                        "type": "object",
                        "required": ["data"],
                        "additionalProperties": False,
                        "properties": {
                            "columns": {
                                "type": "array",
                                "items": {"type": "string"},
                                "uniqueItems": True,
                                "description": "without columns, rows are in the model's "
                                "column order",
                            },
                            "data": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "array", "items": _CELL},
                            },
                            "index": {"type": "array"},
                        },
                    },
                    "dataframe_records": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "object", "additionalProperties": _CELL},
                    },
                    "instances": {
                        "type": "array",
                        "minItems": 1,
                        "description": "objects (by name), lists (in the model's column "
                        "order) or single values (a one-column model)",
                    },
                    "inputs": {
                        "type": ["object", "array"],
                        "description": "columns: {name: [values...]} (or one value each: a "
                        "row); or a list, as instances",
                    },
                    "feature_array": {
                        "type": "array",
                        "minItems": 1,
                        "description": "one row of values in the model's column order (the "
                        "request the wine tutorial's Flask app reads), or a list of such rows",
                    },
                    "params": {"type": "object"},
                },
                "additionalProperties": False,
                "minProperties": 1,
                "oneOf": [
                    {"required": ["dataframe_split"]},
                    {"required": ["dataframe_records"]},
                    {"required": ["instances"]},
                    {"required": ["inputs"]},
                    {"required": ["feature_array"]},
                ],
            },
            "Predictions": {
                "type": "object",
                "required": ["model", "predictions"],
                "properties": {
                    "model": _MODEL_REF,
                    "predictions": {"type": "array", "items": {"type": ["number", "string"]}},
                    "probabilities": {
                        "type": "array",
                        "items": {"type": "object", "additionalProperties": {"type": "number"}},
                    },
                    "ignored_columns": {
                        "type": "array",
                        "items": {"type": "string"},
                        "maxItems": 100,
                        "description": "columns of the request the model does not use "
                        "(the first 100; ignored_columns_count counts them all)",
                    },
                    "ignored_columns_count": {"type": "integer", "minimum": 1},
                    "ignored_params": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "MLflow params the request carried: no model here takes any",
                    },
                },
            },
            "MlflowPredictions": {
                "type": "object",
                "required": ["predictions", "model"],
                "properties": {
                    "predictions": {"type": "array", "items": {"type": ["number", "string"]}},
                    "model": _MODEL_REF,
                    "ignored_columns": {"type": "array", "items": {"type": "string"}},
                    "ignored_columns_count": {"type": "integer", "minimum": 1},
                    "ignored_params": {"type": "array", "items": {"type": "string"}},
                },
            },
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": _ERROR_OBJECT},
            },
            "MlflowError": {
                "type": "object",
                "required": ["error_code", "message", "error"],
                "properties": {
                    "error_code": {"type": "string"},
                    "message": {"type": "string"},
                    "error": _ERROR_OBJECT,
                },
            },
            "ModelList": {
                "type": "object",
                "required": ["models"],
                "properties": {
                    "models": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "alias", "default", "loaded_version"],
                            "properties": {
                                "name": {"type": "string"},
                                "alias": {"type": "string"},
                                "default": {"type": "boolean"},
                                "loaded_version": {"type": ["string", "null"]},
                            },
                        },
                    },
                    "not_served": {
                        "type": "array",
                        "description": "Models this function may serve that it cannot now",
                        "items": {
                            "type": "object",
                            "required": ["name", "reason"],
                            "properties": {
                                "name": {"type": "string"},
                                "reason": {"type": "string"},
                            },
                        },
                    },
                },
            },
            "V2Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            },
            "V2Server": {
                "type": "object",
                "required": ["name", "version", "extensions"],
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    "extensions": {"type": "array", "items": {"type": "string"}},
                },
            },
            "V2ModelMetadata": {
                "type": "object",
                "required": ["name", "platform", "inputs", "outputs"],
                "properties": {
                    "name": {"type": "string"},
                    "versions": {"type": "array", "items": {"type": "string"}},
                    "platform": {"type": "string"},
                    "inputs": {"type": "array", "items": _TENSOR_METADATA},
                    "outputs": {"type": "array", "items": _TENSOR_METADATA},
                },
            },
            "V2InferenceRequest": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string", "maxLength": 256},
                    "parameters": {"type": "object"},
                    "inputs": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "shape", "datatype"],
                            "properties": {
                                "name": {"type": "string"},
                                "shape": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 2,
                                    "items": {"type": "integer", "minimum": 0},
                                },
                                "datatype": {"enum": list(DATATYPES)},
                                "parameters": {"type": "object"},
                                "data": {"type": "array"},
                            },
                        },
                    },
                    "outputs": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {"enum": ["predict", "predict_proba"]},
                                "parameters": {"type": "object"},
                            },
                        },
                    },
                },
            },
            "V2InferenceResponse": {
                "type": "object",
                "required": ["model_name", "outputs"],
                "properties": {
                    "model_name": {"type": "string"},
                    "model_version": {"type": "string"},
                    "id": {"type": "string"},
                    "outputs": {"type": "array", "items": _TENSOR_METADATA},
                },
            },
        }
    },
}
