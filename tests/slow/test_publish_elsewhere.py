"""Publishing from the data scientist's own environment: another Python (3.11), an older
scikit-learn minor (1.7), the project installed with its ``publish`` extra from this
repository, the model fitted there and published to the registry the functions read.

The virtualenv is made from ``requirements-publish-py311.txt`` (hashed), then the project
itself is installed from a copy of the repository without dependencies, as a user's
``pip install "serverless-predictor[publish] @ ..."`` would install it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infra.local_env import MODEL_BUCKET, LocalAws
from realtime import app as realtime_app
from tests.helpers import ROOT, call
from training.onnx_export import PROBABILITY_TOLERANCE

#: Run by the other environment's Python: fit, save with joblib, write the sample and the
#: held-out rows with scikit-learn's answers.
FIT_THERE = """
import json, sys
import joblib, sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split

x, y = load_breast_cancer(return_X_y=True, as_frame=True)
x_train, x_test, y_train, _ = train_test_split(x, y, random_state=0)
model = HistGradientBoostingClassifier(random_state=0).fit(x_train, y_train)
joblib.dump(model, sys.argv[1] + "/model.joblib")
x_train.assign(target=y_train).head(200).to_csv(sys.argv[1] + "/sample.csv", index=False)
held_out = x_test.head(30)
rounded = held_out.astype("float32").astype("float64")  # as the functions receive numbers
print(json.dumps({
    "rows": json.loads(held_out.to_json(orient="records")),
    "labels": model.predict(held_out).tolist(),
    "probabilities": model.predict_proba(held_out).tolist(),
    "rounded_probabilities": model.predict_proba(rounded).tolist(),
    "sklearn": sklearn.__version__,
    "python": "%d.%d" % sys.version_info[:2],
}))
"""


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-3000:])
    return done


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python 3.11 virtualenv with the locked publishing stack and the project."""
    found = subprocess.run(
        [str(ROOT / "infra" / "find-python.sh"), "3.11"], capture_output=True, text=True
    )
    if found.returncode != 0:
        pytest.fail(f"no Python 3.11 here: {found.stderr.strip()}")
    base = tmp_path_factory.mktemp("elsewhere")
    venv = base / "venv"
    _run([found.stdout.strip(), "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    lock = ROOT / "requirements-publish-py311.txt"
    _run([str(python), "-m", "pip", "install", "--quiet", "--require-hashes", "-r", str(lock)])
    # The project from a copy of the repository (what a user installs from), no build
    # files left in the checkout.
    copy = base / "repository"
    for part in ("functions", "training"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, copy / part)
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(copy)])
    return python


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    with LocalAws() as local:
        monkeypatch.setenv("AWS_ENDPOINT_URL", local.endpoint)
        monkeypatch.setenv("MODEL_BUCKET", MODEL_BUCKET)
        monkeypatch.setenv("MODEL_NAME", "cancer-elsewhere")
        realtime_app.container.reset()
        yield local
        realtime_app.container.reset()


def test_a_model_fitted_with_another_python_and_scikit_learn_is_published_and_served(
    elsewhere: Path, moto_server: LocalAws, tmp_path: Path
) -> None:
    # Given a model fitted in the other environment
    fitted = _run([str(elsewhere), "-c", FIT_THERE, str(tmp_path)])
    expected = json.loads(fitted.stdout.strip().splitlines()[-1])
    assert (expected["python"], expected["sklearn"][:4]) == ("3.11", "1.7.")
    # When it is published from there, with the installed command
    environment = {**os.environ, "AWS_ENDPOINT_URL": moto_server.endpoint}
    environment.pop("PYTHONPATH", None)
    published = _run(
        [
            str(elsewhere),
            "-m",
            "training.registry_cli",
            "--registry",
            f"s3://{MODEL_BUCKET}",
            "publish",
            "cancer-elsewhere",
            str(tmp_path / "model.joblib"),
            "--sample",
            str(tmp_path / "sample.csv"),
            "--target",
            "target",
            "--promote",
            "production",
            "--json",
        ],
        env=environment,
        cwd=tmp_path,  # not the checkout: the installed package answers
    )
    manifest = json.loads(published.stdout)["manifest"]
    # Then the manifest names the versions that made it
    assert manifest["versions"]["python"].startswith("3.11.")
    assert manifest["versions"]["scikit-learn"] == expected["sklearn"]
    assert manifest["source"]["sklearn_version"] == expected["sklearn"]
    # And the functions here serve it (the ONNX graph only), as scikit-learn 1.7 answers
    status, body, _ = call(
        "POST", "/models/cancer-elsewhere/predict", json.dumps({"instances": expected["rows"]})
    )
    answer = json.loads(body)
    assert status == 200, answer
    assert answer["predictions"] == expected["labels"]
    classes = manifest["classes"]
    got = np.asarray([[row[str(c)] for c in classes] for row in answer["probabilities"]])
    # Each row as scikit-learn answers it, or (where rounding its numbers to float32 moves
    # scikit-learn's own answer) as it answers the rounded row.
    for exact_or_rounded in zip(
        np.abs(got - np.asarray(expected["probabilities"])).max(axis=1),
        np.abs(got - np.asarray(expected["rounded_probabilities"])).max(axis=1),
        strict=True,
    ):
        assert min(exact_or_rounded) <= PROBABILITY_TOLERANCE
    assert sys.version_info[:2] == (3, 13)  # while this process serves on the functions' Python
