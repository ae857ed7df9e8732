"""Physical lines of a CSV file: decoded, bounded in length, and able to be read again.

The batch reader (:mod:`predictor.io.csv.stream`) takes lines from here. No line is held
longer than :data:`~predictor.io.csv.dialect.MAX_RECORD_CHARS`: a longer one is cut, its
start kept (and marked) for the error file, the rest skipped. Lines a runaway quote
swallowed can be handed back and come out again, in file order.

Reading a line at a time costs about a microsecond per line in Python. :meth:`Lines.take`
reads blocks of :data:`BULK_CHARS` characters and splits the whole lines in them with one
C call when that split provably equals line-by-line reading; any other block, and the
partial line at a block's end, is read line by line as before.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import IO, Any

from predictor.errors import InputError
from predictor.io.csv.dialect import MAX_RECORD_CHARS

#: How much of a cut line the error file keeps.
CUT_KEEPS_CHARS = 1000
#: How much one read takes: a line of MAX_RECORD_CHARS characters and its "\r\n".
READ_LIMIT = MAX_RECORD_CHARS + 2
#: Marks where a line longer than MAX_RECORD_CHARS was cut. A lone surrogate that UTF-8
#: decoding never produces (``surrogateescape`` only makes U+DC80..U+DCFF), so it cannot
#: come from the file itself.
CUT_MARK = "\udfff"
#: Characters read at once by :meth:`Lines.take`. At most MAX_RECORD_CHARS, so that no
#: whole line inside a block is long enough to need cutting.
BULK_CHARS = min(1 << 20, MAX_RECORD_CHARS)
#: Line boundaries of str.splitlines() that reading with newline="" does not split on.
#: A block without them splits the same way both ways ("\r", "\n" and "\r\n" alike).
_OTHER_LINE_BOUNDARIES = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _splits_as_read(text: str) -> bool:
    """Whether ``text.splitlines()`` splits where reading with newline="" would."""
    if text.isascii():  # a few memchr-speed scans instead of a regex over the block
        return not any(boundary in text for boundary in "\x0b\x0c\x1c\x1d\x1e")
    return _OTHER_LINE_BOUNDARIES.search(text) is None


class Lines:
    """Physical lines (endings kept) of a text stream, each cut at MAX_RECORD_CHARS.

    Lines handed back with :meth:`push_back` come out again first, in file order: the
    reader re-reads the lines a runaway quote swallowed.
    """

    def __init__(self, sample: str, text: IO[str]) -> None:
        self._sample = io.StringIO(sample, newline="")
        self._text = text
        self._read: Callable[[int], str] = self._read_sample
        self._pushed: deque[str] = deque()
        self._carry = ""  # a character read ahead to see whether "\r" was "\r\n"
        self._in_sample = True  # lines come from the sample (or a block's partial line)
        self._buffer: list[str] = []  # whole lines of the last block read in bulk
        self._position = 0  # the next line of _buffer

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        if self._pushed:
            return self._pushed.popleft()
        if self._position < len(self._buffer):
            self._position += 1
            return self._buffer[self._position - 1]
        try:
            line = self._readline(READ_LIMIT) if self._carry else self._read(READ_LIMIT)
            if len(line) == READ_LIMIT and not line.endswith("\r\n"):
                self._skip_rest(line)  # more than MAX_RECORD_CHARS besides its ending
                line = line[:CUT_KEEPS_CHARS] + CUT_MARK + "\n"
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise InputError(f"the file is truncated or corrupt: {exc}") from exc
        if not line:
            raise StopIteration
        return line

    def take(self, count: int) -> list[str]:
        """The next ``count`` lines (fewer at the end), as iterating would give them."""
        taken: list[str] = []
        while len(taken) < count:
            at_stream = not (self._pushed or self._carry or self._in_sample)
            if at_stream and self._position == len(self._buffer):
                self._read_block()
            if not self._pushed and self._position < len(self._buffer):
                end = min(len(self._buffer), self._position + count - len(taken))
                taken += self._buffer[self._position : end]
                self._position = end
                continue
            line = next(self, None)
            if line is None:
                break
            taken.append(line)
        return taken

    def _read_block(self) -> None:
        """Read BULK_CHARS characters: whole lines into the buffer, the rest line by line."""
        try:
            block = self._text.read(BULK_CHARS)
            while block.endswith("\r"):  # a "\r\n" the block's end would cut in two
                following = self._text.read(1)
                if not following:
                    break
                block += following
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise InputError(f"the file is truncated or corrupt: {exc}") from exc
        whole, newline, partial = block.rpartition("\n")
        whole += newline
        if whole and _splits_as_read(whole):
            self._buffer = whole.splitlines(keepends=True)
        else:
            self._buffer, partial = [], block
        self._position = 0
        if partial:  # read on by the line reader, which finishes the line from the stream
            self._sample = io.StringIO(partial, newline="")
            self._read = self._read_sample
            self._in_sample = True

    def push_back(self, lines: Sequence[str]) -> None:
        """Lines taken earlier, to be read again before any other."""
        self._pushed.extendleft(reversed(lines))

    def _readline(self, limit: int) -> str:
        if not self._carry:
            return self._read(limit)
        carry, self._carry = self._carry, ""
        if carry != "\r":
            return carry + self._read(limit - 1)
        following = self._read(1)  # a carried "\r" may be the start of "\r\n"
        if following == "\n":
            return "\r\n"
        self._carry = following
        return carry

    def _skip_rest(self, piece: str) -> None:
        """Read past the rest of an over-long line, whose first ``piece`` was read."""
        while piece and not piece.endswith(("\n", "\r")):
            piece = self._read(READ_LIMIT)
        if piece.endswith("\r"):  # the line ends here, unless "\n" follows ("\r\n")
            following = self._read(1)
            if following != "\n":
                self._carry = following

    def _read_sample(self, limit: int) -> str:
        line = self._sample.readline(limit)
        if len(line) == limit or line.endswith(("\n", "\r")):
            return line
        self._read = self._text.readline  # the sample is used up, maybe mid-line
        self._in_sample = False
        return line + self._text.readline(limit - len(line))


class _RawBody(io.RawIOBase):
    """A raw stream over anything with ``read(n)`` (botocore's StreamingBody included)."""

    def __init__(self, body: IO[bytes]) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_text(body: IO[bytes], gzipped: bool) -> IO[str]:
    """A UTF-8 text stream (BOM dropped, line endings kept) over a binary body."""
    binary: Any = io.BufferedReader(_RawBody(body), buffer_size=1 << 20)
    if gzipped:
        binary = gzip.GzipFile(fileobj=binary, mode="rb")
    # newline="" keeps "\r\n" inside records, as the csv module requires. A byte that is
    # not UTF-8 becomes a lone surrogate, so the record holding it can be refused on its
    # own (see record_problems) instead of failing the whole file.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")


def strip_line_end(raw: str) -> str:
    """The record text without its final line ending."""
    if raw.endswith("\r\n"):
        return raw[:-2]
    if raw.endswith(("\n", "\r")):
        return raw[:-1]
    return raw
