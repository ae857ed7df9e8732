"""A model directory written by MLflow itself (in MLflow's own virtualenv) is published
and served as scikit-learn answers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infra.local_env import MODEL_BUCKET
from tests.helpers import ROOT, call, probability_rows
from training import registry_cli
from training.onnx_export import PROBABILITY_TOLERANCE
from training.registry_admin import ModelRegistry

MLFLOW_PYTHON = ROOT / ".venv-peer-mlflow" / "bin" / "python"
#: Run by MLflow's own virtualenv: a pipeline fitted and saved with mlflow.sklearn, its
#: input example 30 rows; the held-out rows and scikit-learn's answers for them as JSON.
MLFLOW_SAVE = """
import json, sys
import mlflow.sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

x, y = load_breast_cancer(return_X_y=True, as_frame=True)
x_train, x_test, y_train, _ = train_test_split(x, y, random_state=0)
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x_train, y_train)
mlflow.sklearn.save_model(model, sys.argv[1], input_example=x_train.head(30))
held_out = x_test.head(25)
print(json.dumps({
    "rows": json.loads(held_out.to_json(orient="records")),
    "labels": model.predict(held_out).tolist(),
    "probabilities": model.predict_proba(held_out).tolist(),
    "mlflow": mlflow.__version__,
}))
"""


def test_an_mlflow_directory_written_by_mlflow_itself_is_published(
    served: ModelRegistry, s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not MLFLOW_PYTHON.exists():
        pytest.fail(
            "no .venv-peer-mlflow: `make test-slow` creates it (requirements-peer-mlflow.txt)"
        )
    directory = tmp_path / "mlflow-model"
    saved = subprocess.run(
        [str(MLFLOW_PYTHON), "-c", MLFLOW_SAVE, str(directory)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr[-2000:]
    expected = json.loads(saved.stdout.strip().splitlines()[-1])
    # No --sample: the directory's input example (30 rows) is the sample; its signature
    # gives the columns' kinds.
    status = registry_cli.main(
        ["--registry", f"s3://{MODEL_BUCKET}", "publish", "from-mlflow", str(directory),
         "--promote", "production", "--json"], s3=s3,
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 0, err
    manifest = json.loads(out)["manifest"]
    assert manifest["source"]["format"].startswith("mlflow (")
    assert manifest["source"]["mlflow_version"] == expected["mlflow"]
    assert manifest["training"]["rows"] == 30
    status, body, _ = call(
        "POST", "/models/from-mlflow/predict", json.dumps({"instances": expected["rows"]})
    )
    answer = json.loads(body)
    assert status == 200, answer
    assert answer["predictions"] == expected["labels"]
    got = np.asarray(probability_rows(answer, manifest["classes"]))
    assert np.abs(got - np.asarray(expected["probabilities"])).max() <= PROBABILITY_TOLERANCE
