"""Fixtures shared by every test: fake AWS credentials, moto S3, a small trained model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from predictor.registry import JOBLIB_ARTIFACT, MANIFEST_FILE, ONNX_ARTIFACT, ModelRegistry
from training.job import TrainingConfig, run_training

ROOT = Path(__file__).resolve().parent.parent
WINE_CSV = ROOT / "data" / "winequality-red.csv"
REGION = "us-east-1"
MODEL_BUCKET = "test-model-bucket"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a fixed region: nothing in a test can reach real AWS."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture
def s3() -> Iterator[Any]:
    """A moto S3 client with the model bucket created; state resets per test."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=MODEL_BUCKET)
        yield client


@pytest.fixture
def registry(s3: Any) -> ModelRegistry:
    """The registry over the moto model bucket."""
    return ModelRegistry(s3, MODEL_BUCKET)


@dataclass(frozen=True)
class Artifacts:
    """A model trained once per session, to publish into each test's fresh moto."""

    manifest: dict[str, Any]
    files: dict[str, bytes]

    def publish(self, registry: ModelRegistry, name: str = "wine") -> dict[str, Any]:
        """Store these artifacts as a new version of ``name``."""
        keep = {k: v for k, v in self.manifest.items() if k not in ("name", "version", "artifacts")}
        return registry.publish(name, keep, self.files)


def write_churn_csv(path: Path, n: int = 800) -> None:
    """A synthetic classification table: text classes, categories, missing values, BOM."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "tenure months": rng.integers(0, 60, n).astype(float),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "monthly fee": rng.normal(30, 10, n).round(2),
        }
    )
    frame.loc[rng.random(n) < 0.05, "tenure months"] = np.nan
    frame.loc[rng.random(n) < 0.05, "plan"] = None
    churn = (frame["plan"] == "basic") & (frame["tenure months"].fillna(0) < 20)
    frame["churned"] = np.where(churn ^ (rng.random(n) < 0.05), "yes", "no")
    path.write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False).encode())


def _train_once(
    candidates: tuple[str, ...], data: Path = WINE_CSV, target: str = "quality"
) -> Artifacts:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="session-models")
        config = TrainingConfig(
            data=str(data),
            target=target,
            name="wine",
            bucket="session-models",
            candidates=candidates,
            cv_folds=3,
        )
        manifest = run_training(config, client).manifest
        store = ModelRegistry(client, "session-models")
        files = {
            name: store.read_artifact(manifest, name) for name in (JOBLIB_ARTIFACT, ONNX_ARTIFACT)
        }
        assert MANIFEST_FILE not in files
        return Artifacts(manifest=manifest, files=files)


@pytest.fixture(scope="session")
def wine_linear() -> Artifacts:
    """A ridge regression on the wine data (seconds to train)."""
    return _train_once(("linear",))


@pytest.fixture(scope="session")
def wine_boosting() -> Artifacts:
    """A histogram gradient boosting model on the wine data."""
    return _train_once(("hist_gradient_boosting",))


@pytest.fixture(scope="session")
def churn_classifier(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """A classifier with a categorical, nullable column and text classes."""
    path = tmp_path_factory.mktemp("churn") / "churn.csv"
    write_churn_csv(path)
    return _train_once(("random_forest",), data=path, target="churned")


EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    """One of the sample events under events/."""
    return dict(json.loads((EVENTS / name).read_text()))


@dataclass
class FakeLambdaContext:
    """The attributes powertools reads from a Lambda context."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "test-request-id"
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds before the (fake) deadline."""
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """A fake Lambda context for handlers decorated by powertools."""
    return FakeLambdaContext()
