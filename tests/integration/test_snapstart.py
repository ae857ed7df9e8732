"""SnapStart's runtime hooks, called in-process as Lambda would call them.

Lambda takes the snapshot after the init phase (once each handler module has registered
its hooks), calls the before-snapshot hooks first, and calls the after-restore hooks in
every copy it restores, possibly long after.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import snapshot_restore_py

from batch import app as batch_app
from infra.lambda_context import LambdaContext
from predictor.runtime import Container
from realtime import app as realtime_app
from tests.helpers import Artifacts, invoke, load_event
from training.registry_admin import ModelRegistry


def hooks_of(container: Container) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """The (before snapshot, after restore) hooks ``container`` registered at import."""
    (before,) = [
        f for f, _, _ in snapshot_restore_py.get_before_snapshot() if f.__self__ is container
    ]
    (after,) = [f for f, _, _ in snapshot_restore_py.get_after_restore() if f.__self__ is container]
    return before, after


@pytest.mark.parametrize("container", [realtime_app.container, batch_app.container])
def test_each_function_registered_both_hooks(container: Container) -> None:
    before, after = hooks_of(container)
    assert before.__name__ == "warm"
    assert after.__name__ == "after_restore"


def test_the_snapshot_holds_the_model_and_a_restore_refreshes_client_and_alias(
    wine: str, serve: ModelRegistry, wine_boosting: Artifacts, lambda_context: LambdaContext
) -> None:
    before, after = hooks_of(realtime_app.container)
    # Given the init phase ran the before-snapshot hook
    before()
    snapshot = realtime_app.container.loaded
    assert snapshot is not None
    assert snapshot.models.current is not None
    assert snapshot.models.current.version == wine
    # When a newer version is promoted while the snapshot waits, and a copy is restored
    newer = wine_boosting.publish(serve)["version"]
    serve.set_alias("wine", "production", newer)
    after()
    restored = realtime_app.container.loaded
    assert restored is not None
    # Then the copy has a client of its own, keeps the model until its first request...
    assert restored.s3 is not snapshot.s3
    assert restored.models.current is snapshot.models.current
    # ...and that request looks at the alias at once, whatever the re-check interval.
    _, body, _ = invoke(load_event("realtime_get_health.json"), lambda_context)
    assert body["model"]["version"] == newer


def test_a_snapshot_without_a_model_leaves_loading_to_the_first_request(
    serve: ModelRegistry, wine_linear: Artifacts, lambda_context: LambdaContext
) -> None:
    before, after = hooks_of(realtime_app.container)
    before()  # no alias yet: logged, not raised
    after()
    status, _, _ = invoke(load_event("realtime_get_health.json"), lambda_context)
    assert status == 503
    serve.set_alias("wine", "production", wine_linear.publish(serve)["version"])
    realtime_app.container.get().models.recheck_now()
    assert invoke(load_event("realtime_get_health.json"), lambda_context)[0] == 200
