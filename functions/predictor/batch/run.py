"""Batch scoring of one CSV object: ``incoming/<rel>`` -> predictions, errors, report.

Outputs (same bucket, same relative path; gzipped when the input is, see
:mod:`predictor.batch_keys`):

- ``predictions/<rel>``: each good row's original text plus ``prediction`` (and one
  ``probability_<class>`` column per class), in input order; bad rows left out.
- ``errors/<rel>``: ``line,column,reason,row`` for each problem of each bad row
  (only when there is one).
- ``reports/<rel>.json``: status, model, input ETag/version, row counts, timings.

The story of a run: a finished report for the same object version makes it a no-op;
otherwise claim the lease, open the object's current version (an event for an older one
is skipped), stream it chunk by chunk through the scorer into two multipart uploads,
then commit them (or abort on any failure, so nothing partial is ever visible), remove
the outputs this run did not produce (so they always agree with the report), write the
report and release the lease. Files that can never be scored get a ``failed`` report;
transient problems raise so the message is retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from predictor.batch.chunks import ChunkScorer, RowIds, error_lines
from predictor.batch.report import BatchReport
from predictor.batch_keys import OutputKeys, incoming_keys, row_id_prefix
from predictor.errors import DeadlineError, InputError
from predictor.io import s3_store, s3_versions
from predictor.io.csv.lines import open_text
from predictor.io.csv.problems import BLANK
from predictor.io.csv.stream import CsvStream
from predictor.io.s3_multipart import PART_SIZE, MultipartWriter
from predictor.io.s3_store import ObjectRef
from predictor.io.s3_versions import Lease
from predictor.models.registry import LoadedModel
from predictor.profiling.profiles import Profile

logger = logging.getLogger(__name__)

#: Stop starting chunks when less than this many seconds remain before the deadline.
MIN_SECONDS_LEFT = 10.0


def score_object(
    s3: Any,
    obj: ObjectRef,
    load_model: Callable[[], LoadedModel],
    *,
    chunk_rows: int,
    seconds_left: Callable[[], float],
    part_size: int = PART_SIZE,
    on_profile: Callable[[Profile], None] | None = None,
) -> BatchReport:
    """Score one ``incoming/`` object and return its report (see the module docstring).

    Raises a :class:`~predictor.errors.RetryableError` (or an S3 error) when the object
    should be tried again; returns a ``failed`` report for files that can never be scored
    and a ``skipped`` one (not stored) for events that no longer describe the object.
    """
    keys = incoming_keys(obj.key)
    finished = finished_report(s3, obj, keys)
    if finished is not None:
        logger.info("already scored: %s (%s)", obj.key, finished.status)
        return finished
    lease = Lease(s3, obj, keys.lease)
    lease.claim(seconds_left() + 60)
    try:
        finished = finished_report(s3, obj, keys)  # finished while we were claiming
        if finished is not None:
            return finished
        report = BatchReport("running", obj)
        predictions, errors = (
            MultipartWriter(s3, obj.bucket, k, part_size=part_size, gzip=keys.gzipped)
            for k in (keys.predictions, keys.errors)
        )
        writers = (predictions, errors)
        return _score(s3, report, keys, load_model, writers, chunk_rows, seconds_left, on_profile)
    finally:
        lease.release()


def finished_report(s3: Any, obj: ObjectRef, keys: OutputKeys) -> BatchReport | None:
    """The report of an earlier, finished run of this very object version, if any (a run
    of the whole file or in byte ranges: both store the same report).
    """
    found = s3_store.read_json(s3, obj.bucket, keys.report)
    if found is None:
        return None
    report = BatchReport.from_dict(found[0])
    scored = report.input
    same = scored.etag.strip('"') == obj.etag.strip('"') and (
        not obj.version_id or not scored.version_id or scored.version_id == obj.version_id
    )
    if not same or report.status not in ("succeeded", "failed"):
        return None
    report.duplicate = True
    return report


def _score(
    s3: Any,
    report: BatchReport,
    keys: OutputKeys,
    load_model: Callable[[], LoadedModel],
    writers: tuple[MultipartWriter, MultipartWriter],
    chunk_rows: int,
    seconds_left: Callable[[], float],
    on_profile: Callable[[Profile], None] | None,
) -> BatchReport:
    """Stream, score, commit or abort, tidy and report; the caller holds the lease.

    The profile of a file scored to the end goes to ``on_profile`` before its report is
    written: a run that stops in between scores the file again, and its profile replaces
    the first (it is named after the object version), so nothing is counted twice or lost.
    """
    obj = report.input
    predictions, errors = writers
    try:
        model = load_model()  # UnservedModelError (an InputError) for a model not served here
        report.model = {"name": model.name, "version": model.version}
        body, stale = s3_versions.open_current(s3, obj)
        if stale is not None:  # nothing is written: the outputs belong to the current version
            logger.info("skipping %s: %s", obj.key, stale)
            return report.finish("skipped", reason=stale)
        assert body is not None
        stream = CsvStream(open_text(body, gzipped=keys.gzipped))
        scorer = ChunkScorer(
            model, stream.columns, stream.delimiter, RowIds(row_id_prefix(obj.key, obj.etag))
        )
        report.rows = scorer.rows
        predictions.write(scorer.output_header(stream.header_raw).encode())
        _score_chunks(stream, scorer, predictions, errors, chunk_rows, seconds_left, obj.key)
        if not s3_versions.still_current(s3, obj):
            for writer in writers:
                writer.abort()
            stale = "the object was overwritten or deleted while it was scored"
            logger.info("skipping %s: %s", obj.key, stale)
            return report.finish("skipped", reason=stale)
        for name, writer in (("predictions", predictions), ("errors", errors)):
            if writer.written:
                writer.complete()
                report.outputs[name] = writer.key
        report.finish("succeeded")
        if on_profile is not None:
            on_profile(scorer.profile)
    except InputError as exc:
        for writer in writers:
            writer.abort()
        logger.warning("cannot score %s: %s", obj.key, exc)
        report.finish("failed", error=str(exc))
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    produced = set(report.outputs.values())
    stale_outputs = [k for k in (keys.predictions, keys.errors) if k not in produced]
    s3_store.delete(s3, obj.bucket, stale_outputs)
    s3_store.write_json(s3, obj.bucket, keys.report, report.to_dict())
    return report


def _score_chunks(
    stream: CsvStream,
    scorer: ChunkScorer,
    predictions: MultipartWriter,
    errors: MultipartWriter,
    chunk_rows: int,
    seconds_left: Callable[[], float],
    key: str,
) -> None:
    """Every chunk of ``stream`` through ``scorer`` into the two uploads, within the deadline."""
    slowest = 0.0
    blank_lines = 0
    for chunk in stream.chunks(chunk_rows, scorer.check_record):
        if seconds_left() < max(MIN_SECONDS_LEFT, 2 * slowest):
            raise DeadlineError(
                f"stopped before the deadline after {scorer.rows.read} rows of {key}"
            )
        began = time.monotonic()
        text, problems = scorer.score(chunk)
        predictions.write(text.encode())
        if problems:
            blank_lines += sum(1 for problem in problems if problem[2] == BLANK)
            if not errors.written:
                errors.write(b"line,column,reason,row\n")
            errors.write(error_lines(problems))
        slowest = max(slowest, time.monotonic() - began)
    if scorer.rows.read == blank_lines:  # no record, or only blank lines: nothing to score
        only = f" (only {blank_lines} blank line(s))" if blank_lines else ""
        raise InputError(f"the file has a header but no rows{only}")
