"""Serving defects found by probing the newer surfaces: each answered now as it should be.

A CSV whose first row could be a header or values, model headers that name no model, a
deleted version still served, Triton's binary output default, models without an alias.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from realtime import app as realtime_app
from tests.helpers import ROW, Artifacts, call, train_once
from training.registry_admin import ModelRegistry

#: Rows of the model whose columns are called 0, 1 and 2, as the issue gave them.
NUMBERED_ROWS = [[1, 2, 0], [0, 1, 2], [2, 2, 1]]


@pytest.fixture(scope="module")
def numbered_columns(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """A model trained on a CSV whose header is 0,1,2,y (pandas' names for a bare frame)."""
    rng = np.random.default_rng(5)
    values = rng.integers(0, 3, size=(300, 3)).astype(float)
    frame = pd.DataFrame(values)
    frame["y"] = 3 * values[:, 0] - values[:, 1] + 0.5 * values[:, 2] + rng.normal(0, 0.1, 300)
    path: Path = tmp_path_factory.mktemp("numbered") / "numbered.csv"
    frame.to_csv(path, index=False)
    return train_once(("linear",), data=path, target="y")


@pytest.fixture
def numbered(
    serve: ModelRegistry, numbered_columns: Artifacts, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The numbered-columns model as the function's default model."""
    version = numbered_columns.publish(serve, "numbered")["version"]
    serve.set_alias("numbered", "production", version)
    monkeypatch.setenv("MODEL_NAME", "numbered")
    realtime_app.container.reset()
    return str(version)


def _json(answer: tuple[int, bytes, dict[str, str]]) -> tuple[int, Any]:
    return answer[0], json.loads(answer[1])


def _predictions(path: str, body: str, content_type: str) -> tuple[int, Any]:
    return _json(call("POST", path, body, {"content-type": content_type}))


@pytest.mark.parametrize("path", ["/predict", "/invocations"])
def test_a_first_row_that_could_be_a_header_or_values_is_never_guessed(
    numbered: str, path: str
) -> None:
    status, as_json = _predictions(
        path, json.dumps({"instances": NUMBERED_ROWS}), "application/json"
    )
    assert status == 200
    expected = as_json["predictions"]
    assert len(expected) == 3
    body = "".join(",".join(str(v) for v in row) + "\n" for row in NUMBERED_ROWS)
    # Without a say, the first row (1,2,0) names every column and is also a row of values:
    # refused with a 400 that says how to tell, never two permuted predictions.
    status, refused = _predictions(path, body, "text/csv")
    assert status == 400, refused
    message = refused["error"]["message"]
    assert "header=present" in message
    assert "header=absent" in message
    # Told that every row is values: three predictions, those of the JSON rows.
    status, answer = _predictions(path, body, "text/csv; header=absent")
    assert status == 200
    assert answer["predictions"] == pytest.approx(expected)
    # Told that the first row is a header: it names the columns, in its own order.
    status, answer = _predictions(path, "2,0,1\n" + body, "text/csv; header=present")
    assert status == 200
    permuted = [[row[1], row[2], row[0]] for row in NUMBERED_ROWS]
    status, by_name = _predictions(path, json.dumps({"instances": permuted}), "application/json")
    assert answer["predictions"] == pytest.approx(by_name["predictions"])


def test_a_first_row_that_names_only_some_columns_is_values(numbered: str) -> None:
    """0,5,7 names the column 0 only; read as a header it would leave 1 and 2 out."""
    rows = [[0, 5, 7], [1, 1, 1]]
    _, as_json = _predictions("/predict", json.dumps({"instances": rows}), "application/json")
    status, answer = _predictions("/predict", "0,5,7\n1,1,1\n", "text/csv")
    assert status == 200, answer
    assert answer["predictions"] == pytest.approx(as_json["predictions"])


def test_a_header_of_names_that_are_not_values_is_still_read_as_one(wine: str) -> None:
    header, values = ",".join(ROW), ",".join(str(v) for v in ROW.values())
    status, answer = _predictions("/predict", f"{header}\n{values}\n{values}\n", "text/csv")
    assert status == 200
    assert len(answer["predictions"]) == 2
    status, answer = _predictions("/predict", f"{values}\n", "text/csv")
    assert (status, len(answer["predictions"])) == (200, 1)


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"x-amzn-sagemaker-target-model": "wine-quality-class/"}, "names no model"),
        ({"x-amzn-sagemaker-target-model": "/"}, "names no model"),
        ({"x-amzn-sagemaker-target-model": "churn", "x-model-name": ""}, "X-Model-Name"),
        ({"x-model-name": "  "}, "X-Model-Name"),
    ],
)
def test_a_model_header_that_names_no_model_is_a_400_not_the_default_model(
    wine: str, headers: dict[str, str], fragment: str
) -> None:
    status, body, answer_headers = call(
        "POST", "/invocations", json.dumps({"instances": [ROW]}), headers
    )
    answer = json.loads(body)
    assert status == 400, answer
    assert fragment in answer["message"]
    assert "X-Model-Version" not in answer_headers  # no model answered


def test_a_deleted_version_stops_being_served_on_its_version_paths(
    wine: str, serve: ModelRegistry, wine_linear: Artifacts
) -> None:
    older = wine_linear.publish(serve)["version"]
    infer = {"inputs": [{"name": "x", "shape": [1, 11], "datatype": "FP64",
                         "data": list(ROW.values())}]}  # fmt: skip
    path = f"/v2/models/wine/versions/{older}"
    assert call("POST", f"{path}/infer", json.dumps(infer))[0] == 200
    assert call("GET", f"{path}/ready")[0] == 200
    models = realtime_app.container.get().models
    now = [0.0]
    models.clock = lambda: now[0]
    models.recheck_now()
    assert call("GET", f"{path}/ready")[0] == 200  # looked at 0: the next look is at 60
    serve.delete_version("wine", older)
    assert call("GET", f"{path}/ready")[0] == 200  # within the interval, as for an alias
    now[0] = 61.0
    status, body, _ = call("POST", f"{path}/infer", json.dumps(infer))
    assert status == 404
    assert f"no version '{older}'" in json.loads(body)["error"]
    assert call("GET", f"{path}/ready")[0] == 404
    assert call("GET", "/health")[0] == 200  # the alias's version is untouched


def test_binary_data_output_is_the_default_of_each_listed_output(wine: str) -> None:
    request = {
        "inputs": [{"name": "x", "shape": [1, 11], "datatype": "FP64", "data": list(ROW.values())}],
        "outputs": [{"name": "predict"}],
        "parameters": {"binary_data_output": True},
    }
    status, body, headers = call("POST", "/v2/models/wine/infer", json.dumps(request))
    assert status == 200
    length = int(headers["Inference-Header-Content-Length"])
    (output,) = json.loads(body[:length])["outputs"]
    assert output["parameters"]["binary_data_size"] == 8
    assert "data" not in output
    # An output's own binary_data: false still wins over the request's default.
    request["outputs"] = [{"name": "predict", "parameters": {"binary_data": False}}]
    status, body, headers = call("POST", "/v2/models/wine/infer", json.dumps(request))
    assert "Inference-Header-Content-Length" not in headers
    assert len(json.loads(body)["outputs"][0]["data"]) == 1


def test_models_without_the_alias_are_listed_apart_with_the_reason(
    wine: str,
    serve: ModelRegistry,
    churn_classifier: Artifacts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    churn_classifier.publish(serve, "churn")  # published, never promoted
    monkeypatch.setenv("SERVED_MODELS", "*")
    realtime_app.container.reset()
    status, listing = _json(call("GET", "/models"))
    assert status == 200
    assert [m["name"] for m in listing["models"]] == ["wine"]
    assert listing["not_served"] == [
        {"name": "churn", "reason": "no version holds the alias 'production'"}
    ]
