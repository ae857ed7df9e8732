"""Scoring in byte ranges, every cut position of small files tried in turn (minutes):
the ranged run's outputs are the whole file's, wherever the cuts fall."""

from __future__ import annotations

from typing import Any

import pytest

from predictor.batch.fan_out import planning
from tests.helpers import object_ref, put, score_whole
from tests.ranges import data_line_starts, in_ranges, quoted_file


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


def test_planned_cuts_are_line_starts_for_every_target(data: Any, wine: str) -> None:
    body = quoted_file("\r\n")
    put(data, "incoming/cuts.csv", body)
    obj = object_ref(data, "incoming/cuts.csv")
    starts = set(data_line_starts(body))
    header_end = min(starts)
    for step in range(1, len(body) - header_end, 7):
        cuts = planning._cuts(data, obj, header_end, len(body), step)
        assert set(cuts) <= starts, step
        assert cuts == sorted(set(cuts))
