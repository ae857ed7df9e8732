"""Starting a run in byte ranges and planning it: the version pinned, the header, dialect and
BOM read once, the rest cut at line starts.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from predictor.batch.fan_out.plan import S3_THREADS, Plan, Range, run_name
from predictor.batch.report import BatchReport
from predictor.batch.run import finished_report
from predictor.batch_keys import OutputKeys, incoming_keys
from predictor.errors import InputError, MissingColumnsError
from predictor.io import s3_store, s3_versions
from predictor.io.csv.byte_lines import LineCountingReader, best_cut, offset_after_lines
from predictor.io.csv.lines import open_text
from predictor.io.csv.stream import CsvStream
from predictor.io.s3_store import ObjectRef
from predictor.io.step_functions import start_named_execution
from predictor.models.registry import RegistryReader
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


UTF8_BOM = b"\xef\xbb\xbf"


#: Bytes read at a time when counting a range's lines.
COUNT_READ_BYTES = 1 << 20


# ----- start -----------------------------------------------------------------------------
def with_version(s3: Any, obj: ObjectRef) -> ObjectRef:
    """``obj`` with the version id its event did not carry (the local stack's events and
    hand-made ones have none): the current version, if it holds the event's bytes. Runs
    are named after the version (:func:`run_name`), so the same bytes uploaded again
    while the first upload is scored get a run of their own; named after the etag, the
    second upload's event found the first run, which then stood down for the newer
    version, and neither scored the file."""
    if obj.version_id:
        return obj
    head = s3_versions.head_version(s3, obj)
    version = (head or {}).get("VersionId")
    if not version or version == "null":  # gone, changed, or a bucket without versions
        return obj
    return ObjectRef(obj.bucket, obj.key, obj.etag, str(version), obj.size)


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
    execution, exists = start_named_execution(states, state_machine, run_name(obj), document)
    report.duplicate = exists
    report.fan_out = {"execution": execution, "run": run_name(obj)}
    return report


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
    head = s3_versions.head_version(s3, obj)
    if head is None:
        return None, report.finish("skipped", reason="the object version of the event is gone")
    pinned = ObjectRef(obj.bucket, obj.key, obj.etag, obj.version_id or head.get("VersionId"))
    size = int(head["ContentLength"])
    if size == 0:
        return None, store_final(s3, keys, report.finish("failed", error="the file is empty"))
    report.input = pinned
    try:
        name, version = model()
        report.model = {"name": name, "version": version}
        head_bytes = s3_versions.read_range(s3, pinned, 0, min(size, HEADER_BYTES))
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
        return None, store_final(s3, keys, report.finish("failed", error=str(exc)))
    data_start = bom + header_end
    cuts = _cuts(s3, pinned, data_start, size, range_bytes)
    bounds = [data_start, *cuts, size]
    id_column = registry.manifest(name, version).get("id_column")
    if id_column in stream.columns:
        starts = [0] * (len(bounds) - 1)  # each row's id is its own
    else:
        starts = first_lines(s3, pinned, bounds, stream.lines_read + 1)
    ranges = [Range(i, bounds[i], bounds[i + 1], starts[i]) for i in range(len(bounds) - 1)]
    plan = Plan(
        run=run_name(obj),
        input=pinned,
        size=size,
        data_start=data_start,
        model_name=name,
        model_version=version,
        ranges=ranges,
        delimiter=stream.delimiter,
        columns=stream.columns,
        header_raw=stream.header_raw,
        header_lines=stream.lines_read,
        started=began,
        planned_seconds=round(time.time() - began, 3),
        execution=execution,
    )
    s3_store.write_json(s3, obj.bucket, plan.key, plan.to_dict())
    report.fan_out = progress(plan, done=0)
    s3_store.write_json(s3, obj.bucket, keys.report, report.to_dict())
    logger.info("planned %s: %d ranges of %d bytes", obj.key, len(ranges), size)
    return plan, report


def progress(plan: Plan, done: int) -> dict[str, Any]:
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
            found = best_cut(s3_versions.read_range(s3, obj, target - 1, end), at_end=end == size)
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


def first_lines(s3: Any, obj: ObjectRef, bounds: list[int], first_line: int) -> list[int]:
    """The line number each range between ``bounds`` starts on (the first begins on
    ``first_line``): the ranges' lines counted in parallel, for the rows' ids
    (``<key>@<upload>:<line>``)."""

    def lines_in(start: int, end: int) -> int:
        body = s3_versions.open_range(s3, obj, start, end)
        counter = LineCountingReader(body, end - start)
        try:
            while counter.lines is None and counter.read(COUNT_READ_BYTES):
                pass
        finally:
            body.close()
        return counter.lines or 0

    with ThreadPoolExecutor(S3_THREADS) as pool:
        counts = list(pool.map(lines_in, bounds[:-1], bounds[1:]))
    starts = [first_line]
    for count in counts[:-1]:
        starts.append(starts[-1] + count)
    return starts


def store_final(s3: Any, keys: OutputKeys, report: BatchReport) -> BatchReport:
    """Store a failed run's report, its outputs removed so that they agree with it."""
    bucket = report.input.bucket
    for key in (keys.predictions, keys.errors):
        s3_store.abort_uploads(s3, bucket, key)
    s3_store.delete(s3, bucket, [keys.predictions, keys.errors])
    s3_store.write_json(s3, bucket, keys.report, report.to_dict())
    return report
