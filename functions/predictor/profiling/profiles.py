"""Feature profiles: counts of what a model scores, in its baseline's bins.

A model version's baseline (:mod:`predictor.profiling.baseline`) fixes the bins
(:mod:`predictor.profiling.bins`) of every input column and of the model's own
predictions. Serving counts every scored row into those bins (:class:`Profile`). A
profile holds only integers, minima and maxima, so merging profiles is exact,
associative and commutative: any number of functions may write their own, and the
monitor adds them up in any order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from predictor.profiling.bins import Counts, Layout, count_column, count_of, text_of, zeros

PROFILE_FORMAT = 1


#: The most refusal columns one profile may name (a model's columns, plus "(row)").
MAX_REFUSAL_NAMES = 10_000


@dataclass(slots=True)
class Profile:
    """What one writer saw of one model version in one time window: counts only.

    ``columns`` holds the model's input columns by name; the predictions are counted
    apart, in ``prediction`` (a column may be called "prediction" too). A profile
    counted without a baseline (``layout`` empty) holds row counts only, and merges with
    any profile of its version.
    """

    model: str
    version: str
    layout: str
    rows: int = 0
    refused_rows: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    columns: dict[str, Counts] = field(default_factory=dict)
    prediction: Counts | None = None

    @classmethod
    def empty(cls, model: str, version: str, layout: Layout | None) -> Profile:
        profile = cls(model, version, layout.fingerprint if layout else "")
        if layout is not None:
            for bins in layout.features:
                profile.columns[bins.name] = zeros(bins)
            profile.prediction = zeros(layout.prediction)
        return profile

    def add_rows(
        self, layout: Layout | None, features: Mapping[str, np.ndarray], predictions: np.ndarray
    ) -> None:
        """Count scored rows: model input (column name -> values) and their predictions."""
        rows = len(np.asarray(predictions).ravel())
        if rows == 0:
            return
        self.rows += rows
        if layout is None:
            return
        if not self.layout:  # rows counted before the bins were known: bins from now on
            self.layout = layout.fingerprint
            self.columns = {bins.name: zeros(bins) for bins in layout.features}
            self.prediction = zeros(layout.prediction)
        elif self.layout != layout.fingerprint:
            raise ValueError("counting into other bins than this profile's")
        for bins in layout.features:
            values = features.get(bins.name)
            if values is not None:
                found = count_column(bins, values)
                current = self.columns.get(bins.name)
                self.columns[bins.name] = found if current is None else current.merged(found)
        found = count_column(layout.prediction, np.asarray(predictions))
        self.prediction = found if self.prediction is None else self.prediction.merged(found)

    def add_refusals(self, rows: int, columns: Iterable[str | None]) -> None:
        """Count rows the schema refused, and the columns their problems named."""
        self.refused_rows += rows
        for column in columns:
            name = column or "(row)"
            self.refusals[name] = self.refusals.get(name, 0) + 1

    def merged(self, other: Profile) -> Profile:
        """The sum of two profiles of the same model version and bins."""
        same_bins = self.layout == other.layout or "" in (self.layout, other.layout)
        if (self.model, self.version) != (other.model, other.version) or not same_bins:
            raise ValueError(
                f"cannot merge profiles of {self.model} {self.version} (bins {self.layout}) "
                f"and {other.model} {other.version} (bins {other.layout})"
            )
        columns = dict(self.columns)
        for name, counts in other.columns.items():
            mine = columns.get(name)
            columns[name] = counts if mine is None else mine.merged(counts)
        refusals = dict(self.refusals)
        for name, count in other.refusals.items():
            refusals[name] = refusals.get(name, 0) + count
        prediction = self.prediction
        if other.prediction is not None:
            prediction = (
                other.prediction if prediction is None else prediction.merged(other.prediction)
            )
        return Profile(
            self.model,
            self.version,
            self.layout or other.layout,
            self.rows + other.rows,
            self.refused_rows + other.refused_rows,
            refusals,
            columns,
            prediction,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored under ``monitoring/profiles/``."""
        return {
            "format": PROFILE_FORMAT,
            "model": self.model,
            "version": self.version,
            "layout": self.layout,
            "rows": self.rows,
            "refused_rows": self.refused_rows,
            "refusals": dict(sorted(self.refusals.items())),
            "columns": {name: c.to_dict() for name, c in sorted(self.columns.items())},
            "prediction": self.prediction.to_dict() if self.prediction is not None else None,
        }

    @classmethod
    def from_dict(cls, document: Any, layout: Layout | None = None) -> Profile:
        """Inverse of :meth:`to_dict`; ValueError for anything malformed.

        With ``layout``, a profile with counts must have its fingerprint and sizes.
        """
        if not isinstance(document, dict) or document.get("format") != PROFILE_FORMAT:
            raise ValueError("not a profile (format 1)")
        refusals = document["refusals"]
        if not isinstance(refusals, dict) or len(refusals) > MAX_REFUSAL_NAMES:
            raise ValueError(f"refusals must name at most {MAX_REFUSAL_NAMES} columns")
        profile = cls(
            text_of(document["model"]),
            text_of(document["version"]),
            text_of(document["layout"]),
            count_of(document["rows"]),
            count_of(document["refused_rows"]),
            {text_of(k): count_of(v) for k, v in refusals.items()},
        )
        columns, prediction = document["columns"], document.get("prediction")
        if not isinstance(columns, dict):
            raise ValueError("columns must be an object")
        if not profile.layout:
            if columns or prediction is not None:
                raise ValueError("counts without the bins they were counted into")
            return profile
        if layout is not None and profile.layout != layout.fingerprint:
            raise ValueError("counted into other bins than this version's baseline")
        sizes = {b.name: b.size for b in layout.features} if layout else None
        for name, counts in columns.items():
            size = len(counts.get("counts", ())) if sizes is None else sizes.get(name)
            if size is None:
                raise ValueError(f"column {name!r} is not in the baseline")
            profile.columns[text_of(name)] = Counts.from_dict(counts, size)
        if prediction is not None:
            size = len(prediction.get("counts", ())) if layout is None else layout.prediction.size
            profile.prediction = Counts.from_dict(prediction, size)
        counted = [*profile.columns.values(), *filter(None, [profile.prediction])]
        if any(sum(c.counts.tolist()) > profile.rows for c in counted):
            raise ValueError("a column counts more values than the profile has rows")
        return profile
