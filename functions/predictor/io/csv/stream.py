"""Streaming CSV records with their line numbers and raw text.

The batch path needs three things pandas' reader does not give together: the physical
line number where each record starts, the record's raw text (to copy good rows to the
output unchanged and bad rows to the error file), and records of the wrong width kept
instead of dropped.

Records are read a chunk of lines at a time. A chunk without any quote character is
split on the delimiter directly (most data files: one line per record, ~10x faster than
the csv module per record); a chunk with quotes goes through the csv module, with a tap
on its line iterator that collects each record's raw text (quoted delimiters and quoted
newlines included, even when a record runs past the chunk's last line).

A bad row costs only itself, wherever it is: a line longer than
:data:`~predictor.io.csv.dialect.MAX_RECORD_CHARS` is cut (its start kept for the error
file), a NUL byte or bytes that are not UTF-8 refuse their row, and a quote that is
never closed (or that turns lines into a record of the wrong width) refuses only the
line it opened on, whose following lines are then read again as records of their own.
Memory stays bounded by the chunk and that limit, whatever the file holds.
"""

from __future__ import annotations

import collections
import csv
import gzip
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO

from predictor.errors import InputError
from predictor.io.csv.dialect import MAX_RECORD_CHARS, allow_long_fields, sniff_delimiter
from predictor.io.csv.lines import CUT_MARK, READ_LIMIT, Lines, strip_line_end
from predictor.io.csv.problems import NOT_UTF8, TOO_LONG, more_lines, unusable

#: Characters read to sniff the delimiter.
SAMPLE_CHARS = 64 * 1024


@dataclass(slots=True)
class Chunk:
    """Consecutive CSV records: where each starts (1-based line), its text, its fields.

    ``raws`` hold each record's text without its final line ending; a blank line is a
    record with no fields. ``refused`` maps the index of a record the reader itself
    refused (an unclosed quote) to the reason.

    A chunk without any quote character is *plain*: each record is one line, split on
    ``delimiter`` only when its ``fields`` are asked for, so that a scorer that parses
    the text in bulk (:mod:`predictor.io.csv.numeric`) never pays for the split.
    """

    lines: Sequence[int]
    raws: list[str]
    split_fields: list[list[str]] | None = None
    refused: dict[int, str] = field(default_factory=dict)
    delimiter: str | None = None

    def __len__(self) -> int:
        return len(self.raws)

    @property
    def plain(self) -> bool:
        """Whether each record is one line without quotes (fields are a plain split)."""
        return self.delimiter is not None

    @property
    def fields(self) -> list[list[str]]:
        """Each record's fields (none for a blank line)."""
        if self.split_fields is None:
            delimiter = self.delimiter
            # Spaces after a delimiter skipped, as the csv reader of quoted chunks (and
            # training's, pandas') skips them: "1, red" is "red".
            self.split_fields = [
                (
                    [f.lstrip(" ") for f in raw.split(delimiter)]
                    if " " in raw
                    else raw.split(delimiter)
                )
                if raw
                else []
                for raw in self.raws
            ]
        return self.split_fields

    def subset(self, indices: Sequence[int]) -> Chunk:
        """The records at ``indices`` (ascending), as a chunk of their own."""
        lines, raws = self.lines, self.raws
        position = {index: new for new, index in enumerate(indices)}
        return Chunk(
            [lines[i] for i in indices],
            [raws[i] for i in indices],
            None if self.split_fields is None else [self.split_fields[i] for i in indices],
            {position[i]: reason for i, reason in self.refused.items() if i in position},
            self.delimiter,
        )


class _RecordTooLong(Exception):
    """A quoted field ran on past MAX_RECORD_CHARS characters or into a cut line."""


#: Says why a record that spans lines is not a row (None when it is one).
RecordCheck = Callable[[list[str]], str | None]


class _LineTap:
    """Iterates lines for csv.reader, keeps the ones the current record used, bounds them."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.taken: list[str] = []
        self.chars = 0
        self._after_cut = False

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        if self.chars > MAX_RECORD_CHARS or self._after_cut:
            raise _RecordTooLong
        line = next(self._lines)
        self.taken.append(line)
        self.chars += len(line)
        self._after_cut = CUT_MARK in line  # a quote open in a cut line must not run on
        return line

    def clear(self) -> None:
        """Start the next record."""
        self.taken.clear()
        self.chars = 0
        self._after_cut = False


class CsvStream:
    """The header and the records of a CSV text stream, read lazily.

    Record line numbers count from the stream's first line (the header's, or with
    :meth:`resume` the first line given).
    """

    def __init__(self, text: IO[str]) -> None:
        allow_long_fields()
        try:
            sample = text.read(SAMPLE_CHARS)
            sample += text.readline(READ_LIMIT)  # finish the line the sample cut
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise InputError(f"the file is truncated or corrupt: {exc}") from exc
        if not sample.strip():
            raise InputError("the file is empty")
        self.delimiter = sniff_delimiter(sample)
        self._lines = Lines(sample, text)
        self._line = 0  # lines consumed so far
        header = self._quoted_records([], 1, None, None)
        if not header.fields or not any(f.strip() for f in header.fields[0]):
            raise InputError("the file has no header row")
        problem = unusable(header.raws[0])
        if problem == NOT_UTF8:
            raise InputError("not a UTF-8 CSV file: the header row has bytes that are not UTF-8")
        if problem is not None:
            raise InputError(f"not a CSV file: the header row has {problem}")
        self.header_raw = header.raws[0]
        self.columns = [name.strip() for name in header.fields[0]]
        counts = collections.Counter(self.columns)  # linear: a header may be 100,000 wide
        # unnamed columns (a spreadsheet's trailing delimiters) are no model's: any number
        duplicates = sorted(name for name, seen in counts.items() if seen > 1 and name)
        if duplicates:
            raise InputError("duplicate column name(s) in the header: " + ", ".join(duplicates))

    @classmethod
    def resume(cls, text: IO[str], delimiter: str, columns: list[str]) -> CsvStream:
        """Records of a stream that starts at a record of a file whose header was read
        elsewhere (a byte range of a large file): no sniffing, no header; line 1 is the
        stream's first line.
        """
        allow_long_fields()
        stream = cls.__new__(cls)
        stream.delimiter = delimiter
        stream.columns = list(columns)
        stream.header_raw = ""
        stream._lines = Lines("", text)
        stream._line = 0
        return stream

    @property
    def lines_read(self) -> int:
        """Physical lines consumed so far (the header's included)."""
        return self._line

    def chunks(self, rows: int, check: RecordCheck | None = None) -> Iterator[Chunk]:
        """The records after the header, about ``rows`` lines at a time.

        ``check`` judges each record that spans lines (a quoted field with line breaks):
        when it names a problem, the quote is taken as out of place (see
        :meth:`_quoted_records`).
        """
        width = len(self.columns)
        while True:
            block = self._lines.take(rows)
            if not block:
                return
            if '"' in "".join(block):
                yield self._quoted_records(block, len(block), width, check)
                continue
            raws = [line.rstrip("\r\n") for line in block]
            first = self._line + 1
            self._line += len(block)
            yield Chunk(range(first, first + len(block)), raws, delimiter=self.delimiter)

    def _quoted_records(
        self, block: list[str], limit: int, width: int | None, check: RecordCheck | None
    ) -> Chunk:
        """Records parsed by the csv module until ``limit`` lines are consumed.

        Reads ``block`` first, then more lines from the stream if a quoted field runs on.
        A record that spans lines but is not a row (the wrong width, a problem ``check``
        names, or a quote not closed within MAX_RECORD_CHARS) is a quote out of place:
        only its first line is refused, and the lines after it are read again.
        """
        self._lines.push_back(block)
        tap = _LineTap(self._lines)
        # strict: a quote must open a field and be followed by a delimiter or line end
        # when it closes ("3"5 is not a number 35), as in the realtime API's CSV.
        # skipinitialspace: "1, red" is "red", as training's reader (pandas) reads it.
        reader = csv.reader(tap, delimiter=self.delimiter, strict=True, skipinitialspace=True)
        lines: list[int] = []
        raws: list[str] = []
        fields: list[list[str]] = []
        refused: dict[int, str] = {}
        consumed = 0
        while consumed < limit:
            start = self._line + 1
            reason = None
            try:
                record = next(reader)
            except StopIteration:
                break
            except _RecordTooLong:
                record = []
                reason = (
                    TOO_LONG
                    if CUT_MARK in tap.taken[0]
                    else "a quote opened on this line is not closed"
                )
            except csv.Error as exc:
                record, reason = [], f"quotes out of place: {exc}"
                if len(tap.taken) > 1:
                    reason += f" (the record would run on for {more_lines(len(tap.taken) - 1)})"
            taken = tap.taken
            if reason is None and width is not None and len(taken) > 1:
                problem = (
                    f"{len(record)} fields, not {width}"
                    if len(record) != width
                    else (check(record) if check is not None else None)
                )
                if problem is not None:
                    reason = (
                        "a quote opened on this line makes it and the next "
                        f"{more_lines(len(taken) - 1)} one record: {problem}"
                    )
            if reason is not None:
                if len(taken) > 1:
                    self._lines.push_back(taken[1:])
                    del taken[1:]
                refused[len(raws)] = reason
                record = []
            consumed += len(taken)
            self._line += len(taken)
            lines.append(start)
            raws.append(strip_line_end("".join(taken)))
            fields.append(record)
            tap.clear()
        return Chunk(lines, raws, fields, refused)
