"""The bins capture counts a model's rows into: its baseline's, loaded once on the capture
thread when the model was loaded without one (realtime loads models without, so that the
first answer does not wait for it), and tried again a minute after a failure."""

from __future__ import annotations

from collections.abc import Callable

from predictor.errors import IntegrityError
from predictor.models.registry import LoadedModel
from predictor.profiling.baseline import Baseline
from predictor.profiling.bins import Layout

#: Seconds before a baseline that could not be loaded is tried again.
RETRY_SECONDS = 60


class Layouts:
    """Each model version's bins, as far as they can be had."""

    def __init__(
        self,
        baseline_of: Callable[[LoadedModel], Baseline | None] | None,
        clock: Callable[[], float],
        failed: Callable[[str], None],
    ) -> None:
        self._baseline_of = baseline_of
        self._clock = clock
        self._failed = failed
        self._layouts: dict[tuple[str, str], Layout | None] = {}
        self._retry_at: dict[tuple[str, str], float] = {}

    def of(self, model: LoadedModel) -> Layout | None:
        """The bins of ``model``: its baseline's; None while there are none (its rows are
        then counted without bins)."""
        if model.baseline is not None:
            return model.baseline.layout
        identity = (model.name, model.version)
        if identity not in self._layouts:
            if self._baseline_of is None or self._clock() < self._retry_at.get(identity, 0.0):
                return None
            try:
                baseline = self._baseline_of(model)
            except IntegrityError:  # broken for good: counted without bins
                self._failed(f"the baseline of {model.name} {model.version} is unusable")
                baseline = None
            except Exception:  # counted without bins; try again in a minute
                self._failed(f"capture could not load the baseline of {model.name}")
                self._retry_at[identity] = self._clock() + RETRY_SECONDS
                return None
            self._layouts[identity] = baseline.layout if baseline is not None else None
        return self._layouts[identity]
