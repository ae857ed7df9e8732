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
