"""Fixtures shared by every test: fake AWS credentials, moto S3, a small trained model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
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


def _train_once(candidates: tuple[str, ...]) -> Artifacts:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="session-models")
        config = TrainingConfig(
            data=str(WINE_CSV),
            target="quality",
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
