"""Handwritten digits: trained by the same job, served by the same API and batch path."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from infra.local_env import DATA_BUCKET
from realtime import app as realtime_app
from tests.helpers import MODEL_BUCKET, ROOT, call, csv_rows, put, read, run, sqs_event
from training.cli import main
from training.digits_data import pixel_columns
from training.registry_admin import ModelRegistry

DIGITS = ROOT / "data" / "digits.csv"


@pytest.fixture(scope="module")
def digits_table() -> pd.DataFrame:
    return pd.read_csv(DIGITS)


def test_digits_are_read_by_a_perceptron_served_like_any_model(
    s3: Any,
    serve: ModelRegistry,
    monkeypatch: pytest.MonkeyPatch,
    digits_table: pd.DataFrame,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given: the digits trained by the job (the label is a number: say it is a class)
    arguments = ["--data", str(DIGITS), "--target", "digit", "--name", "digits"]
    arguments += ["--registry", f"s3://{MODEL_BUCKET}", "--task", "classification"]
    arguments += ["--candidates", "linear,extra_trees,mlp", "--settings", "3"]
    assert main([*arguments, "--promote", "production"]) == 0
    capsys.readouterr()
    version = serve.resolve("digits", "production")
    manifest = serve.manifest("digits", version)
    # Then: at least 97% of the holdout read right, by the perceptron or one as good
    assert manifest["task"] == "classification"
    assert manifest["metrics"]["holdout"]["accuracy"] >= 0.97
    best = {c["candidate"]: c["mean"] for c in manifest["candidates"] if "mean" in c}
    assert best["mlp"] >= max(best.values()) - 0.01
    assert manifest["classes"] == list(range(10))
    # When: the realtime API is asked about a few images
    monkeypatch.setenv("MODEL_NAME", "digits")
    realtime_app.container.reset()
    rows = digits_table.sample(20, random_state=4)
    images = rows[pixel_columns()].to_dict(orient="records")
    status, body, _ = call("POST", "/predict", json.dumps({"instances": images}))
    assert status == 200, body
    answer = json.loads(body)
    labels = [p["prediction"] if isinstance(p, dict) else p for p in answer["predictions"]]
    assert np.mean(np.array(labels) == rows["digit"].to_numpy()) >= 0.9
    # and a pixel off the scale is refused with its row and column
    status, body, _ = call(
        "POST", "/predict", json.dumps({"instances": [{**images[0], "p_3_4": "dark"}]})
    )
    assert status == 422
    assert "p_3_4" in body.decode()
    # When: a CSV of images is dropped into the batch path
    monkeypatch.setenv("MODEL_NAME", "digits")
    csv = rows.drop(columns=["digit"]).to_csv(index=False).encode()
    etag = put(s3, "incoming/digits.csv", csv)
    assert run(sqs_event("incoming/digits.csv", etag)) == {"batchItemFailures": []}
    scored = read(s3, "predictions/digits.csv")
    assert scored is not None
    table = csv_rows(scored.replace(b",", b";"))
    header, lines = table[0], table[1:]
    assert len(lines) == 20
    predicted = [int(float(line[header.index("prediction")])) for line in lines]
    assert np.mean(np.array(predicted) == rows["digit"].to_numpy()) >= 0.9
    assert DATA_BUCKET
    # A second version is compared with the holder on the same holdout (numeric classes)
    second = [
        *arguments[:-4],
        "--candidates",
        "linear",
        "--settings",
        "1",
        "--promote",
        "production",
    ]
    assert main(second) == 0
    newest = serve.manifest("digits", serve.list_versions("digits")[-1])
    report = json.loads(serve.read_artifact(newest, "report.json"))
    assert report["comparison"]["comparable"] is True
    assert report["comparison"]["current_version"] == version
    assert 0.9 < report["comparison"]["current"] <= 1
