"""Helpers of the byte-range tests: a file scored in ranges with the state machine's
steps called in its order, and files holding every kind of record."""

from __future__ import annotations

import dataclasses
from typing import Any

from infra.local_env import DATA_BUCKET, MODEL_BUCKET
from predictor.batch.fan_out import checking, finishing, planning
from predictor.batch.fan_out import ranges as range_scoring
from predictor.batch.fan_out.plan import Range
from predictor.io import s3_store
from predictor.io.csv.byte_lines import line_starts
from predictor.models.registry import RegistryReader
from tests.helpers import HEADER, ROWS, batch_outputs, object_ref, put, score_whole


def in_ranges(
    s3: Any,
    wine: str,
    name: str,
    body: bytes,
    *,
    range_bytes: int = 1 << 30,
    cuts: list[int] | None = None,
    chunk_rows: int = 5,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score ``body`` in ranges (``cuts`` forced, or planned every ``range_bytes``)."""
    key = f"incoming/ranges/{name}"
    put(s3, key, body)
    obj = object_ref(s3, key)
    reader = RegistryReader(s3, MODEL_BUCKET)
    plan, first = planning.plan_run(
        s3, obj, reader, lambda: ("wine", wine), range_bytes=range_bytes
    )
    if plan is None:
        return batch_outputs(s3, f"ranges/{name}"), first.to_dict()
    if cuts is not None:
        bounds = [plan.data_start, *cuts, plan.size]
        lines = planning.first_lines(s3, plan.input, bounds, plan.header_lines + 1)
        ranges = [Range(i, bounds[i], bounds[i + 1], lines[i]) for i in range(len(bounds) - 1)]
        plan = dataclasses.replace(plan, ranges=ranges)
        s3_store.write_json(s3, DATA_BUCKET, plan.key, plan.to_dict())
    model = reader.load_onnx("wine", wine)
    pending, round_number = plan.ranges, 1
    while True:
        for item in pending:
            range_scoring.score_range(s3, plan, item, model, chunk_rows=chunk_rows, worker="w")
        check = checking.check_run(s3, plan, pending, round_number)
        if check.status != "scoring":
            break
        pending, round_number = check.pending, round_number + 1
    if check.status == "failed":
        final = finishing.abort_run(s3, obj, check.reason or "", check.failed)
    else:
        final = finishing.finalize_run(s3, plan)
    assert not s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="runs/").get("Contents")
    return batch_outputs(s3, f"ranges/{name}"), final.to_dict()


def same(s3: Any, wine: str, name: str, body: bytes, **options: Any) -> dict[str, Any]:
    """Score ``body`` both ways, assert the same outputs; the ranged run's report."""
    expected = score_whole(s3, name, body, wine)
    got, final = in_ranges(s3, wine, name, body, **options)
    assert got == expected
    return final


def quoted_file(ending: str = "\n", *, final_newline: bool = True, bom: bool = False) -> bytes:
    """Wine rows with a quoted note column whose values hold line breaks, commas and
    quotes, a stray quote, bad values and a blank line: every kind of record."""
    header = HEADER.replace(";", ",") + ',"note"'
    lines = [header]
    notes = [
        "plain",
        '"two\nlines"',
        '"a, comma"',
        '"say ""hi""\nthen\nthree"',
        "",
        '"\n"',
    ]
    for i, row in enumerate(ROWS[:24]):
        lines.append(row.replace(";", ",") + "," + notes[i % len(notes)])
    lines[7] = lines[7].replace(",", ",x", 1)  # a bad value
    lines[11] = lines[11] + ',"unclosed'  # a stray quote: one refused line, rest re-read
    lines[15] = ""  # a blank line
    text = ending.join(lines).replace("\n", ending) if ending != "\n" else "\n".join(lines)
    if final_newline:
        text += ending
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def data_line_starts(body: bytes) -> list[int]:
    """Every line start after the header's first line."""
    starts = line_starts(body, at_end=True)
    return [s for s in starts[1:] if s < len(body)]
