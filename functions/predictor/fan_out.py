"""Scoring one large CSV object in byte ranges, in parallel: plan, score, check, finalize.

The state machine of ``template.yaml`` runs these steps; each is one function call here
and S3 holds everything between them (under ``runs/<rel>/<run>/``, see
:mod:`predictor.batch_layout`), so the state it passes stays small.

- :func:`plan_run` pins the object's version, reads the header, dialect and BOM once,
  and cuts the rest into ranges that start at a line start. It writes the plan and a
  ``running`` report.
- :func:`predictor.range_scoring.score_range` (the worker) scores one range with the
  same reader and scorer as a whole file (:mod:`predictor.batch`): its predictions part
  (the output header in range 0's), its errors part (line numbers counted from the
  range's first line) and a result saying where its last record ended.
- :func:`check_run` proves the cuts. A cut is only a guess: a quoted field may hold line
  breaks, so a line start need not be a record start. But range 0 starts at the first
  record, and a range that starts at a record start reads the same records as the whole
  file would, past its end if its last record runs on; so where it stopped is a record
  start. When every range starts exactly where the one before it stopped, every range
  read the whole file's own records. A range that does not is scored again from where
  the one before stopped (a range swallowed whole by its neighbour is empty), until the
  chain holds. Then each range's first line number is the sum of the lines before it.
- :func:`finalize_run` assembles the parts in range order into the two outputs (S3 copies
  them: UploadPartCopy), renumbers the error lines, writes the report and deletes the
  parts. Nothing appears under ``predictions/`` before this step.
- :func:`abort_run` ends a run that cannot finish: a ``failed`` report naming the failed
  ranges, no outputs, no parts, no open multipart uploads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from predictor import s3_store
from predictor.batch import finished_report
from predictor.batch_layout import OutputKeys, incoming_keys
from predictor.batch_report import BatchReport
from predictor.byte_lines import best_cut, offset_after_lines
from predictor.chunk_scoring import RowCounts, error_lines
from predictor.csv_lines import open_text
from predictor.csv_stream import CsvStream
from predictor.errors import InputError, MissingColumnsError
from predictor.profiles import Profile
from predictor.registry import RegistryReader
from predictor.s3_multipart import MultipartWriter
from predictor.s3_store import ObjectRef
from predictor.schema import FeatureSchema

logger = logging.getLogger(__name__)

#: The most ranges of one run: the list of ranges travels in the state machine's state,
#: whose payload is limited to 256 KiB. A larger file gets larger ranges.
MAX_RANGES = 4000
#: Bytes read at the head of the object to find its header (the header's lines may add
#: up to MAX_RECORD_CHARS characters, each up to four bytes, plus one line).
HEADER_BYTES = 9 * 1024 * 1024
#: Bytes read around each planned cut to choose a line start (a longer line moves on).
CUT_WINDOW_BYTES = 64 * 1024
CUT_WINDOW_MAX_BYTES = 4 * 1024 * 1024
#: Rounds of re-scoring misplaced ranges before the run gives up.
MAX_ROUNDS = 8
#: Concurrent S3 reads of the planner and the checker.
S3_THREADS = 16
UTF8_BOM = b"\xef\xbb\xbf"


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
    """One planned range: bytes [start, end) of the object."""

    index: int
    start: int
    end: int

    def to_item(self) -> dict[str, int]:
        return {"index": self.index, "start": self.start, "end": self.end}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Range:
        return cls(int(item["index"]), int(item["start"]), int(item["end"]))


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
        document["ranges"] = [[r.start, r.end] for r in self.ranges]
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Plan:
        values = dict(document)
        values["input"] = ObjectRef(**document["input"])
        values["ranges"] = [Range(i, s, e) for i, (s, e) in enumerate(document["ranges"])]
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


def version_args(obj: ObjectRef) -> dict[str, str]:
    """GET arguments that read exactly the planned version, whatever happens to the key."""
    if obj.version_id:
        return {"VersionId": obj.version_id}
    return {"IfMatch": '"' + obj.etag.strip('"') + '"'}  # S3 compares the quoted form


def read_bytes(s3: Any, obj: ObjectRef, start: int, end: int) -> bytes:
    response = s3.get_object(
        Bucket=obj.bucket, Key=obj.key, Range=f"bytes={start}-{end - 1}", **version_args(obj)
    )
    return bytes(response["Body"].read())


# ----- start -----------------------------------------------------------------------------
def start_run(states: Any, state_machine: str, obj: ObjectRef, max_concurrency: int) -> BatchReport:
    """Start the state machine on ``obj``; a repeated event finds the run of its version.

    The execution is named after the object version (:func:`run_name`): Step Functions
    refuses a second execution of that name, running or finished.
    """
    report = BatchReport("running", obj)
    document = {
        "bucket": obj.bucket,
        "key": obj.key,
        "etag": obj.etag,
        "version_id": obj.version_id,
        "max_concurrency": max_concurrency,
    }
    try:
        started = states.start_execution(
            stateMachineArn=state_machine, name=run_name(obj), input=json.dumps(document)
        )
    except Exception as exc:
        if s3_store.error_code(exc) != "ExecutionAlreadyExists":
            raise
        report.duplicate = True
        execution = state_machine.replace(":stateMachine:", ":execution:") + ":" + run_name(obj)
        report.fan_out = {"execution": execution, "run": run_name(obj)}
        return report
    report.fan_out = {"execution": started["executionArn"], "run": run_name(obj)}
    return report


def input_of(document: dict[str, Any]) -> ObjectRef:
    """The object a run scores, from the execution's input."""
    return ObjectRef(
        document["bucket"], document["key"], document["etag"], document.get("version_id")
    )


# ----- plan ------------------------------------------------------------------------------
def plan_run(
    s3: Any,
    obj: ObjectRef,
    registry: RegistryReader,
    model: Callable[[], tuple[str, str]],
    *,
    range_bytes: int,
    execution: str = "",
) -> tuple[Plan | None, BatchReport]:
    """Pin the version, read the header, cut the ranges; store the plan and a running report.

    ``model`` gives the (name, version) to score with, or raises an InputError (a model
    this function does not serve). Returns the plan and the report, or no plan and the
    final report of a run that ends here: a duplicate, a stale event (``skipped``), or a
    file that can never be scored.
    """
    began = time.time()
    keys = incoming_keys(obj.key)
    finished = finished_report(s3, obj, keys)
    if finished is not None:
        return None, finished
    report = BatchReport("running", obj, started=began)
    try:
        head = s3.head_object(Bucket=obj.bucket, Key=obj.key, **version_args(obj))
    except Exception as exc:
        if s3_store.error_code(exc) not in (*s3_store.NOT_FOUND, *s3_store.CONDITION_FAILED):
            raise
        return None, report.finish("skipped", reason="the object version of the event is gone")
    pinned = ObjectRef(obj.bucket, obj.key, obj.etag, obj.version_id or head.get("VersionId"))
    size = int(head["ContentLength"])
    if size == 0:
        return None, _store_final(s3, keys, report.finish("failed", error="the file is empty"))
    report.input = pinned
    try:
        name, version = model()
        report.model = {"name": name, "version": version}
        head_bytes = read_bytes(s3, pinned, 0, min(size, HEADER_BYTES))
        stream = CsvStream(open_text(io.BytesIO(head_bytes), gzipped=False))
        bom = len(UTF8_BOM) if head_bytes.startswith(UTF8_BOM) else 0
        header_end = offset_after_lines(
            head_bytes[bom:], stream.lines_read, at_end=len(head_bytes) == size
        )
        if header_end is None or bom + header_end >= size:
            raise InputError("the file has a header but no rows")
        schema = FeatureSchema.from_dict(registry.manifest(name, version)["schema"])
        missing = schema.missing_columns(stream.columns)
        if missing:
            raise MissingColumnsError(missing)
    except InputError as exc:
        logger.warning("cannot score %s: %s", obj.key, exc)
        return None, _store_final(s3, keys, report.finish("failed", error=str(exc)))
    data_start = bom + header_end
    cuts = _cuts(s3, pinned, data_start, size, range_bytes)
    bounds = [data_start, *cuts, size]
    ranges = [Range(i, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    plan = Plan(
        run=run_name(obj),
        input=pinned,
        size=size,
        delimiter=stream.delimiter,
        columns=stream.columns,
        header_raw=stream.header_raw,
        header_lines=stream.lines_read,
        data_start=data_start,
        model_name=name,
        model_version=version,
        ranges=ranges,
        started=began,
        planned_seconds=round(time.time() - began, 3),
        execution=execution,
    )
    s3_store.write_json(s3, obj.bucket, plan.key, plan.to_dict())
    report.fan_out = _progress(plan, done=0)
    s3_store.write_json(s3, obj.bucket, keys.report, report.to_dict())
    logger.info("planned %s: %d ranges of %d bytes", obj.key, len(ranges), size)
    return plan, report


def _progress(plan: Plan, done: int) -> dict[str, Any]:
    return {
        "execution": plan.execution,
        "run": plan.run,
        "ranges": {"total": len(plan.ranges), "done": done},
    }


def _cuts(s3: Any, obj: ObjectRef, data_start: int, size: int, range_bytes: int) -> list[int]:
    """Line starts near every ``range_bytes`` after ``data_start`` (fewer past MAX_RANGES)."""
    span = size - data_start
    step = max(range_bytes, -(-span // MAX_RANGES), 1)
    targets = list(range(data_start + step, size, step))

    def cut_near(target: int) -> int | None:
        window = CUT_WINDOW_BYTES
        while True:
            end = min(size, target + window)
            # The window starts one byte early: a cut right at the target needs to see
            # that the byte before it ends a line.
            found = best_cut(read_bytes(s3, obj, target - 1, end), at_end=end == size)
            if found is not None:
                cut = target - 1 + found
                return cut if cut < size else None
            if end == size or window >= CUT_WINDOW_MAX_BYTES:
                return None
            window *= 4

    with ThreadPoolExecutor(S3_THREADS) as pool:
        found = list(pool.map(cut_near, targets))
    cuts: list[int] = []
    for cut in found:
        if cut is not None and cut > (cuts[-1] if cuts else data_start):
            cuts.append(cut)
    return cuts


def _store_final(s3: Any, keys: OutputKeys, report: BatchReport) -> BatchReport:
    """Store a failed run's report, its outputs removed so that they agree with it."""
    bucket = report.input.bucket
    for key in (keys.predictions, keys.errors):
        s3_store.abort_uploads(s3, bucket, key)
    s3_store.delete(s3, bucket, [keys.predictions, keys.errors])
    s3_store.write_json(s3, bucket, keys.report, report.to_dict())
    return report


def load_plan(s3: Any, bucket: str, key: str) -> Plan:
    """The plan a step was given (by its key)."""
    found = s3_store.read_json(s3, bucket, key)
    if found is None:
        raise InputError(f"the run's plan {key} is gone")
    return Plan.from_dict(found[0])


# ----- check -----------------------------------------------------------------------------
@dataclass(slots=True)
class Check:
    """Where a run stands after a round of scoring."""

    #: "scoring" (ranges to score again in ``pending``), "finalizing" or "failed".
    status: str
    pending: list[Range] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    reason: str | None = None


def check_run(s3: Any, plan: Plan, scored: list[Range], round_number: int) -> Check:
    """Follow the chain of ranges; store it when it holds, else say what to score again.

    ``scored`` are the ranges the last round scored: one of them with no result failed
    after its retries.
    """
    bucket = plan.input.bucket
    wanted: dict[tuple[int, int], RangeResult | None] = {}

    def fetch(index: int, start: int) -> RangeResult | None:
        if (index, start) not in wanted:
            found = s3_store.read_json(s3, bucket, plan.part_key(index, start, "json"))
            wanted[(index, start)] = None if found is None else RangeResult.from_dict(found[0])
        return wanted[(index, start)]

    # Most results are where they were planned: read those at once.
    with ThreadPoolExecutor(S3_THREADS) as pool:
        list(pool.map(lambda r: fetch(r.index, r.start), plan.ranges))
    ran = {(r.index, r.start) for r in scored}
    chain: list[RangeResult] = []
    pending: list[Range] = []
    failed: list[int] = []
    expected: int | None = plan.data_start
    for planned in plan.ranges:
        if expected is not None and expected >= planned.end:
            chain.append(_empty(planned.index, expected))  # swallowed by the range before
            continue
        result = fetch(planned.index, expected) if expected is not None else None
        if result is not None and result.failed:
            return Check("failed", failed=[planned.index], reason=result.failed)
        if result is not None:
            chain.append(result)
            expected = result.end
            continue
        if expected is not None:
            if (planned.index, expected) in ran:
                failed.append(planned.index)
            else:
                pending.append(Range(planned.index, expected, planned.end))
        guess = fetch(planned.index, planned.start)
        expected = guess.end if guess is not None and not guess.failed else None
    if failed:
        return Check("failed", failed=failed, reason="scoring failed after its retries")
    if pending:
        if round_number >= MAX_ROUNDS:
            return Check(
                "failed",
                failed=[r.index for r in pending],
                reason=f"ranges still misaligned after {MAX_ROUNDS} rounds",
            )
        return Check("scoring", pending=pending)
    first_line = plan.header_lines + 1
    links = []
    for result in chain:
        links.append({**result.to_dict(), "first_line": first_line})
        first_line += result.lines
    s3_store.write_json(s3, bucket, plan.prefix + "chain.json", {"ranges": links})
    return Check("finalizing")


def unfinished(s3: Any, plan: Plan, ranges: list[Range]) -> list[int]:
    """The ranges among ``ranges`` that have no result (they failed, or never ran)."""
    bucket = plan.input.bucket
    return [
        item.index
        for item in ranges
        if s3_store.read_json(s3, bucket, plan.part_key(item.index, item.start, "json")) is None
    ]


def _empty(index: int, at: int) -> RangeResult:
    return RangeResult(index, at, at, 0, RowCounts(), "", 0, None, 0, 0.0, "")


# ----- finalize --------------------------------------------------------------------------
def finalize_run(
    s3: Any,
    plan: Plan,
    finished_scoring: float | None = None,
    on_profile: Callable[[Profile], None] | None = None,
) -> BatchReport:
    """Assemble the outputs in range order, write the report, delete the parts; hand the
    file's profile (every range's, merged) to ``on_profile``.
    """
    began = time.time()
    obj, keys = plan.input, incoming_keys(plan.input.key)
    found = s3_store.read_json(s3, obj.bucket, plan.prefix + "chain.json")
    if found is None:
        raise InputError(f"the run {plan.run} has no checked chain of ranges")
    chain = found[0]["ranges"]
    report = BatchReport("running", obj, started=plan.started)
    report.model = {"name": plan.model_name, "version": plan.model_version}
    rows = RowCounts()
    for link in chain:
        for name, value in link["rows"].items():
            setattr(rows, name, getattr(rows, name) + value)
    report.rows = rows
    if not s3_store.still_current(s3, obj):
        s3_store.delete_prefix(s3, obj.bucket, plan.prefix)
        _forget_running_report(s3, plan, keys)
        stale = "the object was overwritten or deleted while it was scored"
        logger.info("skipping %s: %s", obj.key, stale)
        return report.finish("skipped", reason=stale)
    if rows.read == 0:
        report.finish("failed", error="the file has a header but no rows")
        _store_final(s3, keys, report)
        s3_store.delete_prefix(s3, obj.bucket, plan.prefix)
        return report
    predictions = MultipartWriter(s3, obj.bucket, keys.predictions)
    errors = MultipartWriter(s3, obj.bucket, keys.errors)
    try:
        for link in chain:
            if link["predictions_bytes"]:
                predictions.append_object(link["predictions_key"], link["predictions_bytes"])
        for link in chain:
            if link["errors_key"]:
                if not errors.written:
                    errors.write(b"line,column,reason,row\n")
                errors.write(_renumbered(s3, obj.bucket, link["errors_key"], link["first_line"]))
        for name, writer in (("predictions", predictions), ("errors", errors)):
            if writer.written:
                writer.complete()
                report.outputs[name] = writer.key
    except BaseException:
        for writer in (predictions, errors):
            writer.abort()
        raise
    produced = set(report.outputs.values())
    s3_store.delete(
        s3, obj.bucket, [k for k in (keys.predictions, keys.errors) if k not in produced]
    )
    report.finish("succeeded")
    report.fan_out = _summary(plan, chain, began, finished_scoring)
    if on_profile is not None:  # before the report: see batch._score
        try:
            profile = _merged_profile(chain)
        except ValueError:  # a range's profile that does not add up: the outputs stand
            logger.warning("the ranges' profiles of %s do not merge", obj.key, exc_info=True)
            profile = None
        if profile is not None:
            on_profile(profile)
    s3_store.write_json(s3, obj.bucket, keys.report, report.to_dict())
    s3_store.delete_prefix(s3, obj.bucket, plan.prefix)
    return report


def _merged_profile(chain: list[dict[str, Any]]) -> Profile | None:
    """The sum of the ranges' profiles (None if a range has none)."""
    merged = None
    for link in chain:
        if link.get("profile") is None:
            if link["rows"]["read"]:
                return None
            continue  # an empty range
        profile = Profile.from_dict(link["profile"])
        merged = profile if merged is None else merged.merged(profile)
    return merged


def _renumbered(s3: Any, bucket: str, key: str, first_line: int) -> bytes:
    """A range's error rows with the file's own line numbers."""
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    shift = first_line - 1
    problems = [
        [str(int(row[0]) + shift), *row[1:]] for row in csv.reader(io.StringIO(text, newline=""))
    ]
    return error_lines(problems)


def _summary(
    plan: Plan, chain: list[dict[str, Any]], began: float, finished_scoring: float | None
) -> dict[str, Any]:
    seconds = [link["seconds"] for link in chain if link["worker"]]
    rescored = sum(
        1
        for link, planned in zip(chain, plan.ranges, strict=True)
        if link["start"] != planned.start
    )
    return {
        **_progress(plan, done=len(plan.ranges)),
        "bytes": plan.size,
        "rescored_ranges": rescored,
        "workers": len({link["worker"] for link in chain if link["worker"]}),
        "seconds": {
            "plan": plan.planned_seconds,
            "score": round((finished_scoring or began) - plan.started - plan.planned_seconds, 3),
            "finalize": round(time.time() - began, 3),
            # Seconds the range workers spent in all, the run's work.
            "ranges_total": round(sum(seconds), 3),
            "range": {
                "min": min(seconds, default=0.0),
                "median": round(statistics.median(seconds), 3) if seconds else 0.0,
                "max": max(seconds, default=0.0),
            },
        },
    }


def _forget_running_report(s3: Any, plan: Plan, keys: OutputKeys) -> None:
    """Remove this run's ``running`` report (a skipped run leaves no report, as a skipped
    whole-file run does); a report of another run is left alone.
    """
    found = s3_store.read_json(s3, plan.input.bucket, keys.report)
    if found is None:
        return
    fan_out = found[0].get("fan_out") or {}
    if found[0].get("status") == "running" and fan_out.get("run") == plan.run:
        s3_store.delete(s3, plan.input.bucket, [keys.report])


# ----- abort -----------------------------------------------------------------------------
def abort_run(
    s3: Any, obj: ObjectRef, error: str, failed_ranges: list[int] | None = None
) -> BatchReport:
    """End a run that cannot finish: a failed report, no outputs, no parts, no uploads."""
    keys = incoming_keys(obj.key)
    found = s3_store.read_json(s3, obj.bucket, keys.report)
    report = BatchReport("running", obj)
    if found is not None and found[0].get("status") == "running":
        running = BatchReport.from_dict(found[0])
        report.started, report.model, report.fan_out = (
            running.started, running.model, running.fan_out,
        )  # fmt: skip
    if failed_ranges:
        report.fan_out = {**(report.fan_out or {}), "failed_ranges": sorted(failed_ranges)}
        shown = ", ".join(str(i) for i in sorted(failed_ranges)[:20])
        error = f"range(s) {shown} failed: {error}"
    report.finish("failed", error=error)
    _store_final(s3, keys, report)
    s3_store.delete_prefix(s3, obj.bucket, keys.runs + run_name(obj) + "/")
    return report
