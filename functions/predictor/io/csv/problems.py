"""Why a CSV record is refused, in words: a NUL byte, a line too long, a field count other
than the header's, a blank line; each reason counts lines from the record's own line.
"""

from __future__ import annotations

import re
from typing import Protocol

from predictor.io.csv.dialect import MAX_RECORD_CHARS
from predictor.io.csv.lines import CUT_MARK

NUL_BYTE = "a NUL byte"
NOT_UTF8 = "bytes that are not UTF-8"
TOO_LONG = f"a line longer than {MAX_RECORD_CHARS:,} characters"
BLANK = "blank line"


class Records(Protocol):
    """Consecutive records as the reader gives them (:class:`predictor.io.csv.stream.Chunk`)."""

    @property
    def raws(self) -> list[str]: ...

    @property
    def fields(self) -> list[list[str]]: ...

    @property
    def refused(self) -> dict[int, str]: ...


#: What makes a record unusable whatever its fields: a NUL, a byte that was not UTF-8
#: (``surrogateescape`` made it U+DC80..U+DCFF), or the mark of a cut line.
_UNUSABLE = re.compile("[\x00\udc80-\udcff\udfff]")


def unusable(raw: str) -> str | None:
    found = _UNUSABLE.search(raw)
    if found is None:
        return None
    if CUT_MARK in raw:
        return TOO_LONG
    return NUL_BYTE if found.group() == "\x00" else NOT_UTF8


def record_problems(chunk: Records, width: int) -> dict[int, str]:
    """Why each record of ``chunk`` that cannot be a row is refused (index -> reason).

    Whole-record problems only: what the reader refused, NUL bytes, bytes that are not
    UTF-8, cut lines, blank lines and a field count other than ``width``. Values are
    the schema's business.
    """
    problems = dict(chunk.refused)
    joined = "".join(chunk.raws)
    if not (joined.isascii() and "\x00" not in joined) and _UNUSABLE.search(joined):
        for index, raw in enumerate(chunk.raws):
            reason = unusable(raw)
            if reason is not None:
                problems.setdefault(index, reason)
    fields = chunk.fields
    if len(problems) < len(fields) and not all(len(row) == width for row in fields):
        for index, row in enumerate(fields):
            if len(row) != width and index not in problems:
                problems[index] = f"expected {width} fields, got {len(row)}" if row else BLANK
    return problems


def more_lines(count: int) -> str:
    """``1 line``, ``3 lines``. Reasons count lines from the record's own line, never name
    another line's number: a range of a file scored on its own (see :mod:`predictor.batch.fan_out`)
    writes the same reasons as the whole file read at once.
    """
    return f"{count} line" if count == 1 else f"{count} lines"


def shown_raw(raw: str) -> str:
    """A refused record's text as the error file shows it (UTF-8, cut lines marked)."""
    if CUT_MARK in raw:
        raw = raw.replace(CUT_MARK, "...")
    # Bytes that were not UTF-8 as \xNN, so that the error file stays UTF-8.
    return raw.encode(errors="surrogateescape").decode(errors="backslashreplace")
