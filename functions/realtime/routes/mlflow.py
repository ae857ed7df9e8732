"""MLflow's and SageMaker's routes: ``POST /invocations`` and ``GET /ping``."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from realtime import operations as op
from realtime.context import register_scoring
from realtime.routes import api, route
from realtime.routes.scoring import SCORING

router = Router()  # type: ignore[no-untyped-call]

register_scoring(router, SCORING["mlflow"])


@route(router, "GET", "/ping", op.get(
    "ping", "200 when the default model is loaded", op.HEALTH, [],
    op.errors("MlflowError", "503"),
))  # fmt: skip
def ping() -> Response[str]:
    """MLflow's and SageMaker's health check: ``GET /health``'s answer."""
    response: Response[str] = api.health()
    return response
