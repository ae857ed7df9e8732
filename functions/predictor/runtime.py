"""What a serving function creates once per container: settings, the S3 client, the models.

Each handler module owns one :class:`Container`. It is built on the first invocation,
not at import (so nothing reaches the environment or the network while the handler
module loads), and kept for the container's life. A misconfiguration is found there,
once, logged in one clear line, and raised as the same :class:`ConfigError` on every
later call, so every route and every message meets the same answer.
:meth:`Container.reset` drops it all: a fresh container (tests, a restored snapshot).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from predictor.errors import ConfigError
from predictor.models.model_set import ModelSet
from predictor.models.registry import RegistryReader
from predictor.monitoring.capture import CaptureRecorder
from predictor.settings import Settings


@dataclass(frozen=True, slots=True)
class Runtime:
    """One container's settings, S3 client and models."""

    settings: Settings
    s3: Any
    models: ModelSet
    #: Counts what this container scores (None when CAPTURE_BUCKET is unset).
    capture: CaptureRecorder | None


logger = logging.getLogger(__name__)


def build_runtime(
    settings: Settings,
    s3: Any,
    on_capture_failure: Callable[[str], None] | None = None,
    *,
    eager_baselines: bool = True,
) -> Runtime:
    """The runtime of ``settings``: the served models, loaded lazily through ``s3``.

    With ``eager_baselines`` and capture on, a model's monitoring baseline is loaded with
    it (batch counts each chunk as it scores it); otherwise (realtime, where a cold start should not
    wait for two more GETs) the capture thread loads it when it first counts.
    """
    reader = RegistryReader(s3, settings.registry)
    models = ModelSet(
        reader,
        settings.model_name,
        settings.model_alias,
        patterns=settings.served_models,
        budget_bytes=settings.model_cache_mib * 1024 * 1024,
        recheck_seconds=settings.alias_recheck_seconds,
        inference_threads=settings.inference_threads,
        # Without capture nothing is counted: no baseline to load.
        with_baselines=eager_baselines and bool(settings.capture_bucket),
    )
    capture = None
    if settings.capture_bucket:
        capture = CaptureRecorder(
            s3,
            settings.capture_bucket,
            flush_seconds=settings.capture_flush_seconds,
            sample_percent=settings.capture_sample_percent,
            writer=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local"),
            on_failure=on_capture_failure,
            baseline_of=lambda model: reader.baseline(model.manifest),
            keep_predictions=settings.keep_predictions,
        )
    return Runtime(settings, s3, models, capture)


def boto3_s3_client() -> Any:
    """boto3's S3 client (imported here, not at import: only the first invocation pays)."""
    import boto3

    return boto3.client("s3")


class Container:
    """Creates this function's :class:`Runtime` on first use and keeps it."""

    def __init__(
        self,
        s3_client: Callable[[], Any] = boto3_s3_client,
        on_capture_failure: Callable[[str], None] | None = None,
        *,
        eager_baselines: bool = True,
    ) -> None:
        self._s3_client = s3_client
        self._eager_baselines = eager_baselines
        #: Called with a sentence when capture fails (the handler counts it as a metric).
        self.on_capture_failure = on_capture_failure
        self._runtime: Runtime | None = None
        self._config_error: ConfigError | None = None
        #: What :meth:`warm` runs first (see :meth:`register_snapshot_hooks`).
        self._prepare_snapshot: Callable[[], None] | None = None

    def get(self) -> Runtime:
        """The runtime, created on first use (ConfigError, every time, if misconfigured)."""
        if self._runtime is not None:
            return self._runtime
        if self._config_error is not None:
            raise self._config_error
        try:
            settings = Settings.from_env(os.environ)
        except ConfigError as exc:
            logger.error("the function cannot start: %s", exc)
            self._config_error = exc
            raise
        self._runtime = build_runtime(
            settings,
            self._s3_client(),
            self.on_capture_failure,
            eager_baselines=self._eager_baselines,
        )
        logger.info(
            "serving %s@%s from %s", settings.model_name, settings.model_alias, settings.registry
        )
        return self._runtime

    @property
    def loaded(self) -> Runtime | None:
        """The runtime if it exists already (never creates one)."""
        return self._runtime

    def reset(self) -> None:
        """Forget the runtime: the next :meth:`get` builds a new one."""
        self._runtime, self._config_error = None, None

    # ----- SnapStart: Lambda snapshots the container after its init and restores copies
    def warm(self) -> None:
        """Before the snapshot: settings, client and model ready, inference run once.

        A failure (no model yet, a misconfiguration) is logged and left to the first
        request, which meets it as any cold start would.
        """
        if self._prepare_snapshot is not None:
            self._prepare_snapshot()
        try:
            model = self.get().models.get()
            model.predictor.predict(model.predictor.schema.example_features())
        except Exception:
            logger.exception("could not prepare the snapshot; the first request will load")
            return
        logger.info("snapshot ready with %s %s", model.name, model.version)

    def after_restore(self) -> None:
        """After a restore: a new S3 client (fresh credentials and connections), the model
        kept, and the alias looked at again on the next request (the snapshot may be old).
        """
        runtime = self._runtime
        if runtime is None:
            return
        fresh = build_runtime(
            runtime.settings,
            self._s3_client(),
            self.on_capture_failure,
            eager_baselines=self._eager_baselines,
        )
        fresh.models.adopt(runtime.models)
        self._runtime = fresh

    def register_snapshot_hooks(self, prepare: Callable[[], None] | None = None) -> bool:
        """Register :meth:`warm` (after ``prepare``, which may import what later requests
        need) and :meth:`after_restore` with Lambda's runtime hooks.

        ``snapshot_restore_py`` comes with Lambda's Python runtime (and from PyPI for the
        tests); elsewhere there is nothing to register with. Returns whether it was found.
        """
        try:
            from snapshot_restore_py import register_after_restore, register_before_snapshot
        except ImportError:
            return False
        self._prepare_snapshot = prepare
        register_before_snapshot(self.warm)
        register_after_restore(self.after_restore)
        return True
