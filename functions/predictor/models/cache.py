"""The per-process model cache of a serving function.

A container loads its model once, then re-checks the alias at most every
``recheck_seconds``. When the alias has moved, the new version is loaded and swapped in
with one reference assignment, so a request already holding the old model finishes with
it. If the re-check itself fails (S3 unreachable), the loaded model keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from predictor.errors import ModelNotFoundError
from predictor.models.registry import LoadedModel

logger = logging.getLogger(__name__)

#: How long a failure to load any model is remembered before the next attempt.
FAILURE_RETRY_SECONDS = 5.0


class ModelCache:
    """Serve the version ``resolve()`` names, loaded by ``load(version)``; reload on a move.

    ``clock`` is the seam tests (and a restored snapshot) use to move time. With
    ``forget_when_gone`` (a pinned version), a re-check that finds the version deleted
    (:class:`ModelNotFoundError`) drops the model instead of serving it on.
    """

    def __init__(
        self,
        resolve: Callable[[], str],
        load: Callable[[str], LoadedModel],
        recheck_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        forget_when_gone: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._resolve = resolve
        self._forget_when_gone = forget_when_gone
        self._load = load
        self._recheck_seconds = recheck_seconds
        self.clock = clock
        self._current: LoadedModel | None = None
        self._next_check = float("-inf")
        self._failure: Exception | None = None

    @property
    def current(self) -> LoadedModel | None:
        """The model loaded now, without checking the alias (None before the first load)."""
        return self._current

    def recheck_now(self) -> None:
        """Make the next :meth:`get` look at the alias again, whatever the interval."""
        self._next_check = float("-inf")

    def adopt(self, model: LoadedModel | None) -> None:
        """Serve ``model`` (loaded elsewhere) until the next get() re-checks the alias."""
        self._current = model
        self.recheck_now()

    def get(self) -> LoadedModel:
        """The model to serve now; loads or swaps it when the re-check interval has passed.

        Raises only when no model has ever been loaded and none can be; that failure is
        remembered for up to :data:`FAILURE_RETRY_SECONDS` so a stream of requests to a
        function without a model does not become a stream of S3 calls.
        """
        current = self._current
        if self.clock() < self._next_check:
            if current is not None:
                return current
            if self._failure is not None:
                # Without its old traceback: re-raising one object would grow it each time.
                raise self._failure.with_traceback(None)
        with self._lock:
            if self.clock() < self._next_check and self._current is not None:
                return self._current  # another thread re-checked while we waited
            return self._refresh(self._current)

    def _refresh(self, current: LoadedModel | None) -> LoadedModel:
        try:
            version = self._resolve()
            if current is None or version != current.version:
                loaded = self._load(version)
                if current is not None:
                    logger.info(
                        "alias moved: serving %s instead of %s", loaded.version, current.version
                    )
                current = self._current = loaded
        except Exception as exc:
            if self._forget_when_gone and isinstance(exc, ModelNotFoundError):
                if current is not None:
                    logger.info("%s was deleted: no longer served", current.version)
                self._current = current = None
            if current is None:
                self._failure = exc
                self._next_check = self.clock() + min(self._recheck_seconds, FAILURE_RETRY_SECONDS)
                raise
            # Keep serving what we have: a bad new version or a blip of S3 must not take
            # a working function down. Try again after the next interval.
            logger.warning("alias re-check failed, still serving %s: %s", current.version, exc)
        self._failure = None
        self._next_check = self.clock() + self._recheck_seconds
        return current
