"""Data capture in a serving container: profiles of what it scores, and sampled requests.

:meth:`CaptureRecorder.record` is on every request's path, so it only appends the
request (a small one as it came, a larger one as model input) and its predictions to a
queue. A background thread (started by the first request) parses the small ones again,
validates them in bulk, counts the queue into the baseline's bins every ``COUNT_SECONDS``
and, every
``flush_seconds``, stores per model version and window this container's
running profile of that window (one object per container and window, rewritten on each
flush, so a failed write is made good by the next one). Sampled requests, when a
percentage is set, go to JSON Lines files in SageMaker's data capture format.

Capture never fails or holds up a prediction: every error is logged, counted and handed
to ``on_failure`` (the handler's metric), and the predictions are answered regardless.
What a container counted after its last flush is lost if Lambda reclaims it first; a
container flushes ``flush_seconds`` after it scores, or, when Lambda has frozen it
meanwhile, as soon as its next request thaws it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from predictor.models.registry import LoadedModel
from predictor.monitoring.exchange import Exchange, store_samples
from predictor.monitoring.kept import KeptPredictions
from predictor.monitoring.layout import WINDOW_SECONDS
from predictor.monitoring.layouts import Layouts
from predictor.monitoring.profile_store import store_profile
from predictor.monitoring.revalidation import Scored, validated_again
from predictor.profiling.baseline import Baseline
from predictor.profiling.profiles import Profile
from predictor.rows import ParsedRequest, row_ids

logger = logging.getLogger(__name__)

#: Windows kept in memory while their profile cannot be stored (a day of windows).
MAX_UNSTORED_WINDOWS = 288

WindowKey = tuple[str, str, int]  # model name, version, window number

#: The flusher counts what requests noted this often, so that a busy container keeps few
#: rows waiting (a second's worth measurably slowed the requests; counting far more often
#: cost more in wake-ups than it saved: see make bench's capture figures).
COUNT_SECONDS = 0.25

_RANDOM = random.SystemRandom()

#: Requests of at most this many rows are noted as they came and parsed again by the
#: counting thread: keeping each one's numpy arrays alive until they are counted slowed
#: the requests that followed more than parsing them twice costs (make bench's capture).
RAW_ROWS = 16

#: Parses a noted request again: its raw columns, as its route read them.
ParseAgain = Callable[[], ParsedRequest]


class CaptureRecorder:
    """Counts one container's scored rows into profiles and stores them in the background."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        *,
        flush_seconds: float = 60.0,
        sample_percent: float = 0.0,
        writer: str = "realtime",
        on_failure: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        baseline_of: Callable[[LoadedModel], Baseline | None] | None = None,
        keep_predictions: bool = False,
    ) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.flush_seconds = flush_seconds
        self.sample_percent = sample_percent
        # Unique per container (and per SnapStart restore, which builds a new recorder).
        self.writer = f"{writer}-{uuid.uuid4().hex[:12]}"
        self._on_failure = on_failure
        self._clock = clock
        self._flusher: threading.Thread | None = None
        self._starting = threading.Lock()
        self._layouts = Layouts(baseline_of, clock, self._failed)
        #: How often each window's profile was started afresh after it was stored and
        #: forgotten (a late row): each start writes its own object, never over another.
        self._generations: dict[WindowKey, int] = {}
        # What requests noted, oldest first: appending and popping are thread-safe, so
        # the request path takes no lock.
        self._noted: deque[tuple[Any, ...]] = deque()
        self._profiles: dict[WindowKey, Profile] = {}  # this container's running counts
        self._unstored: set[WindowKey] = set()
        self._samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._sequence = 0
        self._flushing = threading.Lock()
        self.failures = 0
        #: Each scored row kept for joining with labels (None: feedback off).
        self.kept = KeptPredictions(self.writer) if keep_predictions else None

    # ----- the request path: note, nothing more ------------------------------------------
    def record(
        self,
        model: LoadedModel,
        features: Mapping[str, np.ndarray],
        predictions: np.ndarray,
        exchange: Callable[[], Exchange] | None = None,
        parse_again: ParseAgain | None = None,
        inference_id: str = "",
        probabilities: np.ndarray | None = None,
    ) -> None:
        """Note one request's scored rows (and sample it); never raises.

        With ``parse_again``, a request of at most ``RAW_ROWS`` rows is noted as it came,
        with its predictions as a list: ``features`` is then let go with the request.
        """
        try:
            now = self._clock()
            sample = None
            sampled = self.sample_percent > 0 and exchange is not None
            # SystemRandom: copies of one SnapStart snapshot must not sample alike.
            if sampled and _RANDOM.random() * 100 < self.sample_percent:
                sample = exchange().to_record(now)  # type: ignore[misc]
            if parse_again is not None and len(predictions) <= RAW_ROWS:
                listed = probabilities.tolist() if probabilities is not None else None
                values: Any = predictions.tolist()
                self._noted.append((now, model, parse_again, values, sample, inference_id, listed))
            else:
                self._noted.append(
                    (now, model, features, predictions, sample, inference_id, probabilities)
                )
            if self._flusher is None:
                self._start_flusher()
        except Exception:
            self._failed("capture could not note a request")

    def refused(self, model: LoadedModel, rows: int, columns: Iterable[str | None]) -> None:
        """Note rows the schema refused; never raises."""
        try:
            refusal = (self._clock(), model, None, (rows, tuple(columns)), None, "", None)
            self._noted.append(refusal)
            if self._flusher is None:
                self._start_flusher()
        except Exception:
            self._failed("capture could not note a refusal")

    def _start_flusher(self) -> None:
        """Start the thread that counts and stores (once per recorder)."""
        with self._starting:
            if self._flusher is not None:
                return
            thread = threading.Thread(target=self._flush_forever, name="capture", daemon=True)
            thread.start()
            self._flusher = thread

    def _flush_forever(self) -> None:
        next_store = self._clock() + self.flush_seconds
        while True:
            time.sleep(min(COUNT_SECONDS, self.flush_seconds))
            try:
                if self._clock() >= next_store:
                    next_store = self._clock() + self.flush_seconds
                    self.flush()
                else:
                    with self._flushing:
                        self._count_noted()
            except Exception:  # the thread must live on: the queue would grow for ever
                self._failed("capture's thread met an error")

    # ----- the background path ---------------------------------------------------------
    def flush(self) -> None:
        """Count what was noted and store every changed profile and the samples."""
        with self._flushing:
            self._count_noted()
            self._store_profiles()
            self._store_samples()
            if self.kept is not None:
                self.kept.store(self._s3, self.bucket, self._failed)

    def _count_noted(self) -> None:
        """Count the noted requests, a window's requests of a version at once."""
        groups: dict[WindowKey, tuple[LoadedModel, list[tuple[Any, ...]]]] = {}
        while True:
            try:
                item = self._noted.popleft()
            except IndexError:
                break
            when, model = item[0], item[1]
            key = (model.name, model.version, int(when) // WINDOW_SECONDS)
            groups.setdefault(key, (model, []))[1].append(item)
        for key, (model, items) in groups.items():
            try:
                self.count_of(key, model, items)
            except Exception:
                self._failed(f"capture could not count requests of {key[0]} {key[1]}")

    def count_of(self, key: WindowKey, model: LoadedModel, items: list[tuple[Any, ...]]) -> None:
        name, version, _ = key
        layout = self._layouts.of(model)
        profile = self._profiles.get(key)
        if profile is None:
            profile = Profile.empty(name, version, layout)
            if key in self._generations:  # stored and forgotten before: a late row
                self._generations[key] += 1
        parts = [
            Scored(
                item[2],
                np.asarray(item[3]).ravel(),
                row_ids(item[5], len(item[3])),
                [item[0]] * len(item[3]),
                item[6],
            )
            for item in items
            if item[2] is not None and not callable(item[2])
        ]
        parts.extend(
            validated_again(model, [item for item in items if callable(item[2])], self._failed)
        )
        if parts:
            features = {
                column: np.concatenate([part.features[column] for part in parts])
                for column in parts[0].features
            }
            predictions = np.concatenate([part.predictions for part in parts])
            profile.add_rows(layout, features, predictions)
            if self.kept is not None:
                self._keep(model, parts)
        for item in items:
            if item[2] is None:
                rows, columns = item[3]
                profile.add_refusals(rows, columns)
            if item[4] is not None:
                self._samples.setdefault((name, version), []).append(item[4])
        self._profiles[key] = profile
        self._unstored.add(key)

    def _keep(self, model: LoadedModel, parts: list[Scored]) -> None:
        for part in parts:
            assert self.kept is not None
            self.kept.add(
                model.name, model.version, _classes(model), dict(part.features),
                part.predictions, part.ids, part.times, part.probabilities,
            )  # fmt: skip

    def _store_profiles(self) -> None:
        current_window = int(self._clock()) // WINDOW_SECONDS
        for key in sorted(self._unstored):
            name, version, window = key
            generation = self._generations.get(key, 0)
            writer = f"{self.writer}-{generation}" if generation else self.writer
            try:
                store_profile(
                    self._s3, self.bucket, self._profiles[key], writer, window * WINDOW_SECONDS
                )
            except Exception:
                self._failed(f"capture could not store the profile of {name} {version}")
                continue
            self._unstored.discard(key)
        # A stored window that ended before the last one will hardly change again: forget
        # it (a row that comes later still is stored apart, in the window's next generation).
        for key in [
            k for k in self._profiles if k[2] < current_window - 1 and k not in self._unstored
        ]:
            del self._profiles[key]
            self._generations.setdefault(key, 0)
        while len(self._unstored) > MAX_UNSTORED_WINDOWS:
            oldest = min(self._unstored)
            self._unstored.discard(oldest)
            del self._profiles[oldest]
            self._generations.setdefault(oldest, 0)
            self._failed(f"capture dropped the unstored profile of window {oldest}")

    def _store_samples(self) -> None:
        self._sequence = store_samples(
            self._s3, self.bucket, self.writer, self._samples, self._sequence, self._clock(),
            self._failed,
        )  # fmt: skip

    def _failed(self, what: str) -> None:
        self.failures += 1
        logger.warning(what, exc_info=True)
        if self._on_failure is not None:
            try:
                self._on_failure(what)
            except Exception:
                logger.warning("capture could not count its failure", exc_info=True)


def _classes(model: LoadedModel) -> tuple[object, ...] | None:
    classes = model.manifest.get("classes")
    return tuple(classes) if classes else None
