"""Property-based tests of the realtime API from its own OpenAPI document (schemathesis).

The document is fetched from the running handler (``GET /openapi.json``) through
:class:`infra.api_gateway.ApiGatewayApp`, which turns each generated request into the
API Gateway event the deployed function receives. Every operation gets positive
(schema-conforming) and negative (schema-violating) requests; each response must not be
a 5xx, must use a documented status code, must match the documented schema, and every
negative request must be refused with a 4xx.
"""

from __future__ import annotations

import re
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
from realtime import app, routed
from realtime.openapi import document
from tests.helpers import ROW

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


def _run(
    operation: Any,
    mode: GenerationMode,
    examples: int = CASES_PER_OPERATION,
    path_parameters: dict[str, str] | None = None,
) -> Counter[int]:
    """Run generated cases of one operation through every check; status codes seen."""
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        checks = CHECKS
        if path_parameters and case.path_parameters:
            case.path_parameters.update(path_parameters)  # a served model, not a random name
            # The violation may have been in the path: the rest of the request is judged.
            checks = [c for c in CHECKS if c is not negative_data_rejection]
        response = case.call_and_validate(checks=checks)
        statuses[response.status_code] += 1

    check()
    return statuses


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


#: The other protocols' operations: (path, method); each runs positive and negative cases.
OTHER_OPERATIONS = [
    ("/models/{name}/predict", "POST"),
    ("/invocations", "POST"),
    ("/v2/models/{name}/infer", "POST"),
    ("/v2/models/{name}/versions/{version}/infer", "POST"),
    ("/models/{name}", "GET"),
    ("/v2/models/{name}", "GET"),
    ("/v2/models/{name}/ready", "GET"),
    ("/v2/models/{name}/versions/{version}", "GET"),
    ("/v2/models/{name}/versions/{version}/ready", "GET"),
]


@pytest.mark.parametrize(("path", "method"), OTHER_OPERATIONS)
def test_every_other_operation_conforms_to_its_document(
    api_schema: Any, wine: str, path: str, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVED_MODELS", "*")
    app.container.reset()
    seen: Counter[int] = Counter()
    served = {"name": "wine", "version": wine}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        seen += _run(api_schema[path][method], mode, examples=30)
        seen += _run(api_schema[path][method], mode, examples=30, path_parameters=served)
    print(f"{method} {path}: {seen.total()} cases, statuses {dict(seen)}")
    assert seen.total() >= 20
    assert all(status < 500 for status in seen)


@pytest.mark.parametrize("path", ["/models", "/ping", "/v2", "/v2/health/live", "/v2/health/ready"])
def test_the_other_read_operations_conform(api_schema: Any, path: str) -> None:
    statuses = _run(api_schema[path]["GET"], GenerationMode.POSITIVE)
    assert set(statuses) == {200}


def test_every_route_is_documented() -> None:
    documented = {
        f"{method.upper()} {path}" for path, item in document()["paths"].items() for method in item
    }
    registered = routed.app._route_keys
    routes = {re.sub(r"<(\w+)>", r"{\1}", key.replace("/", " /", 1)) for key in registered}
    assert documented == routes
