"""The report of one batch run: what was scored, by which model, with what outcome.

Stored as ``reports/<rel>.json`` (see :mod:`predictor.batch.run`); the handler reads the
typed form for its metrics and logs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from predictor.batch.chunks import RowCounts
from predictor.io.s3_store import ObjectRef

Status = Literal["running", "succeeded", "failed", "skipped"]


def _utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def _epoch(stamp: str | None) -> float:
    return datetime.fromisoformat(stamp).timestamp() if stamp else 0.0


@dataclass(slots=True)
class BatchReport:
    """One run's outcome. ``duplicate``: an earlier run's report, returned for a repeat."""

    status: Status
    input: ObjectRef
    model: dict[str, str] | None = None
    outputs: dict[str, str | None] = field(
        default_factory=lambda: {"predictions": None, "errors": None}
    )
    rows: RowCounts = field(default_factory=RowCounts)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    #: Why a run failed (the file can never be scored) or was skipped (stale event).
    error: str | None = None
    reason: str | None = None
    duplicate: bool = False
    #: A run in byte ranges (see :mod:`predictor.batch.fan_out`): its execution, ranges,
    #: rounds, workers and timings.
    fan_out: dict[str, Any] | None = None
    #: The stored JSON, for a report read back: it is answered as stored, never rewritten.
    stored: dict[str, Any] | None = None

    @property
    def seconds(self) -> float:
        """How long the run took (so far, while running)."""
        return round((self.finished or time.time()) - self.started, 3)

    def finish(self, status: Status, **why: str) -> BatchReport:
        """Mark the run done with ``status`` (and ``error=`` or ``reason=``)."""
        self.status, self.finished = status, time.time()
        self.error, self.reason = why.get("error"), why.get("reason")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON form."""
        if self.stored is not None:
            return {**self.stored, "duplicate": True} if self.duplicate else dict(self.stored)
        document: dict[str, Any] = {
            "status": self.status,
            "model": self.model,
            "input": {
                "bucket": self.input.bucket,
                "key": self.input.key,
                "etag": self.input.etag,
                "version_id": self.input.version_id,
            },
            "outputs": dict(self.outputs),
            "rows": self.rows.to_dict(),
            "started_at": _utc(self.started),
        }
        if self.finished is not None:
            document["finished_at"] = _utc(self.finished)
            document["seconds"] = self.seconds
        if self.error is not None:
            document["error"] = self.error
        if self.reason is not None:
            document["reason"] = self.reason
        if self.fan_out is not None:
            document["fan_out"] = self.fan_out
        if self.duplicate:
            document["duplicate"] = True
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> BatchReport:
        """A stored report read back, its own times included."""
        scored = document.get("input", {})
        report = cls(
            status=document.get("status", "running"),
            input=ObjectRef(
                scored.get("bucket", ""),
                scored.get("key", ""),
                scored.get("etag", ""),
                scored.get("version_id"),
            ),
            model=document.get("model"),
            outputs=dict(document.get("outputs") or {}),
            rows=RowCounts(**document.get("rows", {})),
            error=document.get("error"),
            reason=document.get("reason"),
            fan_out=document.get("fan_out"),
        )
        report.started = _epoch(document.get("started_at"))
        report.finished = report.started + float(document.get("seconds", 0.0))
        report.stored = document
        return report
