"""The realtime handler driven with API Gateway events against moto S3 and a real model."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import pytest

from infra.lambda_context import LambdaContext
from predictor.serving import pipeline
from realtime import app
from realtime import context as realtime_context
from tests.helpers import ROW, Artifacts, instances, invoke, load_event, post
from training.registry_admin import ModelRegistry


# ----- the events/ files --------------------------------------------------------------
def test_json_event(wine: str, lambda_context: LambdaContext) -> None:
    status, body, headers = invoke(load_event("realtime_predict_json.json"), lambda_context)
    assert status == 200
    assert body["model"] == {"name": "wine", "version": wine}
    assert headers["X-Model-Version"] == wine
    assert headers["X-Model-Name"] == "wine"
    assert len(body["predictions"]) == 2
    assert all(3 <= p <= 8 for p in body["predictions"])
    assert "probabilities" not in body


def test_csv_and_dataframe_split_events_agree_with_json(
    wine: str, lambda_context: LambdaContext
) -> None:
    _, from_json, _ = invoke(load_event("realtime_predict_json.json"), lambda_context)
    csv_status, from_csv, _ = invoke(load_event("realtime_predict_csv.json"), lambda_context)
    split_status, from_split, _ = invoke(
        load_event("realtime_predict_dataframe_split.json"), lambda_context
    )
    assert (csv_status, split_status) == (200, 200)
    assert from_csv["predictions"] == pytest.approx(from_json["predictions"], rel=1e-6)
    assert from_split["predictions"] == from_json["predictions"]


def test_malformed_event(wine: str, lambda_context: LambdaContext) -> None:
    status, body, _ = invoke(load_event("realtime_predict_malformed.json"), lambda_context)
    assert status == 400
    assert body["error"]["type"] == "malformed_request"
    assert "not valid JSON" in body["error"]["message"]


def test_model_event(wine: str, lambda_context: LambdaContext) -> None:
    status, body, headers = invoke(load_event("realtime_get_model.json"), lambda_context)
    assert status == 200
    assert body["version"] == wine == headers["X-Model-Version"]
    assert body["task"] == "regression"
    assert body["schema"][0]["name"] == "fixed acidity"
    assert "holdout" in body["metrics"]
    assert "training" not in body  # where the data came from stays private


def test_health_event(wine: str, lambda_context: LambdaContext) -> None:
    status, body, _ = invoke(load_event("realtime_get_health.json"), lambda_context)
    assert (status, body) == (200, {"status": "ok", "model": {"name": "wine", "version": wine}})


# ----- generated requests --------------------------------------------------------------
def test_unsupported_content_type(wine: str, lambda_context: LambdaContext) -> None:
    status, body, _ = invoke(
        post("fixed acidity=7", "application/x-www-form-urlencoded"), lambda_context
    )
    assert status == 415
    assert body["error"]["type"] == "unsupported_media_type"
    status, _, _ = invoke(post(instances(ROW), None), lambda_context)
    assert status == 415


def test_content_type_parameters_are_accepted(wine: str, lambda_context: LambdaContext) -> None:
    status, _, _ = invoke(post(instances(ROW), "application/json; charset=utf-8"), lambda_context)
    assert status == 200


def test_one_row_of_many_keys_answers_as_the_row_alone(
    wine: str, lambda_context: LambdaContext
) -> None:
    # Past a few hundred keys a single row's columns are built only as the schema asks.
    wide = {**{f"extra {i}": i for i in range(1000)}, **ROW}
    _, alone, _ = invoke(post(instances(ROW)), lambda_context)
    status, body, _ = invoke(post(instances(wide)), lambda_context)
    assert status == 200
    assert body["predictions"] == alone["predictions"]
    status, body, _ = invoke(post(instances({**wide, "pH": "low"})), lambda_context)
    assert status == 422
    assert [(d["row"], d["column"]) for d in body["error"]["details"]] == [(0, "pH")]


def test_row_problems_name_row_column_and_reason(wine: str, lambda_context: LambdaContext) -> None:
    bad = [dict(ROW), {**ROW, "alcohol": "strong"}, {**ROW, "pH": None}, {**ROW, "density": 1e309}]
    status, body, headers = invoke(post(instances(*bad)), lambda_context)
    assert status == 422
    assert headers["X-Model-Version"] == wine
    details = {(d["row"], d["column"]) for d in body["error"]["details"]}
    assert details == {(1, "alcohol"), (2, "pH"), (3, "density")}
    assert "3 of 4 row(s)" in body["error"]["message"]


def test_nan_and_infinity_tokens_are_client_errors(
    wine: str, lambda_context: LambdaContext
) -> None:
    for token in ("NaN", "Infinity", "-Infinity"):
        text = instances(ROW).replace('"alcohol": 9.4', f'"alcohol": {token}')
        status, body, _ = invoke(post(text), lambda_context)
        assert status == 422, token
        assert body["error"]["details"][0]["column"] == "alcohol"


def test_missing_column_is_a_422(wine: str, lambda_context: LambdaContext) -> None:
    row = {k: v for k, v in ROW.items() if k != "pH"}
    status, body, _ = invoke(post(instances(row)), lambda_context)
    assert status == 422
    assert body["error"]["details"] == [
        {"row": None, "column": "pH", "reason": "required column is missing"}
    ]


def test_extra_columns_are_ignored_and_listed(wine: str, lambda_context: LambdaContext) -> None:
    status, body, _ = invoke(post(instances({**ROW, "vineyard": "north"})), lambda_context)
    assert status == 200
    assert body["ignored_columns"] == ["vineyard"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("", "not valid JSON"),
        ("[1, 2]", "exactly one of"),
        ('{"instances": [], "dataframe_split": {}}', "exactly one of"),
        ('{"instances": {}}', "list of rows"),
        ('{"instances": [1, {"a": 1}]}', "is an object among single values"),
        ('{"instances": [[1], {"a": 1}]}', "is not a list"),
        ('{"instances": []}', "no rows"),
        ('{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}', "list of 2 values"),
        ('{"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}', "duplicate"),
        ('{"dataframe_split": {"columns": [1], "data": [[1]]}}', "list of strings"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_malformed_json_shapes(
    wine: str, lambda_context: LambdaContext, body: str, fragment: str
) -> None:
    status, answer, _ = invoke(post(body), lambda_context)
    assert status == 400
    assert fragment in answer["error"]["message"]


def test_ragged_csv_and_bad_base64_and_bad_utf8(wine: str, lambda_context: LambdaContext) -> None:
    status, body, _ = invoke(post("alcohol,b\n1,2,3\n", "text/csv"), lambda_context)
    assert (status, body["error"]["type"]) == (422, "schema_violation")
    assert body["error"]["details"][0]["reason"] == "row has 3 values; the header has 2"
    event = post(instances(ROW))
    event["isBase64Encoded"], event["body"] = True, "not*base64!"
    status, body, _ = invoke(event, lambda_context)
    assert status == 400
    assert "base64" in body["error"]["message"]
    status, body, _ = invoke(post(b"\xff\xfe{}", b64=True), lambda_context)
    assert status == 400
    assert "UTF-8" in body["error"]["message"]
    # a compressed body is named as such, not as bytes that are not UTF-8
    event = post(gzip.compress(instances(ROW).encode()), b64=True)
    event["headers"]["content-encoding"] = "gzip"
    status, body, _ = invoke(event, lambda_context)
    assert (status, body["error"]["type"]) == (415, "unsupported_media_type")
    assert "Content-Encoding 'gzip' is not supported" in body["error"]["message"]


def test_row_and_byte_limits(
    wine: str, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_REQUEST_ROWS", "3")
    monkeypatch.setenv("MAX_REQUEST_BYTES", "2000")
    app.container.reset()
    status, body, _ = invoke(post(instances(*[ROW] * 4)), lambda_context)
    assert (status, body["error"]["type"]) == (413, "payload_too_large")
    status, _, _ = invoke(post(instances(*[ROW] * 3)), lambda_context)
    assert status == 200
    big = instances({**ROW, "note": "x" * 3000})
    assert invoke(post(big), lambda_context)[0] == 413
    assert invoke(post(big, b64=True), lambda_context)[0] == 413


def test_no_model_is_a_503(serve: ModelRegistry, lambda_context: LambdaContext) -> None:
    status, body, _ = invoke(load_event("realtime_get_health.json"), lambda_context)
    assert (status, body["error"]["type"]) == (503, "model_unavailable")
    assert invoke(load_event("realtime_predict_json.json"), lambda_context)[0] == 503


def test_unknown_route_is_a_json_404(wine: str, lambda_context: LambdaContext) -> None:
    event = load_event("realtime_get_health.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/admin"
    status, body, _ = invoke(event, lambda_context)
    assert (status, body["error"]["type"]) == (404, "not_found")


def test_openapi_document_lists_every_route(wine: str, lambda_context: LambdaContext) -> None:
    event = load_event("realtime_get_health.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/openapi.json"
    status, body, _ = invoke(event, lambda_context)
    assert status == 200
    assert body["openapi"].startswith("3.1")
    # Every route is in it (test_openapi_conformance compares it with the router's).
    assert {"/predict", "/model", "/health", "/openapi.json", "/invocations", "/ping"} <= set(
        body["paths"]
    )
    assert "/v2/models/{name}/versions/{version}/infer" in body["paths"]


def test_our_failures_are_500_without_traceback(
    wine: str, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(pipeline, "score_rows", explode)
    status, body, _ = invoke(load_event("realtime_predict_json.json"), lambda_context)
    assert (status, body["error"]["type"]) == (500, "internal_error")
    assert "Traceback" not in json.dumps(body)
    assert "secret internal detail" not in json.dumps(body)


def test_classifier_returns_probabilities(
    serve: ModelRegistry, churn_classifier: Artifacts, lambda_context: LambdaContext
) -> None:
    version = churn_classifier.publish(serve)["version"]
    serve.set_alias("wine", "production", version)
    rows = [
        {"tenure months": 3, "plan": "basic", "monthly fee": 20.5},
        {"tenure months": None, "plan": None, "monthly fee": 31},
        {"tenure months": 50, "plan": "enterprise", "monthly fee": 99},
    ]
    status, body, _ = invoke(post(instances(*rows)), lambda_context)
    assert status == 200
    assert body["predictions"][0] == "yes"
    assert len(body["probabilities"]) == 3
    for probabilities in body["probabilities"]:
        assert set(probabilities) == {"no", "yes"}
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_hot_reload_after_promotion(
    wine: str, serve: ModelRegistry, wine_boosting: Artifacts, lambda_context: LambdaContext
) -> None:
    # Given a warm container serving the first version
    assert (
        invoke(load_event("realtime_get_health.json"), lambda_context)[1]["model"]["version"]
        == wine
    )
    cache = app.container.get().models
    now = [0.0]
    cache.clock = lambda: now[0]
    cache.recheck_now()
    invoke(load_event("realtime_get_health.json"), lambda_context)  # next check at 60
    # When another version is promoted
    newer = wine_boosting.publish(serve)["version"]
    serve.set_alias("wine", "production", newer)
    # Then the container keeps its model until the re-check interval has passed...
    assert (
        invoke(load_event("realtime_predict_json.json"), lambda_context)[1]["model"]["version"]
        == wine
    )
    now[0] = 61.0
    # ...and the next response names the new version
    status, body, headers = invoke(load_event("realtime_predict_json.json"), lambda_context)
    assert status == 200
    assert body["model"]["version"] == newer == headers["X-Model-Version"]


def test_logs_carry_request_id_and_version_but_no_body(
    wine: str, lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = io.StringIO()
    handler = realtime_context.logger.registered_handler
    previous = handler.setStream(logs)
    try:
        invoke(post(instances({**ROW, "alcohol": 7.123456789})), lambda_context)
        invoke(post(instances({**ROW, "alcohol": "secret-text"})), lambda_context)
    finally:
        handler.setStream(previous)
    text = logs.getvalue() + capsys.readouterr().out
    assert "7.123456789" not in text
    assert "secret-text" not in text
    assert '"Predictions"' in text  # the metrics (EMF) went out
    records = [json.loads(line) for line in logs.getvalue().splitlines()]
    refused = [r for r in records if r["message"] == "request refused"]
    assert len(refused) == 1
    assert refused[0]["function_request_id"] == lambda_context.aws_request_id
    assert refused[0]["model_version"] == wine
    assert refused[0]["correlation_id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert refused[0]["status"] == 422


def test_a_misconfiguration_is_found_once_and_answered_alike_on_every_route(
    serve: ModelRegistry,
    lambda_context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("MODEL_NAME")
    monkeypatch.setenv("MAX_REQUEST_ROWS", "many")
    events = [
        load_event("realtime_predict_json.json"),
        load_event("realtime_get_model.json"),
        load_event("realtime_get_health.json"),
        {**load_event("realtime_get_health.json"), "rawPath": "/openapi.json"},
        {**load_event("realtime_get_health.json"), "rawPath": "/nowhere"},
    ]
    events[3]["requestContext"] = {
        **events[3]["requestContext"],
        "http": {**events[3]["requestContext"]["http"], "path": "/openapi.json"},
    }
    with caplog.at_level("ERROR"):
        answers = [invoke(event, lambda_context)[:2] for event in events]
    for status, body in answers:
        assert status == 503
        assert body["error"]["type"] == "configuration_error"
    cannot_start = [r.getMessage() for r in caplog.records if "cannot start" in r.getMessage()]
    assert cannot_start == [
        "the function cannot start: invalid configuration: MODEL_NAME is required "
        "(a model name); MAX_REQUEST_ROWS='many' is not an integer > 0"
    ]


def test_the_lean_path_answers_and_counts_exactly_as_the_routed_path(
    wine: str, lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    """A warm, scoring POST /predict skips the router: same answer, same metrics line."""
    event = load_event("realtime_predict_json.json")
    event["headers"]["x-inference-id"] = "same-id"  # otherwise each answer has its own
    capsys.readouterr()
    routed = app.lambda_handler(event, lambda_context)  # the first call is always routed
    routed_lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    lean = app.lambda_handler(event, lambda_context)
    lean_lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lean == routed
    (routed_metrics,) = [m for m in routed_lines if "InferenceLatency" in m]
    (lean_metrics,) = lean_lines
    for document in (routed_metrics, lean_metrics):
        document["_aws"].pop("Timestamp")
        document.pop("InferenceLatency")
    assert lean_metrics == routed_metrics
    # Refusals and failures still take the routed path, with its logs and error metrics.
    status, _, _ = invoke(post('{"instances": [{"pH": "x"}]}'), lambda_context)
    assert status == 422
    assert any(
        '"ErrorType": "schema_violation"' in line.replace('":"', '": "')
        for line in capsys.readouterr().out.splitlines()
    )


def test_a_function_url_event_is_served_like_the_http_api(
    wine: str, lambda_context: LambdaContext
) -> None:
    """The Function URL front door sends the same payload 2.0 event to the same handler."""
    through_url = invoke(load_event("realtime_function_url_predict.json"), lambda_context)
    through_api = invoke(load_event("realtime_predict_json.json"), lambda_context)
    assert through_url[0] == 200
    for answer in (through_url[1], through_api[1]):
        assert answer.pop("inference_id") != ""  # each answer has an id of its own
    assert through_url[1] == through_api[1]
    assert through_url[2]["X-Model-Version"] == wine
