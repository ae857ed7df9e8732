"""Ending a run in byte ranges: the parts assembled in range order into the outputs (S3 copies
them), the error lines renumbered, the report written and the parts deleted; or the run
aborted with a failed report and nothing left behind.
"""

from __future__ import annotations

import csv
import io
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

from predictor.batch.chunks import RowCounts, error_lines
from predictor.batch.fan_out.plan import Plan, run_name
from predictor.batch.fan_out.planning import progress, store_final
from predictor.batch.report import BatchReport
from predictor.batch_keys import OutputKeys, incoming_keys
from predictor.errors import InputError
from predictor.io import s3_store, s3_versions
from predictor.io.s3_multipart import MultipartWriter
from predictor.io.s3_store import ObjectRef
from predictor.profiling.profiles import Profile

logger = logging.getLogger(__name__)


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
    if not s3_versions.still_current(s3, obj):
        s3_store.delete_prefix(s3, obj.bucket, plan.prefix)
        _forget_running_report(s3, plan, keys)
        stale = "the object was overwritten or deleted while it was scored"
        logger.info("skipping %s: %s", obj.key, stale)
        return report.finish("skipped", reason=stale)
    if rows.read == 0:
        report.finish("failed", error="the file has a header but no rows")
        store_final(s3, keys, report)
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
    text = (s3_store.get_bytes(s3, bucket, key) or b"").decode()
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
        **progress(plan, done=len(plan.ranges)),
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
    store_final(s3, keys, report)
    s3_store.delete_prefix(s3, obj.bucket, keys.runs + run_name(obj) + "/")
    return report
