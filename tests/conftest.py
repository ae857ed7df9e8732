"""Fixtures shared by every tier: fake AWS credentials, moto S3, small trained models built
once per run, each function's environment and a fresh container."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.lambda_context import LambdaContext
from infra.local_env import CREDENTIALS, MODEL_BUCKET, create_buckets
from tests.helpers import Artifacts, train_once, write_churn_csv
from training.registry_admin import ModelRegistry

# powertools reads these when a handler module builds its logger and metrics, at import;
# the template sets them for each function.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "test")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ServerlessPredictor")

# The realtime handler imports its routed side (powertools' logger) on the first request
# that needs it, and the logger writes to the sys.stdout of that moment: made here, it is
# the run's, not one test's captured output, closed when that test ends.
import realtime.routed  # noqa: F401

#: Tests run between two freezes of what survived the collector (pytest_runtest_logfinish).
FREEZE_EVERY = 25
_tests_run = 0


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Every :data:`FREEZE_EVERY` tests, once a test's fixtures are torn down, collect,
    then move what survived out of the cyclic collector's sight (``gc.freeze()``; freed
    by reference counting all the same).

    botocore and moto load their service models once per process (hundreds of thousands
    of dicts), and every full collection scanned them again: 69 s of a 300 s `make test`
    went to the collector, 44 s of it in 32 full collections. A cycle that becomes garbage
    after it was frozen is not collected; the run is short, and its memory bounded.
    """
    global _tests_run
    _tests_run += 1
    if _tests_run % FREEZE_EVERY == 0:
        gc.collect()
        gc.freeze()


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a fixed region: nothing in a test can reach real AWS."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def s3() -> Iterator[Any]:
    """A moto S3 client with the template's buckets; state resets per test."""
    with mock_aws():
        client = boto3.client("s3")
        create_buckets(client)
        yield client


@pytest.fixture
def registry(s3: Any) -> ModelRegistry:
    """The registry over the moto model bucket."""
    return ModelRegistry(s3, MODEL_BUCKET)


@pytest.fixture(scope="session")
def wine_linear() -> Artifacts:
    """A ridge regression on the wine data (seconds to train)."""
    return train_once(("linear",))


@pytest.fixture(scope="session")
def wine_boosting() -> Artifacts:
    """A histogram gradient boosting model on the wine data."""
    return train_once(("hist_gradient_boosting",))


@pytest.fixture(scope="session")
def churn_classifier(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """A classifier with a categorical, nullable column and text classes."""
    path = tmp_path_factory.mktemp("churn") / "churn.csv"
    write_churn_csv(path)
    return train_once(("random_forest",), data=path, target="churned")


@pytest.fixture
def lambda_context() -> LambdaContext:
    """A Lambda context for handlers decorated by powertools."""
    return LambdaContext("test-function")


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, registry: ModelRegistry) -> Iterator[ModelRegistry]:
    """The functions' environment, and fresh containers (no settings, client or model yet)."""
    from batch import app as batch_app  # the handlers read powertools' variables at import
    from realtime import app as realtime_app

    monkeypatch.setenv("MODEL_BUCKET", MODEL_BUCKET)
    monkeypatch.setenv("MODEL_NAME", "wine")
    monkeypatch.setenv("ALIAS_RECHECK_SECONDS", "60")
    realtime_app.container.reset()
    batch_app.container.reset()
    yield registry
    realtime_app.container.reset()
    batch_app.container.reset()


@pytest.fixture
def wine(serve: ModelRegistry, wine_linear: Artifacts) -> str:
    """The linear wine model published and promoted; returns its version."""
    version = wine_linear.publish(serve)["version"]
    serve.set_alias("wine", "production", version)
    return str(version)


@pytest.fixture
def data(s3: Any, wine: str) -> Any:
    """A promoted wine model and the data bucket, for the batch function; the S3 client."""
    return s3


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch, wine: str) -> None:
    """Small request limits (5 rows, 2,500 bytes), so that tests can cross them cheaply."""
    monkeypatch.setenv("MAX_REQUEST_ROWS", "5")
    monkeypatch.setenv("MAX_REQUEST_BYTES", "2500")
    from realtime import app as realtime_app

    realtime_app.container.reset()


@pytest.fixture
def served(serve: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> ModelRegistry:
    """Every published model served by the functions (the default one is never asked for)."""
    monkeypatch.setenv("SERVED_MODELS", "*")
    from batch import app as batch_app
    from realtime import app as realtime_app

    realtime_app.container.reset()
    batch_app.container.reset()
    return serve
