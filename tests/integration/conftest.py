"""Fixtures of the realtime handler tests: the function's environment and a served model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from predictor.registry import ModelRegistry
from predictor.settings import get_settings
from realtime import app
from tests.conftest import MODEL_BUCKET, Artifacts


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, registry: ModelRegistry) -> Iterator[ModelRegistry]:
    """Environment of the function, and a fresh container (no cached model or settings)."""
    monkeypatch.setenv("MODEL_BUCKET", MODEL_BUCKET)
    monkeypatch.setenv("MODEL_NAME", "wine")
    monkeypatch.setenv("ALIAS_RECHECK_SECONDS", "60")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ServerlessPredictor")
    get_settings.cache_clear()
    monkeypatch.setattr(app, "_cache", None)
    yield registry
    get_settings.cache_clear()


@pytest.fixture
def wine(serve: ModelRegistry, wine_linear: Artifacts) -> str:
    """The linear wine model published and promoted; returns its version."""
    version = wine_linear.publish(serve)["version"]
    serve.set_alias("wine", "production", version)
    return str(version)
