"""Physical lines in raw bytes: counting them, finding where the n-th one ends, cutting.

A CSV line ends at ``\\r\\n``, ``\\r`` or ``\\n``, as the batch reader
(:mod:`predictor.io.csv.lines`) splits them. A byte range of a file that starts and ends
right after a line ending holds whole lines, and counting its line endings counts them.
In UTF-8 these bytes never occur inside a multi-byte character, so a cut there is also a
character boundary.
"""

from __future__ import annotations

import io
import re
from typing import IO

_LINE_END = re.compile(rb"\r\n|\r|\n")
_QUOTE = ord('"')


def count_lines(data: bytes) -> int:
    """Line endings in ``data`` (which must not end between a ``\\r`` and its ``\\n``)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def offset_after_lines(data: bytes, lines: int, *, at_end: bool) -> int | None:
    """Where the ``lines``-th line of ``data`` ends (after its line ending).

    None when ``data`` holds fewer whole lines, or when the last one ends in ``\\r`` at the
    end of ``data`` and ``at_end`` is false (a ``\\n`` might follow: more data is needed).
    """
    if lines == 0:
        return 0
    for seen, found in enumerate(_LINE_END.finditer(data), start=1):
        if seen == lines:
            end = found.end()
            if end == len(data) and data.endswith(b"\r") and not at_end:
                return None
            return end
    return None


def line_starts(window: bytes, *, at_end: bool) -> list[int]:
    """The offsets in ``window`` where a line starts right after a line ending."""
    starts = [m.end() for m in _LINE_END.finditer(window)]
    if starts and starts[-1] == len(window) and window.endswith(b"\r") and not at_end:
        starts.pop()  # "\r" last: a "\n" may follow in the next byte
    return starts


def best_cut(window: bytes, *, at_end: bool) -> int | None:
    """A line start in ``window`` (whose first byte is the byte before the wanted cut)
    that is unlikely to fall inside a quoted field, or None when no line starts there.

    The first line start with no quote on the line before it nor on the line after it;
    failing that, the first line start. It is a guess: each range is checked after
    scoring (see :mod:`predictor.batch.fan_out`), and a wrong guess costs a re-scored range.
    """
    starts = line_starts(window, at_end=at_end)
    if not starts:
        return None
    previous = 0
    for index, start in enumerate(starts):
        following = starts[index + 1] if index + 1 < len(starts) else len(window)
        if _QUOTE not in window[previous:start] and _QUOTE not in window[start:following]:
            return start
        previous = start
    return starts[0]


class LineCountingReader(io.RawIOBase):
    """Reads ``body`` on, counting the line endings of its first ``limit`` bytes.

    :attr:`lines` is None until that many bytes have been read, then their line count
    (``limit`` None: always None).
    A reader over a byte range starting at a line start learns from it how many lines
    the range holds without a second pass.
    """

    def __init__(self, body: IO[bytes], limit: int | None) -> None:
        self._body = body
        self._left = limit
        self._counted = 0
        self._last_was_cr = False
        # No limit (the last range): the count is never needed, and stays unknown.
        self.lines: int | None = 0 if limit == 0 else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        if self._left:
            inside = data[: self._left]
            self._counted += count_lines(inside)
            if self._last_was_cr and inside.startswith(b"\n"):
                self._counted -= 1  # a "\r\n" split between two reads is one line ending
            if inside:
                self._last_was_cr = inside.endswith(b"\r")
            self._left -= len(inside)
            if self._left == 0:
                self.lines = self._counted
        return len(data)
