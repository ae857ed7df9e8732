"""What a monitor run reports: the period it read, and per model and version the rows
profiled, the comparison with the baseline and a status.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from predictor.monitoring.drift import Comparison
from predictor.monitoring.layout import WINDOW_SECONDS
from predictor.settings import MAX_LOOKBACK_MINUTES

REPORT_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Period:
    """The windows a run reads: starts from ``first`` up to, not including, ``end``."""

    first: datetime
    end: datetime

    @classmethod
    def of(cls, now: datetime, lookback_minutes: int, *, settle_seconds: int | None) -> Period:
        """The closed windows of the last ``lookback_minutes`` that closed ``settle_seconds``
        ago; with ``settle_seconds`` None, up to and including the window still open.
        """
        if not 0 < lookback_minutes <= MAX_LOOKBACK_MINUTES:
            raise ValueError(f"the lookback must be 1 to {MAX_LOOKBACK_MINUTES} minutes")
        step = WINDOW_SECONDS
        if settle_seconds is None:
            end = (int(now.timestamp()) // step + 1) * step
        else:
            end = (int(now.timestamp()) - settle_seconds) // step * step
        first = end - -(-lookback_minutes * 60 // step) * step
        return cls(datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(end, UTC))

    def holds(self, window: datetime) -> bool:
        return self.first <= window < self.end


@dataclass(slots=True)
class VersionReport:
    """One version's period: its comparison with the baseline, or why there is none."""

    version: str
    status: str  # ok, drift, violations, no baseline, unknown version, error, no data
    message: str
    profiles: int = 0
    skipped_profiles: list[dict[str, str]] = field(default_factory=list)
    rows: int = 0
    refused_rows: int = 0
    comparison: Comparison | None = None

    def to_dict(self) -> dict[str, Any]:
        names = ("version", "status", "message", "profiles", "skipped_profiles", "rows")
        document: dict[str, Any] = {name: getattr(self, name) for name in names}
        document["refused_rows"] = self.refused_rows
        comparison = self.comparison
        if comparison is not None:
            document["drifted"] = comparison.drifted
            document["max_psi"] = round(comparison.max_psi, 6)
            document["features"] = [c.to_dict() for c in comparison.columns]
            document["prediction"] = (
                comparison.prediction.to_dict() if comparison.prediction else None
            )
            document["violations"] = [asdict(v) for v in comparison.violations]
        return document


#: Statuses from the most to the least pressing: a model's status is its worst version's.
#: "error": the report could not be made; "unreadable": profiles or folders that could
#: not be read; "not compared": rows counted without the baseline's bins.
STATUS_ORDER = (
    "error",
    "drift",
    "violations",
    "unreadable",
    "not compared",
    "no baseline",
    "unknown version",
    "ok",
    "no data",
)


@dataclass(slots=True)
class ModelReport:
    """One model's report for one period: a section per version that had traffic."""

    model: str
    start: datetime
    end: datetime
    versions: list[VersionReport] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    #: Live quality per version, over the labels that arrived in the period.
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The labels files read in this run, each with what became of its labels.
    labels: list[dict[str, Any]] = field(default_factory=list)
    #: The primary metric of earlier periods (for the chart), oldest first.
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def quality_dropped(self) -> bool:
        """Whether any version's live quality dropped in the period."""
        return any(section.get("dropped") for section in self.quality.values())

    @property
    def status(self) -> str:
        """The worst of the versions' statuses."""
        found = {v.status for v in self.versions} or {"no data"}
        return next(s for s in STATUS_ORDER if s in found)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "model": self.model,
            "status": self.status,
            "window": {"start": iso_time(self.start), "end": iso_time(self.end)},
            "created_at": iso_time(datetime.now(UTC)),
            "versions": [v.to_dict() for v in self.versions],
            "quality": self.quality,
            "quality_dropped": self.quality_dropped,
            "labels": self.labels,
            "quality_history": self.history,
        }


def iso_time(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
