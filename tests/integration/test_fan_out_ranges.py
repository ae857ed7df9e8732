"""Scoring in byte ranges gives the bytes of scoring the whole file, wherever the cuts fall.

The steps of :mod:`predictor.fan_out` are called here in the order the state machine
calls them (``test_fan_out_state_machine`` runs the state machine itself), so that every
cut position of small files can be tried in seconds.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from infra.local_env import DATA_BUCKET, MODEL_BUCKET
from predictor import fan_out, range_scoring, s3_store
from predictor.byte_lines import best_cut, count_lines, line_starts
from predictor.fan_out import Plan, Range
from predictor.registry import RegistryReader
from tests.helpers import (
    HEADER,
    ROWS,
    batch_outputs,
    object_ref,
    put,
    report,
    score_whole,
)

pytestmark = pytest.mark.integration


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
    plan, first = fan_out.plan_run(s3, obj, reader, lambda: ("wine", wine), range_bytes=range_bytes)
    if plan is None:
        return batch_outputs(s3, f"ranges/{name}"), first.to_dict()
    if cuts is not None:
        bounds = [plan.data_start, *cuts, plan.size]
        ranges = [Range(i, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
        plan = dataclasses.replace(plan, ranges=ranges)
        s3_store.write_json(s3, DATA_BUCKET, plan.key, plan.to_dict())
    model = reader.load_onnx("wine", wine)
    pending, round_number = plan.ranges, 1
    while True:
        for item in pending:
            range_scoring.score_range(s3, plan, item, model, chunk_rows=chunk_rows, worker="w")
        check = fan_out.check_run(s3, plan, pending, round_number)
        if check.status != "scoring":
            break
        pending, round_number = check.pending, round_number + 1
    if check.status == "failed":
        final = fan_out.abort_run(s3, obj, check.reason or "", check.failed)
    else:
        final = fan_out.finalize_run(s3, plan)
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


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("lf.csv", quoted_file()),
        ("crlf.csv", quoted_file("\r\n")),
        ("no-final-newline.csv", quoted_file(final_newline=False)),
        ("bom.csv", quoted_file(bom=True)),
    ],
)
def test_one_cut_at_every_line_start(data: Any, wine: str, name: str, body: bytes) -> None:
    """Two ranges, the cut at each line start in turn: inside quoted fields too."""
    expected = score_whole(data, name, body, wine)
    assert expected["rows"]["rejected"] >= 3
    assert expected["rows"]["scored"] >= 18
    header_end = data_line_starts(body)[0]
    cuts = [c for c in data_line_starts(body) if c > header_end]
    rescored = 0
    for cut in cuts:
        got, final = in_ranges(data, wine, name, body, cuts=[cut])
        assert got == expected, f"cut at byte {cut}"
        rescored += final["fan_out"]["rescored_ranges"]
    assert rescored > 0  # some cuts fell inside a quoted field and were set right


def test_every_line_start_a_cut(data: Any, wine: str) -> None:
    """As many ranges as lines: ranges of one row, empty ranges, ranges of bad rows only."""
    body = quoted_file()
    starts = data_line_starts(body)
    final = same(data, wine, "all-cuts.csv", body, cuts=starts[1:])
    assert final["fan_out"]["ranges"]["total"] == len(starts)


def test_semicolon_file_planned_in_small_ranges(data: Any, wine: str) -> None:
    body = ("\n".join([HEADER, *ROWS[:300]]) + "\n").encode()
    final = same(data, wine, "semicolon.csv", body, range_bytes=700, chunk_rows=50)
    assert final["fan_out"]["ranges"]["total"] > 20
    assert final["fan_out"]["rescored_ranges"] == 0  # no quotes: every cut is a record start
    assert final["rows"] == {"read": 300, "scored": 300, "rejected": 0}


def test_a_range_of_bad_rows_only(data: Any, wine: str) -> None:
    rows = list(ROWS[:40])
    for i in range(10, 20):
        rows[i] = rows[i].replace(";", ";oops", 1)
    body = ("\n".join([HEADER, *rows]) + "\n").encode()
    cuts = [body.index(rows[10].encode()), body.index(rows[20].encode())]
    final = same(data, wine, "bad-range.csv", body, cuts=cuts)
    assert final["rows"] == {"read": 40, "scored": 30, "rejected": 10}


def test_line_numbers_and_reasons_are_the_files_own(data: Any, wine: str) -> None:
    body = quoted_file()
    got, final = in_ranges(data, wine, "numbers.csv", body, range_bytes=150)
    assert final["fan_out"]["ranges"]["total"] > 5
    errors = (got["errors"] or b"").decode()

    def line_of(text: bytes) -> int:
        return body[: body.index(text)].count(b"\n") + 1

    assert re.search(rf"^{line_of(b',x')},volatile acidity,not a number", errors, re.M)
    assert re.search(rf'^{line_of(b"unclosed")},,"a quote opened on this line', errors, re.M)
    assert f"\n{line_of(b'\n\n') + 1},,blank line," in errors


def test_missing_column_fails_at_planning(data: Any, wine: str) -> None:
    body = ("\n".join([HEADER.replace("alcohol", "alc"), *ROWS[:50]]) + "\n").encode()
    got, final = in_ranges(data, wine, "missing.csv", body, range_bytes=200)
    assert final["status"] == "failed"
    assert "alcohol" in final["error"]
    assert got["predictions"] is None
    assert got["errors"] is None


def test_header_only_file(data: Any, wine: str) -> None:
    _got, final = in_ranges(data, wine, "header-only.csv", (HEADER + "\n").encode())
    assert final["status"] == "failed"
    assert final["error"] == "the file has a header but no rows"


def test_best_cut_prefers_a_line_start_away_from_quotes() -> None:
    window = b'x\n1,"a\nb"\n2,3\n4,5\n'
    assert best_cut(window, at_end=True) == window.index(b"4,5")
    assert best_cut(b"abc", at_end=False) is None
    assert best_cut(b"a\r", at_end=False) is None  # "\r" may be half of "\r\n"
    assert count_lines(b"a\r\nb\rc\n") == 3


def test_planned_cuts_are_line_starts_for_every_target(data: Any, wine: str) -> None:
    body = quoted_file("\r\n")
    put(data, "incoming/cuts.csv", body)
    obj = object_ref(data, "incoming/cuts.csv")
    starts = set(data_line_starts(body))
    header_end = min(starts)
    for step in range(1, len(body) - header_end, 7):
        cuts = fan_out._cuts(data, obj, header_end, len(body), step)
        assert set(cuts) <= starts, step
        assert cuts == sorted(set(cuts))


def test_plan_is_stored_and_read_back(data: Any, wine: str) -> None:
    put(data, "incoming/plan.csv", quoted_file())
    obj = object_ref(data, "incoming/plan.csv")
    reader = RegistryReader(data, MODEL_BUCKET)
    plan, _running = fan_out.plan_run(data, obj, reader, lambda: ("wine", wine), range_bytes=300)
    assert plan is not None
    assert fan_out.load_plan(data, DATA_BUCKET, plan.key) == plan
    assert isinstance(plan, Plan)
    stored = report(data, "plan.csv")
    assert stored["status"] == "running"
    assert stored["fan_out"]["ranges"] == {"total": len(plan.ranges), "done": 0}
