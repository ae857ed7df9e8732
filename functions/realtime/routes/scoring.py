"""The routes that score rows, declared once, without powertools.

A cold start's first prediction is answered from this table (:mod:`realtime.app`) before
powertools is imported. Each route group registers its own scoring routes with its
router (:func:`realtime.context.register_scoring`), which also puts them in
:data:`realtime.routes.TABLE`; every ``POST`` route of the API is one of these (a test).
"""

from __future__ import annotations

from predictor.protocols.mlflow import MLFLOW
from predictor.protocols.open_inference.codec import OPEN_INFERENCE
from predictor.protocols.own import OWN
from realtime import operations as op
from realtime.routes import Route, find_in

#: The scoring routes of each group (:mod:`.api`, :mod:`.mlflow`, :mod:`.v2`), in order.
SCORING: dict[str, tuple[Route, ...]] = {
    "api": (
        Route("POST", "/predict", op.scoring(
            "predict", "Predict for one or more rows with the function's own model",
            "Predictions", [op.ACCEPT], "Error",
        ), OWN),
        Route("POST", "/models/{name}/predict", op.scoring(
            "predictWithModel", "Predict with a named model (at the function's alias)",
            "Predictions", [op.NAME, op.ACCEPT], "Error",
        ), OWN),
        Route("POST", "/", op.scoring(
            "predictAtRoot",
            "POST /predict's answer at the root, as the tutorials' Flask apps serve it",
            "Predictions", [op.ACCEPT], "Error",
        ), OWN),
    ),
    "mlflow": (
        Route("POST", "/invocations", op.scoring(
            "invocations", "MLflow's scoring protocol (SageMaker's Accept conventions)",
            "MlflowPredictions", [op.MODEL_NAME_HEADER, op.ACCEPT], "MlflowError",
        ), MLFLOW),
    ),
    "v2": (
        Route("POST", "/v2/models/{name}/infer", op.v2_infer("v2Infer", op.NAME), OPEN_INFERENCE),
        Route("POST", "/v2/models/{name}/versions/{version}/infer",
              op.v2_infer("v2InferVersion", op.NAME, op.VERSION), OPEN_INFERENCE),
    ),
}  # fmt: skip

_ALL = tuple(declared for group in SCORING.values() for declared in group)


def scoring_route_of(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The scoring route of a request and its path parameters; None for any other route."""
    return find_in(_ALL, method, path)
