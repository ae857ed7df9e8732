"""Realtime scoring without transport: parsed columns in, a typed result out.

:func:`score_rows` validates every row with the model's schema (any invalid row fails
the request with a 422 listing each problem), predicts, and returns a
:class:`ScoringResult`; the handler turns it into the response document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from predictor.errors import MissingColumnsError, SchemaViolationError
from predictor.inference import NOT_FINITE_PREDICTION
from predictor.models.registry import LoadedModel
from predictor.rows import ParsedRequest, row_ids
from predictor.schema import Features
from predictor.serving.formats import ResponseFormat, csv_lines, json_lines
from predictor.values import shortened

#: How many row problems one error response lists (the message gives the total).
MAX_ERROR_DETAILS = 100
#: How many ignored column names one response lists (``ignored_columns_count`` has all).
MAX_IGNORED_LISTED = 100


@dataclass(frozen=True, slots=True)
class ScoringResult:
    """The predictions for one request's rows, in order, and what was ignored."""

    model_name: str
    model_version: str
    predictions: list[Any]
    #: For classifiers: one {class label: probability} per row.
    probabilities: list[dict[str, float]] | None
    ignored_columns: list[str]
    #: MLflow ``params`` the request carried (no model here takes any).
    ignored_params: tuple[str, ...] = ()
    #: The model input and the predictions as arrays (what monitoring counts).
    features: Features = field(default_factory=dict, repr=False)
    values: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    #: The id a label names these rows by (:func:`predictor.serving.messages.row_ids`).
    inference_id: str = ""
    #: For classifiers with probabilities: the probability matrix (one row per row).
    probability_values: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The response document of ``POST /predict``."""
        response: dict[str, Any] = {
            "model": {"name": self.model_name, "version": self.model_version},
            "inference_id": self.inference_id,
            "predictions": self.predictions,
        }
        if self.probabilities is not None:
            response["probabilities"] = self.probabilities
        return self._with_ignored(response)

    def to_mlflow_dict(self) -> dict[str, Any]:
        """The response document of ``POST /invocations``: MLflow's, plus the model."""
        return self._with_ignored(
            {
                "predictions": self.predictions,
                "model": {"name": self.model_name, "version": self.model_version},
                "inference_id": self.inference_id,
            }
        )

    def _with_ignored(self, response: dict[str, Any]) -> dict[str, Any]:
        if self.ignored_columns:
            response["ignored_columns"] = [
                shortened(name, MAX_ECHOED_NAME)
                for name in self.ignored_columns[:MAX_IGNORED_LISTED]
            ]
            response["ignored_columns_count"] = len(self.ignored_columns)
        if self.ignored_params:
            response["ignored_params"] = [
                shortened(name, MAX_ECHOED_NAME)
                for name in self.ignored_params[:MAX_IGNORED_LISTED]
            ]
        return response

    def render(self, fmt: ResponseFormat, document: dict[str, Any]) -> tuple[str, str]:
        """(body, content type) in ``fmt``; ``document`` is the route's JSON answer."""
        if fmt is ResponseFormat.CSV:
            return csv_lines(self.predictions), "text/csv"
        if fmt is ResponseFormat.JSONLINES:
            ids = row_ids(self.inference_id, len(self.predictions))
            return json_lines(self.predictions, self.probabilities, ids), "application/jsonlines"
        return json.dumps(document), "application/json"


#: Names echoed in a response are cut to this many characters (the request's own names
#: could otherwise make an answer larger than Lambda may return).
MAX_ECHOED_NAME = 200


def _echoed(names: Sequence[str]) -> list[str]:
    """The first names of a list a response echoes, each cut to MAX_ECHOED_NAME."""
    return [shortened(name, MAX_ECHOED_NAME) for name in names[:MAX_IGNORED_LISTED]]


def score_rows(model: LoadedModel, request: ParsedRequest, inference_id: str = "") -> ScoringResult:
    """Validate every row, predict them all; rows in errors are 0-based request positions."""
    schema = model.predictor.schema
    try:
        validated = schema.validate(request.columns, request.n_rows, text=request.text)
    except MissingColumnsError as exc:
        details = [
            {"row": None, "column": c, "reason": "required column is missing"} for c in exc.columns
        ]
        raise SchemaViolationError(
            str(exc), details, refused_rows=request.n_rows, refused_columns=exc.columns
        ) from exc
    if validated.errors:
        problems = validated.errors
        raise SchemaViolationError(
            f"{len(problems)} problem(s) in {request.n_rows - validated.accepted} of "
            f"{request.n_rows} row(s); no row was scored",
            [p.to_dict() for p in problems[:MAX_ERROR_DETAILS]],
            refused_rows=request.n_rows - validated.accepted,
            refused_columns=[p.column for p in problems],
        )
    predictions = model.predictor.predict(validated.features)
    overflowed = predictions.non_finite_rows()
    if len(overflowed):
        raise SchemaViolationError(
            f"{len(overflowed)} of {request.n_rows} row(s) have no finite prediction; "
            "no row was scored",
            [
                {"row": int(row), "column": None, "reason": NOT_FINITE_PREDICTION}
                for row in overflowed[:MAX_ERROR_DETAILS]
            ],
            refused_rows=len(overflowed),
            refused_columns=[None] * len(overflowed),
        )
    probabilities = None
    if predictions.probabilities is not None and predictions.classes is not None:
        labels = [str(c) for c in predictions.classes]
        probabilities = [
            dict(zip(labels, row, strict=True)) for row in predictions.probabilities.tolist()
        ]
    return ScoringResult(
        model.name,
        model.version,
        predictions.values.tolist(),
        probabilities,
        validated.extra_columns,
        request.ignored_params,
        validated.features,
        predictions.values,
        inference_id,
        predictions.probabilities if probabilities is not None else None,
    )


PUBLIC_MANIFEST_KEYS: Sequence[str] = (
    "name",
    "version",
    "created_at",
    "task",
    "target",
    "estimator",
    "schema",
    "classes",
    "metrics",
    "versions",
    "onnx",
    "importance",
)


def public_manifest(model: LoadedModel) -> dict[str, Any]:
    """The part of the manifest a client may see (no training data location)."""
    public = {key: model.manifest.get(key) for key in PUBLIC_MANIFEST_KEYS}
    # A classifier without predict_proba answers labels only: say so, never leave it implied.
    public["probabilities"] = model.predictor.has_probabilities
    return public
