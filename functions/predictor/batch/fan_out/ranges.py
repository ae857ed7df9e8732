"""Scoring one byte range of a large file: the worker of a run in ranges.

Reads the records that start inside its range of the pinned object version with the
whole-file reader and scorer (:mod:`predictor.io.csv.stream`, :mod:`predictor.batch.chunks`),
past its end when its last record runs on, and writes its predictions part, its errors
part (line numbers counted from the range's first line) and a result saying where its
last record ended (see :mod:`predictor.batch.fan_out` for why that proves the cuts).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from typing import Any

from predictor.batch.chunks import ChunkScorer, RowCounts, RowIds, error_lines
from predictor.batch.fan_out.plan import Plan, Range, RangeResult
from predictor.batch_keys import incoming_keys, row_id_prefix
from predictor.errors import InputError
from predictor.io import s3_store, s3_versions
from predictor.io.csv.byte_lines import LineCountingReader, offset_after_lines
from predictor.io.csv.stream import CsvStream
from predictor.io.s3_multipart import MultipartWriter
from predictor.models.registry import LoadedModel

logger = logging.getLogger(__name__)


def score_range(
    s3: Any,
    plan: Plan,
    item: Range,
    model: LoadedModel,
    *,
    chunk_rows: int,
    worker: str,
) -> RangeResult:
    """Score the records that start in ``item`` (reading past its end if the last runs on).

    A retried range finds its stored result and returns it. A file the model can never
    score (a missing column) gives a result that says so: retrying would not help.
    """
    result_key = plan.part_key(item.index, item.start, "json")
    found = s3_store.read_json(s3, plan.input.bucket, result_key)
    if found is not None:
        return RangeResult.from_dict(found[0])
    began = time.monotonic()
    bucket = plan.input.bucket
    predictions_key = plan.part_key(item.index, item.start, "predictions.csv")
    errors_key = plan.part_key(item.index, item.start, "errors.csv")
    predictions = MultipartWriter(s3, bucket, predictions_key)
    errors = MultipartWriter(s3, bucket, errors_key)
    try:
        result = _score_range(s3, plan, item, model, chunk_rows, (predictions, errors))
    except InputError as exc:
        for writer in (predictions, errors):
            writer.abort()
        result = RangeResult(
            item.index, item.start, item.end, 0, RowCounts(), "", 0, None, 0, 0.0, worker,
            failed=str(exc),
        )  # fmt: skip
    except BaseException:
        for writer in (predictions, errors):
            writer.abort()
        raise
    result.seconds = round(time.monotonic() - began, 3)
    result.worker = worker
    s3_store.write_json(s3, bucket, result_key, result.to_dict())
    return result


def _score_range(
    s3: Any,
    plan: Plan,
    item: Range,
    model: LoadedModel,
    chunk_rows: int,
    writers: tuple[MultipartWriter, MultipartWriter],
) -> RangeResult:
    obj = plan.input
    last = item.end >= plan.size
    body = s3_versions.open_from(s3, obj, item.start)
    counter = LineCountingReader(body, None if last else item.end - item.start)
    # Plain UTF-8 (no BOM is dropped: a range starts after the header) with the same
    # error handling and line endings as a whole file (open_text).
    text = io.TextIOWrapper(
        io.BufferedReader(counter, buffer_size=1 << 20),
        encoding="utf-8",
        errors="surrogateescape",
        newline="",
    )
    stream = CsvStream.resume(text, plan.delimiter, plan.columns)
    # Chunk lines count from the range's start: the file's lines before it are added.
    ids = RowIds(row_id_prefix(plan.input.key, plan.input.etag), item.first_line - 1)
    scorer = ChunkScorer(model, plan.columns, plan.delimiter, ids)
    predictions, errors = writers
    if item.index == 0:
        predictions.write(scorer.output_header(plan.header_raw).encode())
    next_line = None  # the line where the first record after this range starts
    for chunk in _own_chunks(stream, scorer, chunk_rows, counter):
        if isinstance(chunk, int):
            next_line = chunk
            break
        text_out, problems = scorer.score(chunk)
        predictions.write(text_out.encode())
        if problems:
            errors.write(error_lines(problems))
    body.close()
    if next_line is None:  # the file ended inside this range (or its last record)
        end, lines = plan.size, stream.lines_read
    else:
        lines = next_line - 1
        assert counter.lines is not None
        overrun = lines - counter.lines
        end = item.end if overrun == 0 else item.end + _bytes_of_lines(s3, plan, item.end, overrun)
    for writer in writers:
        if writer.written:
            writer.complete()
    return RangeResult(
        index=item.index,
        start=item.start,
        end=end,
        lines=lines,
        rows=scorer.rows,
        predictions_key=predictions.key if predictions.written else "",
        predictions_bytes=predictions.size,
        errors_key=errors.key if errors.written else None,
        errors_bytes=errors.size,
        seconds=0.0,
        worker="",
        profile=scorer.profile.to_dict(),
    )


def _own_chunks(
    stream: CsvStream, scorer: ChunkScorer, chunk_rows: int, counter: LineCountingReader
) -> Iterator[Any]:
    """The chunks of records that start inside the range, then the line of the first
    record that does not (an int), if there is one.

    The range's line count is known once its last byte has been read; records are only
    ever parsed from lines already read, so until then every record starts inside it.
    """
    for chunk in stream.chunks(chunk_rows, scorer.check_record):
        own = counter.lines
        if own is None or chunk.lines[-1] <= own:
            yield chunk
            continue
        inside = [i for i, line in enumerate(chunk.lines) if line <= own]
        if inside:
            yield chunk.subset(inside)
        yield chunk.lines[len(inside)]
        return


def _bytes_of_lines(s3: Any, plan: Plan, start: int, lines: int) -> int:
    """How many bytes the ``lines`` lines from ``start`` take (a record that ran on)."""
    data = b""
    step = 1 << 20
    while True:
        end = min(plan.size, start + len(data) + step)
        data += s3_versions.read_range(s3, plan.input, start + len(data), end)
        at_end = end == plan.size
        found = offset_after_lines(data, lines, at_end=at_end)
        if found is not None:
            return found
        if at_end:
            return len(data)
        step *= 2


def count_progress(s3: Any, plan: Plan) -> None:
    """Add one to the running report's ranges done (best effort: it is only progress)."""
    keys = incoming_keys(plan.input.key)

    def add_one(document: dict[str, Any]) -> dict[str, Any] | None:
        fan_out = document.get("fan_out") or {}
        if document.get("status") != "running" or fan_out.get("run") != plan.run:
            return None
        ranges = fan_out["ranges"]
        ranges["done"] = min(ranges["total"], ranges["done"] + 1)
        return document

    try:
        s3_store.update_json(s3, plan.input.bucket, keys.report, add_one)
    except Exception:
        logger.warning("could not count the progress of %s", plan.input.key, exc_info=True)
