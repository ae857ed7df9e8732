"""The OpenAPI 3.1 document of the realtime API, served at ``GET /openapi.json``.

Written out rather than generated: powertools generates OpenAPI only with pydantic
validation, which would add a dependency and ~60 µs to every request for checks the
schema validator already makes (it knows each model's columns, which OpenAPI cannot).
"""

from __future__ import annotations

from typing import Any

_CELL: dict[str, Any] = {"type": ["number", "string", "boolean", "null"]}

_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
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
    },
}

_MODEL_REF: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version"],
    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_ERRORS = {
    "400": _error_response("Malformed body (not JSON/CSV, wrong shape, bad base64)"),
    "413": _error_response("More rows or bytes than the configured limits"),
    "415": _error_response("Unsupported content type"),
    "422": _error_response("Rows that do not fit the model's schema (row and column named)"),
    "503": _error_response("No model can be served"),
}

_MODEL_HEADERS = {
    "X-Model-Name": {"schema": {"type": "string"}, "description": "served model"},
    "X-Model-Version": {"schema": {"type": "string"}, "description": "served version"},
}

#: The version of this API (the document's and ``GET /v2``'s).
API_VERSION = "1.1.0"

OPENAPI_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Serverless Predictor realtime API",
        "version": API_VERSION,
        "description": "Predictions from the model version the served alias points at.",
    },
    "paths": {
        "/predict": {
            "post": {
                "operationId": "predict",
                "summary": "Predict for one or more rows",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/Instances"},
                                    {"$ref": "#/components/schemas/DataframeSplit"},
                                ]
                            }
                        },
                        "text/csv": {
                            "schema": {"type": "string"},
                            "example": "col_a,col_b\n1.5,red\n",
                        },
                    },
                },
                "responses": {
                    "200": {
                        "description": "One prediction per row, in request order",
                        "headers": _MODEL_HEADERS,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Predictions"}
                            }
                        },
                    },
                    **_ERRORS,
                },
            }
        },
        "/model": {
            "get": {
                "operationId": "describeModel",
                "summary": "The served model's schema, classes, metrics and versions",
                "responses": {
                    "200": {
                        "description": "Public part of the manifest",
                        "headers": _MODEL_HEADERS,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "503": _ERRORS["503"],
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Whether a model is loaded, and which",
                "responses": {
                    "200": {
                        "description": "A model is being served",
                        "headers": _MODEL_HEADERS,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["status", "model"],
                                    "properties": {
                                        "status": {"const": "ok"},
                                        "model": _MODEL_REF,
                                    },
                                }
                            }
                        },
                    },
                    "503": _ERRORS["503"],
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1 document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Instances": {
                "type": "object",
                "required": ["instances"],
                "additionalProperties": False,
                "properties": {
                    "instances": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "object", "additionalProperties": _CELL},
                    }
                },
            },
            "DataframeSplit": {
                "type": "object",
                "required": ["dataframe_split"],
                "additionalProperties": False,
                "properties": {
                    "dataframe_split": {
                        "type": "object",
                        "required": ["columns", "data"],
                        "additionalProperties": False,
                        "properties": {
                            "columns": {
                                "type": "array",
                                "items": {"type": "string"},
                                "uniqueItems": True,
                            },
                            "data": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "array", "items": _CELL},
                            },
                            "index": {"type": "array"},
                        },
                    }
                },
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
                },
            },
            "Error": _ERROR,
        }
    },
}


# ----- many models, MLflow/SageMaker, Open Inference Protocol ----------------------------
_NAME_PARAMETER: dict[str, Any] = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "a registry model this function serves (GET /models lists them)",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"},
}
_VERSION_PARAMETER: dict[str, Any] = {
    "name": "version",
    "in": "path",
    "required": True,
    "description": "a registry version of the model",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"},
}
_ACCEPT_PARAMETER: dict[str, Any] = {
    "name": "Accept",
    "in": "header",
    "required": False,
    "description": "application/json (default), text/csv (one prediction per line) or "
    "application/jsonlines (one object per row)",
    "schema": {"type": "string"},
}
_MODEL_NAME_HEADER: dict[str, Any] = {
    "name": "X-Model-Name",
    "in": "header",
    "required": False,
    "description": "the model to score with (default: the function's own model); "
    "SageMaker's X-Amzn-SageMaker-Target-Model is read too",
    "schema": {"type": "string"},
}

#: Bodies every scoring route of the row formats accepts.
_ROW_BODIES: dict[str, Any] = {
    "application/json": {"schema": {"$ref": "#/components/schemas/MlflowRequest"}},
    "text/csv": {
        "schema": {"type": "string"},
        "example": "col_a,col_b\n1.5,red\n",
        "description": "with a header row; without one (the first row names no column), "
        "every row is read in the model's column order",
    },
    "application/jsonlines": {
        "schema": {"type": "string"},
        "example": '{"col_a": 1.5, "col_b": "red"}\n[2.5, "blue"]\n',
        "description": "one JSON object (by name) or array (in column order) per line",
    },
}
_ROW_RESPONSES_TEXT: dict[str, Any] = {
    "text/csv": {"schema": {"type": "string"}},
    "application/jsonlines": {"schema": {"type": "string"}},
}
_ERRORS_406 = {"406": _error_response("No response format the Accept header allows")}
_ERRORS_404 = {"404": _error_response("A model or version this function does not serve")}


def _scoring(operation_id: str, summary: str, schema: str, parameters: list[Any]) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "parameters": parameters,
        "requestBody": {"required": True, "content": _ROW_BODIES},
        "responses": {
            "200": {
                "description": "One prediction per row, in request order",
                "headers": _MODEL_HEADERS,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}},
                    **_ROW_RESPONSES_TEXT,
                },
            },
            **_ERRORS,
            **_ERRORS_404,
            **_ERRORS_406,
        },
    }


def _v2_error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/V2Error"}}},
    }


_V2_ERRORS = {
    "400": _v2_error("A request the protocol does not allow (the message says why)"),
    "404": _v2_error("A model or version this function does not serve"),
    "413": _v2_error("More rows or bytes than the configured limits"),
    "422": _v2_error("Values that do not fit the model's schema (row and column named)"),
    "503": _v2_error("The model cannot be loaded now"),
}


def _v2_get(operation_id: str, summary: str, schema: dict[str, Any], *params: Any) -> Any:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": list(params),
            "responses": {
                "200": {
                    "description": summary,
                    "content": {"application/json": {"schema": schema}},
                },
                "404": _V2_ERRORS["404"],
                "503": _V2_ERRORS["503"],
            },
        }
    }


def _v2_infer(operation_id: str, *params: Any) -> Any:
    return {
        "post": {
            "operationId": operation_id,
            "summary": "Inference (JSON tensors, or the binary tensor extension)",
            "parameters": [
                *params,
                {
                    "name": "Inference-Header-Content-Length",
                    "in": "header",
                    "required": False,
                    "description": "with binary tensor data: the length of the JSON part",
                    "schema": {"type": "string"},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/V2InferenceRequest"}
                    },
                    "application/octet-stream": {
                        "schema": {"type": "string", "format": "binary"},
                        "description": "JSON, then each binary input's bytes in order",
                    },
                },
            },
            "responses": {
                "200": {
                    "description": "Outputs predict and (classifiers) predict_proba",
                    "headers": _MODEL_HEADERS,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/V2InferenceResponse"}
                        },
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                    },
                },
                **_V2_ERRORS,
            },
        }
    }


_READY = {
    "type": "object",
    "required": ["ready"],
    "properties": {"name": {"type": "string"}, "ready": {"const": True}},
}
_V2_METADATA = {"$ref": "#/components/schemas/V2ModelMetadata"}
_TENSOR_META: dict[str, Any] = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}
_V2_DATATYPES = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]

OPENAPI_DOCUMENT["paths"].update(
    {
        "/models": {
            "get": {
                "operationId": "listModels",
                "summary": "The models this function can serve, the default first",
                "responses": {
                    "200": {
                        "description": "Servable models",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ModelList"}
                            }
                        },
                    },
                    "503": _ERRORS["503"],
                },
            }
        },
        "/models/{name}": {
            "get": {
                "operationId": "describeNamedModel",
                "summary": "A served model's schema, classes, metrics and versions",
                "parameters": [_NAME_PARAMETER],
                "responses": {
                    "200": {
                        "description": "Public part of the manifest",
                        "headers": _MODEL_HEADERS,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_ERRORS_404,
                    "503": _ERRORS["503"],
                },
            }
        },
        "/models/{name}/predict": {
            "post": _scoring(
                "predictWithModel",
                "Predict with a named model (at the function's alias)",
                "Predictions",
                [_NAME_PARAMETER, _ACCEPT_PARAMETER],
            )
        },
        "/invocations": {
            "post": _scoring(
                "invocations",
                "MLflow's scoring protocol (SageMaker's Accept conventions)",
                "MlflowPredictions",
                [_MODEL_NAME_HEADER, _ACCEPT_PARAMETER],
            )
        },
        "/ping": {
            "get": {
                "operationId": "ping",
                "summary": "200 when the default model is loaded",
                "responses": {
                    "200": {
                        "description": "A model is being served",
                        "headers": _MODEL_HEADERS,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "503": {
                        "description": "No model can be served",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/MlflowError"}
                            }
                        },
                    },
                },
            }
        },
        "/v2": _v2_get(
            "v2ServerMetadata", "Server metadata", {"$ref": "#/components/schemas/V2Server"}
        ),
        "/v2/health/live": _v2_get("v2Live", "The server is live", {"type": "object"}),
        "/v2/health/ready": _v2_get("v2Ready", "The default model is loaded", _READY),
        "/v2/models/{name}": _v2_get(
            "v2ModelMetadata", "A model's tensors", _V2_METADATA, _NAME_PARAMETER
        ),
        "/v2/models/{name}/ready": _v2_get(
            "v2ModelReady", "The model loads", _READY, _NAME_PARAMETER
        ),
        "/v2/models/{name}/infer": _v2_infer("v2Infer", _NAME_PARAMETER),
        "/v2/models/{name}/versions/{version}": _v2_get(
            "v2ModelVersionMetadata",
            "A version's tensors",
            _V2_METADATA,
            _NAME_PARAMETER,
            _VERSION_PARAMETER,
        ),
        "/v2/models/{name}/versions/{version}/ready": _v2_get(
            "v2ModelVersionReady", "The version loads", _READY, _NAME_PARAMETER, _VERSION_PARAMETER
        ),
        "/v2/models/{name}/versions/{version}/infer": _v2_infer(
            "v2InferVersion", _NAME_PARAMETER, _VERSION_PARAMETER
        ),
    }
)
OPENAPI_DOCUMENT["paths"]["/predict"]["post"]["parameters"] = [_ACCEPT_PARAMETER]
OPENAPI_DOCUMENT["paths"]["/predict"]["post"]["requestBody"]["content"] = _ROW_BODIES
OPENAPI_DOCUMENT["paths"]["/predict"]["post"]["responses"]["200"]["content"].update(
    _ROW_RESPONSES_TEXT
)
OPENAPI_DOCUMENT["paths"]["/predict"]["post"]["responses"].update(_ERRORS_406)

_SCHEMAS = OPENAPI_DOCUMENT["components"]["schemas"]
_SCHEMAS["Predictions"]["properties"]["ignored_params"] = {
    "type": "array",
    "items": {"type": "string"},
    "description": "MLflow params the request carried: no model here takes any",
}
_SCHEMAS.update(
    {
        "MlflowRequest": {
            "type": "object",
            "description": "exactly one of dataframe_split, dataframe_records, instances "
            "or inputs, and optionally params",
            "properties": {
                "dataframe_split": _SCHEMAS["DataframeSplit"]["properties"]["dataframe_split"],
                "dataframe_records": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "object", "additionalProperties": _CELL},
                },
                "instances": {
                    "type": "array",
                    "minItems": 1,
                    "description": "objects (by name), lists (in the model's column order) "
                    "or single values (a one-column model)",
                },
                "inputs": {
                    "type": ["object", "array"],
                    "description": "columns: {name: [values...]} (or one value each: a row); "
                    "or a list, as instances",
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
            ],
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
        "MlflowError": {
            "type": "object",
            "required": ["error_code", "message", "error"],
            "properties": {
                "error_code": {"type": "string"},
                "message": {"type": "string"},
                "error": _ERROR["properties"]["error"],
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
                }
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
                "inputs": {"type": "array", "items": _TENSOR_META},
                "outputs": {"type": "array", "items": _TENSOR_META},
            },
        },
        "V2InferenceRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
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
                            "datatype": {"enum": _V2_DATATYPES},
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
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "datatype", "shape"],
                        "properties": {
                            "name": {"type": "string"},
                            "datatype": {"type": "string"},
                            "shape": {"type": "array", "items": {"type": "integer"}},
                            "data": {"type": "array"},
                            "parameters": {"type": "object"},
                        },
                    },
                },
            },
        },
    }
)
