"""What every step of a run in byte ranges shares: the plan, its ranges and each range's result
(stored under ``runs/<rel>/<run>/``), and the execution's name. The range worker reads only
these types.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Any

from predictor.batch.chunks import RowCounts
from predictor.batch_keys import incoming_keys
from predictor.errors import InputError
from predictor.io import s3_store
from predictor.io.s3_store import ObjectRef

#: Concurrent S3 reads of the planner and the checker.
S3_THREADS = 16


def run_name(obj: ObjectRef) -> str:
    """The execution name of a run: one per object version, so a repeated event for the
    same version finds its run instead of starting another.
    """
    identity = f"{obj.bucket}/{obj.key}@{obj.version_id or obj.etag}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    stem = re.sub(r"[^0-9A-Za-z_-]", "-", obj.key.rsplit("/", 1)[-1])[:40]
    return f"{stem}-{digest}"


@dataclass(frozen=True, slots=True)
class Range:
    """One planned range: bytes [start, end) of the object, and the file's line number
    that ``start`` begins (0 when the rows' ids do not need it: the file has the model's
    id column)."""

    index: int
    start: int
    end: int
    first_line: int = 0

    def to_item(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Range:
        return cls(
            int(item["index"]),
            int(item["start"]),
            int(item["end"]),
            int(item.get("first_line", 0)),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """What every step of one run shares, stored as ``plan.json`` under the run's prefix."""

    run: str
    input: ObjectRef
    size: int
    delimiter: str
    columns: list[str]
    #: The header row's text, as the whole-file reader gives it (range 0 writes it).
    header_raw: str
    header_lines: int
    data_start: int
    model_name: str
    model_version: str
    ranges: list[Range]
    started: float
    planned_seconds: float
    execution: str = ""

    @property
    def prefix(self) -> str:
        keys = incoming_keys(self.input.key)
        return f"{keys.runs}{self.run}/"

    @property
    def key(self) -> str:
        return self.prefix + "plan.json"

    def part_key(self, index: int, start: int, suffix: str) -> str:
        return f"{self.prefix}{index:05d}-{start}.{suffix}"

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["input"] = asdict(self.input)
        document["ranges"] = [[r.start, r.end, r.first_line] for r in self.ranges]
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Plan:
        values = dict(document)
        values["input"] = ObjectRef(**document["input"])
        values["ranges"] = [Range(i, *bounds) for i, bounds in enumerate(document["ranges"])]
        return cls(**values)


@dataclass(slots=True)
class RangeResult:
    """What scoring one range produced, stored beside its parts."""

    index: int
    start: int
    end: int
    lines: int
    rows: RowCounts
    predictions_key: str
    predictions_bytes: int
    errors_key: str | None
    errors_bytes: int
    seconds: float
    worker: str
    failed: str | None = None
    #: The range's rows counted for monitoring (:meth:`Profile.to_dict`).
    profile: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["rows"] = self.rows.to_dict()
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> RangeResult:
        values = dict(document)
        values["rows"] = RowCounts(**document["rows"])
        return cls(**values)


def input_of(document: dict[str, Any]) -> ObjectRef:
    """The object a run scores, from the execution's input."""
    return ObjectRef(
        document["bucket"], document["key"], document["etag"], document.get("version_id")
    )


def load_plan(s3: Any, bucket: str, key: str) -> Plan:
    """The plan a step was given (by its key)."""
    found = s3_store.read_json(s3, bucket, key)
    if found is None:
        raise InputError(f"the run's plan {key} is gone")
    return Plan.from_dict(found[0])
