from typing import Any

import pytest

from infra.local_env import MODEL_BUCKET
from predictor.errors import ModelNotFoundError
from predictor.models.cache import FAILURE_RETRY_SECONDS, ModelCache
from tests.helpers import Artifacts
from training.registry_admin import ModelRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingRegistry(ModelRegistry):
    """The real registry, counting alias look-ups and loads."""

    def __init__(self, s3: Any) -> None:
        super().__init__(s3, MODEL_BUCKET)
        self.resolves = 0
        self.loads = 0
        self.fail_resolve = False

    def resolve(self, name: str, alias: str) -> str:
        self.resolves += 1
        if self.fail_resolve:
            raise ConnectionError("S3 unreachable")
        return super().resolve(name, alias)

    def load_onnx(self, name: str, version: str, inference_threads: int = 1) -> Any:
        self.loads += 1
        return super().load_onnx(name, version, inference_threads)


def cache_of(registry: ModelRegistry, recheck_seconds: float, clock: Clock) -> ModelCache:
    """The cache a serving function builds: wine@production from ``registry``."""
    return ModelCache(
        resolve=lambda: registry.resolve("wine", "production"),
        load=lambda version: registry.load_onnx("wine", version),
        recheck_seconds=recheck_seconds,
        clock=clock,
    )


@pytest.fixture
def counting(s3: Any) -> CountingRegistry:
    return CountingRegistry(s3)


def test_loads_once_and_rechecks_only_after_the_interval(
    counting: CountingRegistry, wine_linear: Artifacts
) -> None:
    first = wine_linear.publish(counting)["version"]
    counting.set_alias("wine", "production", first)
    clock = Clock()
    cache = cache_of(counting, 30, clock)
    model = cache.get()
    for _ in range(100):
        assert cache.get() is model
    assert (counting.resolves, counting.loads) == (1, 1)

    second = wine_linear.publish(counting)["version"]
    counting.set_alias("wine", "production", second)
    clock.now += 29
    assert cache.get().version == first
    clock.now += 2
    assert cache.get().version == second
    assert (counting.resolves, counting.loads) == (2, 2)


def test_unchanged_alias_does_not_reload(
    counting: CountingRegistry, wine_linear: Artifacts
) -> None:
    version = wine_linear.publish(counting)["version"]
    counting.set_alias("wine", "production", version)
    clock = Clock()
    cache = cache_of(counting, 1, clock)
    model = cache.get()
    clock.now += 5
    assert cache.get() is model
    assert (counting.resolves, counting.loads) == (2, 1)


def test_failed_recheck_keeps_serving_the_loaded_model(
    counting: CountingRegistry, wine_linear: Artifacts
) -> None:
    version = wine_linear.publish(counting)["version"]
    counting.set_alias("wine", "production", version)
    clock = Clock()
    cache = cache_of(counting, 1, clock)
    model = cache.get()
    counting.fail_resolve = True
    clock.now += 5
    assert cache.get() is model


def test_no_model_raises_and_the_failure_is_remembered(counting: CountingRegistry) -> None:
    clock = Clock()
    cache = cache_of(counting, 60, clock)
    with pytest.raises(ModelNotFoundError):
        cache.get()
    with pytest.raises(ModelNotFoundError):
        cache.get()
    assert counting.resolves == 1
    clock.now += FAILURE_RETRY_SECONDS + 0.1
    with pytest.raises(ModelNotFoundError):
        cache.get()
    assert counting.resolves == 2
