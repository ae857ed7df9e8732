"""Scoring in byte ranges gives the bytes of scoring the whole file, wherever the cuts fall.

The steps of :mod:`predictor.batch.fan_out` are called here in the order the state machine
calls them (``test_fan_out_state_machine`` runs the state machine itself), so that every
cut position of small files can be tried in seconds (every cut of every kind of file:
``tests/slow/test_fan_out_cuts.py``).
"""

from __future__ import annotations

import re
from typing import Any

from infra.local_env import DATA_BUCKET, MODEL_BUCKET
from predictor.batch.fan_out import planning
from predictor.batch.fan_out.plan import Plan, load_plan
from predictor.io.csv.byte_lines import best_cut, count_lines
from predictor.models.registry import RegistryReader
from tests.helpers import (
    HEADER,
    ROWS,
    object_ref,
    put,
    report,
)
from tests.ranges import data_line_starts, in_ranges, quoted_file, same


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


def test_plan_is_stored_and_read_back(data: Any, wine: str) -> None:
    put(data, "incoming/plan.csv", quoted_file())
    obj = object_ref(data, "incoming/plan.csv")
    reader = RegistryReader(data, MODEL_BUCKET)
    plan, _running = planning.plan_run(data, obj, reader, lambda: ("wine", wine), range_bytes=300)
    assert plan is not None
    assert load_plan(data, DATA_BUCKET, plan.key) == plan
    assert isinstance(plan, Plan)
    stored = report(data, "plan.csv")
    assert stored["status"] == "running"
    assert stored["fan_out"]["ranges"] == {"total": len(plan.ranges), "done": 0}
