"""The protocols existing clients speak, through the realtime handler, and many models.

The same rows must give the same predictions through ``/predict``, ``/invocations`` in
every format MLflow and SageMaker clients send, and the Open Inference Protocol's
``/v2/.../infer`` (JSON and binary tensors).
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest

from tests.helpers import ROW, WINE_LINES, Artifacts, call
from training.registry_admin import ModelRegistry

COLUMNS = list(ROW)
#: Eight wine rows (named), with the same rows as lists in the model's column order.
ROWS = [
    dict(zip(COLUMNS, map(float, line.split(";")[:11]), strict=True)) for line in WINE_LINES[1:9]
]
LISTS = [list(row.values()) for row in ROWS]
CHURN_ROWS = [
    {"tenure months": 10, "plan": "team", "monthly fee": 40.0},
    {"tenure months": 2, "plan": "solo", "monthly fee": 12.5},
    {"tenure months": 40, "plan": "solo", "monthly fee": 99.0},
]


def _json(status_body: tuple[int, bytes, dict[str, str]]) -> tuple[int, Any, dict[str, str]]:
    status, body, headers = status_body
    return status, json.loads(body), headers


def _csv(rows: list[list[Any]], header: bool) -> str:
    lines = [",".join(COLUMNS)] if header else []
    return "\n".join([*lines, *(",".join(str(v) for v in row) for row in rows)]) + "\n"


@pytest.fixture
def expected(wine: str) -> list[float]:
    status, body, _ = _json(call("POST", "/predict", json.dumps({"instances": ROWS})))
    assert status == 200
    assert len(body["predictions"]) == len(ROWS)
    return list(body["predictions"])


# ----- MLflow: every body format gives the /predict predictions -----------------------------
MLFLOW_BODIES: dict[str, tuple[str, str]] = {
    "dataframe_split": (
        json.dumps({"dataframe_split": {"columns": COLUMNS, "data": LISTS}}),
        "application/json",
    ),
    "dataframe_split with index": (
        json.dumps(
            {"dataframe_split": {"columns": COLUMNS, "index": list(range(8)), "data": LISTS}}
        ),
        "application/json",
    ),
    "dataframe_split without columns": (
        json.dumps({"dataframe_split": {"data": LISTS}}),
        "application/json",
    ),
    "dataframe_records": (json.dumps({"dataframe_records": ROWS}), "application/json"),
    "instances of objects": (json.dumps({"instances": ROWS}), "application/json"),
    "instances of lists": (json.dumps({"instances": LISTS}), "application/json"),
    "inputs columnar": (
        json.dumps({"inputs": {c: [r[c] for r in ROWS] for c in COLUMNS}}),
        "application/json",
    ),
    "inputs of lists": (json.dumps({"inputs": LISTS}), "application/json"),
    "params ignored": (
        json.dumps({"dataframe_records": ROWS, "params": {"temperature": 0.2}}),
        "application/json; charset=utf-8",
    ),
    "csv with header": (_csv(LISTS, header=True), "text/csv"),
    "application/csv": (_csv(LISTS, header=True), "application/csv"),
    "csv without header": (_csv(LISTS, header=False), "text/csv"),
    "jsonlines objects": ("".join(json.dumps(r) + "\n" for r in ROWS), "application/jsonlines"),
    "jsonlines arrays": ("".join(json.dumps(r) + "\n" for r in LISTS), "application/jsonlines"),
}


@pytest.mark.parametrize("form", list(MLFLOW_BODIES))
@pytest.mark.parametrize("path", ["/invocations", "/predict"])
def test_every_mlflow_and_sagemaker_body_gives_the_same_predictions(
    expected: list[float], wine: str, form: str, path: str
) -> None:
    body, content_type = MLFLOW_BODIES[form]
    status, answer, headers = _json(call("POST", path, body, {"content-type": content_type}))
    assert status == 200, answer
    assert answer["predictions"] == expected
    assert answer["model"] == {"name": "wine", "version": wine}
    assert headers["X-Model-Version"] == wine
    if form == "params ignored":
        assert answer["ignored_params"] == ["temperature"]


def test_header_names_in_any_case_are_read(expected: list[float]) -> None:
    # API Gateway sends lower-case names; sam local start-api keeps the client's case.
    body = _csv(LISTS, header=False)
    headers = {"Content-Type": "text/csv", "Accept": "text/csv", "content-type": None}
    status, answer, _ = call("POST", "/invocations", body, headers)
    assert status == 200
    assert [float(v) for v in answer.split()] == expected


def test_invocations_answers_as_mlflow_does(expected: list[float], wine: str) -> None:
    status, answer, _ = _json(call("POST", "/invocations", MLFLOW_BODIES["dataframe_split"][0]))
    assert status == 200
    assert set(answer) == {"predictions", "model", "inference_id"}


@pytest.mark.parametrize(
    ("content_type", "fragment"),
    [
        ("application/json; charset=latin-1", "charset 'latin-1' is not supported"),
        ("application/json; format=pandas-split", "unrecognized content type parameter"),
        ("application/json; header=present", "unrecognized content type parameter"),
        ("text/csv; header=maybe", "say header=present"),
        ("application/xml", "unsupported content type"),
    ],
)
def test_content_type_parameters_other_than_utf8_are_415(
    wine: str, content_type: str, fragment: str
) -> None:
    body = MLFLOW_BODIES["dataframe_records"][0]
    status, answer, _ = _json(call("POST", "/invocations", body, {"content-type": content_type}))
    assert status == 415
    assert answer["error_code"] == "BAD_REQUEST"
    assert fragment in answer["message"]
    assert answer["error"]["type"] == "unsupported_media_type"
    assert answer["error"]["message"] == answer["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{}", 400, "BAD_REQUEST"),
        ('{"instances": [1], "inputs": [1]}', 400, "BAD_REQUEST"),
        ('{"dataframe_records": [{"alcohol": "strong"}]}', 422, "INVALID_PARAMETER_VALUE"),
        ('{"instances": [[1, 2, 3]]}', 422, "INVALID_PARAMETER_VALUE"),
        ('{"dataframe_records": ' + json.dumps([ROW] * 11) + "}", 413, "REQUEST_LIMIT_EXCEEDED"),
    ],
)
def test_invocations_errors_carry_mlflow_error_code_beside_ours(
    wine: str, limits: None, body: str, status: int, code: str
) -> None:
    got, answer, _ = _json(call("POST", "/invocations", body))
    assert got == status
    assert answer["error_code"] == code
    assert answer["message"] == answer["error"]["message"]
    assert "Traceback" not in json.dumps(answer)


def test_a_headerless_row_of_the_wrong_width_is_a_422_naming_it(wine: str) -> None:
    rows = [LISTS[0], LISTS[1][:5], LISTS[2], [*LISTS[3], 1.0]]
    status, answer, _ = _json(
        call("POST", "/predict", _csv(rows, False), {"content-type": "text/csv"})
    )
    assert status == 422
    assert [d["row"] for d in answer["error"]["details"]] == [1, 3]
    assert "row has 5 values; the model takes 11" in answer["error"]["details"][0]["reason"]


def test_rows_of_the_wrong_width_under_a_header_are_a_422_naming_each(wine: str) -> None:
    rows = [LISTS[0], LISTS[1][:2], LISTS[2], [*LISTS[3], 9.0]]
    body = _csv(rows, True).replace("\n", "\n\n", 1)  # a blank line carries no row
    status, answer, _ = _json(call("POST", "/predict", body, {"content-type": "text/csv"}))
    assert status == 422
    assert [d["row"] for d in answer["error"]["details"]] == [1, 3]
    assert answer["error"]["details"][0]["reason"] == "row has 2 values; the header has 11"
    assert "2 row(s) do not have 11 values" in answer["error"]["message"]


# ----- SageMaker's Accept conventions ----------------------------------------------------------
def test_accept_text_csv_gives_one_prediction_per_line(expected: list[float]) -> None:
    status, body, headers = call(
        "POST", "/invocations", json.dumps({"instances": ROWS}), {"accept": "text/csv"}
    )
    assert status == 200
    assert headers["Content-Type"] == "text/csv"
    assert [float(line) for line in body.decode().splitlines()] == expected


def test_accept_jsonlines_gives_one_object_per_row(expected: list[float]) -> None:
    status, body, headers = call(
        "POST",
        "/predict",
        json.dumps({"instances": ROWS}),
        {"accept": "application/jsonlines;q=0.9, text/html"},
    )
    assert status == 200
    assert headers["Content-Type"] == "application/jsonlines"
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [line["prediction"] for line in lines] == expected


def test_accept_quality_order_and_refusal(expected: list[float]) -> None:
    body = json.dumps({"instances": ROWS})
    _, _, headers = call("POST", "/predict", body, {"accept": "text/csv;q=0.5, application/json"})
    assert headers["Content-Type"] == "application/json"
    status, answer, _ = _json(call("POST", "/predict", body, {"accept": "image/png"}))
    assert status == 406
    assert answer["error"]["type"] == "not_acceptable"


# ----- the Open Inference Protocol ---------------------------------------------------------------
def _v2_columns(rows: list[dict[str, Any]], shape_one: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "name": c,
            "shape": [len(rows), 1] if shape_one else [len(rows)],
            "datatype": "FP64",
            "data": [r[c] for r in rows],
        }
        for c in COLUMNS
    ]


def test_v2_infer_per_column_and_as_one_tensor_give_the_same_predictions(
    expected: list[float], wine: str
) -> None:
    for inputs in (
        _v2_columns(ROWS),
        _v2_columns(ROWS, shape_one=True),
        [{"name": "x", "shape": [8, 11], "datatype": "FP32", "data": LISTS}],
        [
            {
                "name": "x",
                "shape": [8, 11],
                "datatype": "FP64",
                "data": [v for row in LISTS for v in row],
            }
        ],
    ):
        status, answer, _ = _json(
            call("POST", "/v2/models/wine/infer", json.dumps({"id": "r1", "inputs": inputs}))
        )
        assert status == 200, answer
        assert answer["id"] == "r1"
        assert answer["model_name"] == "wine"
        assert answer["model_version"] == wine
        (output,) = answer["outputs"]
        assert output["name"] == "predict"
        assert output["shape"] == [8]
        assert output["datatype"] == "FP64"
        # FP32 inputs are the float32 values the model takes anyway: same predictions.
        assert output["data"] == expected


def test_v2_binary_tensors_in_and_out(expected: list[float], wine: str) -> None:
    data = np.asarray(LISTS, dtype=np.float32).tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [8, 11],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(data)},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    status, body, headers = call(
        "POST",
        "/v2/models/wine/infer",
        header + data,
        {"inference-header-content-length": str(len(header)), "content-type": None},
    )
    assert status == 200
    length = int(headers["Inference-Header-Content-Length"])
    document = json.loads(body[:length])
    (output,) = document["outputs"]
    assert output["parameters"]["binary_data_size"] == 8 * 8
    assert np.frombuffer(body[length:], dtype="<f8").tolist() == expected


def test_v2_classifier_probabilities_and_bytes_inputs(
    serve: ModelRegistry, churn_classifier: Artifacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = churn_classifier.publish(serve, "churn")["version"]
    serve.set_alias("churn", "production", version)
    monkeypatch.setenv("MODEL_NAME", "churn")
    status, predicted, _ = _json(call("POST", "/predict", json.dumps({"instances": CHURN_ROWS})))
    assert status == 200
    plan = ["team", "solo", "solo"]
    plan_bytes = b"".join(
        struct.pack("<I", len(p.encode())) + p.encode() for p in ["team", "solo", "solo"]
    )
    inputs = [
        {"name": "tenure months", "shape": [3], "datatype": "INT64", "data": [10, 2, 40]},
        {"name": "plan", "shape": [3, 1], "datatype": "BYTES", "data": plan},
        {"name": "monthly fee", "shape": [3], "datatype": "FP32", "data": [40.0, 12.5, 99.0]},
    ]
    request = {"inputs": inputs, "outputs": [{"name": "predict_proba"}, {"name": "predict"}]}
    status, answer, _ = _json(call("POST", "/v2/models/churn/infer", json.dumps(request)))
    assert status == 200, answer
    proba, labels = answer["outputs"]
    assert labels["data"] == predicted["predictions"]
    assert labels["datatype"] == "BYTES"
    classes = list(predicted["probabilities"][0])
    assert proba["shape"] == [3, len(classes)]
    flat = [row[c] for row in predicted["probabilities"] for c in classes]
    assert proba["data"] == pytest.approx(flat)
    # The same rows with plan as binary BYTES (each element: 4-byte length, then UTF-8)
    binary_inputs = [dict(i) for i in inputs]
    binary_inputs[1] = {
        "name": "plan",
        "shape": [3],
        "datatype": "BYTES",
        "parameters": {"binary_data_size": len(plan_bytes)},
    }
    header = json.dumps({"inputs": binary_inputs, "outputs": [{"name": "predict"}]}).encode()
    status, body, _ = call(
        "POST",
        "/v2/models/churn/infer",
        header + plan_bytes,
        {"inference-header-content-length": str(len(header))},
    )
    assert status == 200, body
    assert json.loads(body)["outputs"][0]["data"] == labels["data"]


@pytest.mark.parametrize(
    ("request_body", "fragment"),
    [
        ({"inputs": []}, "non-empty list"),
        (
            {"inputs": [{"name": "x", "shape": [1, 11], "datatype": "FP32", "data": [1]}]},
            "holds 11",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
            "3 columns",
        ),
        (
            {"inputs": [{"name": "alcohol", "shape": [1], "datatype": "BF16", "data": [1]}]},
            "not supported",
        ),
        (
            {"inputs": [{"name": "alcohol", "shape": [1], "datatype": "INT8", "data": [300]}]},
            "is not INT8",
        ),
        (
            {"inputs": [{"name": "nope", "shape": [1], "datatype": "FP32", "data": [1]}]},
            "not a column",
        ),
        ({"inputs": _v2_columns(ROWS[:1]), "outputs": [{"name": "predict_proba"}]}, "regressor"),
        ({"inputs": _v2_columns(ROWS[:1]), "outputs": [{"name": "score"}]}, "does not exist"),
        ({"inputs": _v2_columns(ROWS[:1]), "id": 5}, '"id" must be a string'),
        ({"inputs": _v2_columns(ROWS[:1]), "id": "x" * 257}, "at most 256"),
        (
            {"inputs": _v2_columns(ROWS[:1]), "outputs": [{"name": "predict"}] * 2},
            "asked for twice",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [2, 11],
                        "datatype": "FP64",
                        "data": [[1] * 12, [1] * 10],
                    }
                ]
            },
            "does not have the shape",
        ),
        (
            {"inputs": [{"name": "alcohol", "shape": [0], "datatype": "FP32", "data": []}]},
            "no rows",
        ),
        (
            {"inputs": _v2_columns(ROWS[:1]), "parameters": {"binary_data_output": "false"}},
            "true or false",
        ),
        (
            {"inputs": [{"name": "x", "shape": [10, 300], "datatype": "FP32", "data": [1] * 3000}]},
            "300 columns",
        ),
    ],
)
def test_v2_refusals_are_400_with_a_message(
    wine: str, request_body: dict[str, Any], fragment: str
) -> None:
    status, answer, _ = _json(call("POST", "/v2/models/wine/infer", json.dumps(request_body)))
    assert status == 400
    assert set(answer) == {"error"}
    assert fragment in answer["error"]


def test_v2_health_metadata_and_versions(
    wine: str, serve: ModelRegistry, wine_boosting: Artifacts
) -> None:
    assert call("GET", "/v2/health/live")[0] == 200
    assert call("GET", "/v2/health/ready")[0] == 200
    status, server, _ = _json(call("GET", "/v2"))
    assert status == 200
    assert "binary_tensor_data" in server["extensions"]
    status, metadata, _ = _json(call("GET", "/v2/models/wine"))
    assert status == 200
    assert [i["name"] for i in metadata["inputs"]] == COLUMNS
    assert metadata["versions"] == [wine]
    # A version path serves that registry version, whatever the alias says.
    newer = wine_boosting.publish(serve)["version"]
    status, answer, _ = _json(
        call(
            "POST",
            f"/v2/models/wine/versions/{newer}/infer",
            json.dumps({"inputs": _v2_columns(ROWS[:1])}),
        )
    )
    assert status == 200
    assert answer["model_version"] == newer
    assert call("GET", f"/v2/models/wine/versions/{newer}/ready")[0] == 200
    status, answer, _ = _json(call("GET", "/v2/models/wine/versions/19990101T000000Z-000000"))
    assert status == 404
    assert "no version" in answer["error"]


# ----- many models per function --------------------------------------------------------
@pytest.fixture
def two_models(
    wine: str, serve: ModelRegistry, churn_classifier: Artifacts, monkeypatch: pytest.MonkeyPatch
) -> str:
    version = churn_classifier.publish(serve, "churn")["version"]
    serve.set_alias("churn", "production", version)
    return str(version)


def test_by_default_only_the_function_s_model_is_served(two_models: str) -> None:
    status, answer, _ = _json(
        call("POST", "/models/churn/predict", json.dumps({"instances": CHURN_ROWS}))
    )
    assert status == 404
    assert answer["error"]["type"] == "model_not_found"
    status, listed, _ = _json(call("GET", "/models"))
    assert [m["name"] for m in listed["models"]] == ["wine"]


def test_a_star_serves_every_model_by_path_header_and_v2(
    two_models: str, wine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVED_MODELS", "*")
    body = json.dumps({"instances": CHURN_ROWS})
    status, by_path, headers = _json(call("POST", "/models/churn/predict", body))
    assert status == 200
    assert headers["X-Model-Name"] == "churn"
    status, by_header, _ = _json(call("POST", "/invocations", body, {"x-model-name": "churn"}))
    assert status == 200
    assert by_header["predictions"] == by_path["predictions"]
    status, sagemaker, _ = _json(
        call(
            "POST",
            "/invocations",
            body,
            {"x-amzn-sagemaker-target-model": "models/churn.tar.gz"},
        )
    )
    assert status == 200
    assert sagemaker["predictions"] == by_path["predictions"]
    # The default model still answers /predict and /invocations without a header.
    status, answer, _ = _json(call("POST", "/invocations", json.dumps({"instances": ROWS})))
    assert answer["model"]["name"] == "wine"
    status, listed, _ = _json(call("GET", "/models"))
    assert [(m["name"], m["default"]) for m in listed["models"]] == [
        ("wine", True),
        ("churn", False),
    ]
    assert call("GET", "/v2/models/churn/ready")[0] == 200
    status, answer, _ = _json(call("GET", "/models/nope/predict"))
    assert status == 404


def test_errors_name_the_default_model_only_where_it_was_asked_for(
    two_models: str, wine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVED_MODELS", "*")
    bad = json.dumps({"instances": [{"tenure months": "long"}]})
    assert call("POST", "/predict", bad)[2]["X-Model-Name"] == "wine"
    for path, headers in (
        ("/models/churn/predict", {}),
        ("/invocations", {"x-model-name": "churn"}),
        ("/models/nope/predict", {}),
    ):
        status, _, answer_headers = call("POST", path, bad, headers)
        assert status in (404, 422)
        assert "X-Model-Name" not in answer_headers, path
    # An empty model header names no model: a 400, not the default model in its place.
    status, _, answer_headers = _json(
        call("POST", "/invocations", json.dumps({"instances": ROWS}), {"x-model-name": " "})
    )
    assert status == 400
    assert "X-Model-Name" not in answer_headers


def test_a_name_outside_the_allowlist_is_404_without_touching_s3(
    two_models: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realtime import app

    monkeypatch.setenv("SERVED_MODELS", "wine,region-*")
    assert call("GET", "/health")[0] == 200
    calls: list[str] = []
    s3 = app.container.get().s3
    s3.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    for path in ("/models/churn/predict", "/v2/models/churn/infer", "/models/..%2F/predict"):
        status, answer, _ = _json(call("POST", path, json.dumps({"instances": CHURN_ROWS})))
        assert status == 404, (path, answer)
    status, answer, _ = _json(
        call("POST", "/invocations", json.dumps({"instances": ROWS}), {"x-model-name": "churn"})
    )
    assert status == 404
    assert answer["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert calls == []
    # A pattern match the registry does not hold is a 404 too (after one look).
    status, answer, _ = _json(
        call("POST", "/models/region-eu/predict", json.dumps({"instances": ROWS}))
    )
    assert status == 404
    assert "no alias" in answer["error"]["message"]


def test_each_model_reloads_on_its_own_alias(
    two_models: str,
    wine: str,
    serve: ModelRegistry,
    churn_classifier: Artifacts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from realtime import app

    monkeypatch.setenv("SERVED_MODELS", "*")
    body = json.dumps({"instances": CHURN_ROWS})
    assert _json(call("POST", "/models/churn/predict", body))[1]["model"]["version"] == two_models
    models = app.container.get().models
    now = [0.0]
    models.clock = lambda: now[0]
    models.recheck_now()
    call("POST", "/models/churn/predict", body)  # checked at 0: the next look is at 60
    newer = churn_classifier.publish(serve, "churn")["version"]
    serve.set_alias("churn", "production", newer)
    assert _json(call("POST", "/models/churn/predict", body))[1]["model"]["version"] == two_models
    now[0] = 61.0
    status, answer, headers = _json(call("POST", "/models/churn/predict", body))
    assert status == 200
    assert answer["model"]["version"] == newer
    assert headers["X-Model-Version"] == newer
    # The default model is untouched by the other's move.
    assert _json(call("GET", "/health"))[1]["model"]["version"] == wine
