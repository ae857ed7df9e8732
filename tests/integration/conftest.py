"""Fixtures of the handler tests: each function's environment, a fresh container, a model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from batch import app as batch_app
from infra.local_env import MODEL_BUCKET
from realtime import app as realtime_app
from tests.helpers import Artifacts
from training.registry_admin import ModelRegistry


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, registry: ModelRegistry) -> Iterator[ModelRegistry]:
    """The functions' environment, and fresh containers (no settings, client or model yet)."""
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
    realtime_app.container.reset()
