"""Property-based tests of the realtime API from its own OpenAPI document (schemathesis).

The document is fetched from the running handler (``GET /openapi.json``) through
:class:`infra.api_gateway.ApiGatewayApp`, which turns each generated request into the
API Gateway event the deployed function receives. Every operation gets positive
(schema-conforming) and negative (schema-violating) requests; each response must not be
a 5xx, must use a documented status code, must match the documented schema, and every
negative request must be refused with a 4xx.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from infra.api_gateway import ApiGatewayApp
from realtime import app
from tests.helpers import ROW

pytestmark = pytest.mark.integration

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
CASES_PER_OPERATION = 120


@pytest.fixture
def api_schema(wine: str) -> Any:
    """The OpenAPI document as the served API returns it, bound to the handler."""
    gateway = ApiGatewayApp(app.lambda_handler, app.container.get().settings.max_request_bytes)
    return schemathesis.openapi.from_wsgi("/openapi.json", gateway)


def _run(operation: Any, mode: GenerationMode) -> Counter[int]:
    """Run generated cases of one operation through every check; status codes seen."""
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=CASES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        response = case.call_and_validate(checks=CHECKS)
        statuses[response.status_code] += 1

    check()
    return statuses


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_predict_conforms_to_its_document(api_schema: Any, mode: GenerationMode) -> None:
    statuses = _run(api_schema["/predict"]["POST"], mode)
    print(f"POST /predict {mode}: {statuses.total()} cases, statuses {dict(statuses)}")
    assert statuses.total() >= 100


@pytest.mark.parametrize("path", ["/model", "/health", "/openapi.json"])
def test_read_operations_conform_to_their_document(api_schema: Any, path: str) -> None:
    # These take no parameters: the only request the document allows is the bare GET,
    # so hypothesis stops after it; it must be a documented 200.
    statuses = _run(api_schema[path]["GET"], GenerationMode.POSITIVE)
    assert set(statuses) == {200}


@pytest.mark.parametrize(
    ("media_type", "body"),
    [
        ("application/json", {"instances": [ROW, ROW]}),
        (
            "application/json",
            {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}},
        ),
        ("text/csv", ",".join(ROW) + "\n" + ",".join(str(v) for v in ROW.values()) + "\n"),
    ],
)
def test_valid_rows_get_documented_predictions(api_schema: Any, media_type: str, body: Any) -> None:
    # Generated bodies cannot know the model's column names; these can, so the 200
    # answer goes through the same checks.
    case = api_schema["/predict"]["POST"].Case(body=body, media_type=media_type)
    response = case.call_and_validate(checks=CHECKS)
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == (2 if "instances" in str(body) else 1)
