"""The OpenAPI 3.1 document of the realtime API, served at ``GET /openapi.json``.

Generated from the routes: each route declares its operation where it is declared
(:mod:`realtime.routes`), and the schemas its operations refer to are here. Written out
rather than taken from powertools' generator, which needs pydantic validation on every
request (~60 µs) for checks the schema validator already makes.
"""

from __future__ import annotations

import functools
from typing import Any

from predictor.protocols.open_inference.tensors import DATATYPES
from realtime.card import MODEL_CARD
from realtime.operations import (
    CELL,
    ERROR_OBJECT,
    INFERENCE_ID,
    MODEL_REF,
    STRING,
    TENSOR_METADATA,
    obj,
)

#: The version of this API (the document's and ``GET /v2``'s).
API_VERSION = "1.3.0"

#: The schemas the operations refer to (``#/components/schemas/<name>``).
COMPONENTS: dict[str, Any] = {
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
                            "description": "without columns, rows are in the model's column order",
                        },
                        "data": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "array", "items": CELL},
                        },
                        "index": {"type": "array"},
                    },
                },
                "dataframe_records": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "object", "additionalProperties": CELL},
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
            "required": ["model", "inference_id", "predictions"],
            "properties": {
                "model": MODEL_REF,
                "inference_id": INFERENCE_ID,
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
            "required": ["predictions", "model", "inference_id"],
            "properties": {
                "predictions": {"type": "array", "items": {"type": ["number", "string"]}},
                "model": MODEL_REF,
                "inference_id": INFERENCE_ID,
                "ignored_columns": {"type": "array", "items": {"type": "string"}},
                "ignored_columns_count": {"type": "integer", "minimum": 1},
                "ignored_params": {"type": "array", "items": {"type": "string"}},
            },
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": ERROR_OBJECT},
        },
        "MlflowError": obj(error_code=STRING, message=STRING, error=ERROR_OBJECT),
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
                    "items": obj(name=STRING, reason=STRING),
                },
            },
        },
        "V2Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        },
        "V2Server": obj(
            name=STRING,
            version=STRING,
            extensions={"type": "array", "items": STRING},
        ),
        "V2ModelMetadata": {
            "type": "object",
            "required": ["name", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": TENSOR_METADATA},
                "outputs": {"type": "array", "items": TENSOR_METADATA},
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
                "parameters": obj(inference_id=INFERENCE_ID),
                "outputs": {"type": "array", "items": TENSOR_METADATA},
            },
        },
        "ModelCard": MODEL_CARD,
    }
}


@functools.cache
def document() -> dict[str, Any]:
    """The whole document: every route's operation, by path (built once per container)."""
    # The route groups fill the table as they are imported: the handler imports them all.
    from realtime.routes import TABLE

    paths: dict[str, Any] = {}
    for route in TABLE:
        paths.setdefault(route.path, {}).update(route.operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Serverless Predictor realtime API",
            "version": API_VERSION,
            "description": "Predictions from the model versions the served alias points at, "
            "in this API's own format, MLflow's and SageMaker's (/invocations) and the Open "
            "Inference Protocol (/v2).",
        },
        "paths": paths,
        "components": COMPONENTS,
    }
