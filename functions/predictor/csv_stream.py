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
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from predictor.csv_dialect import sniff_delimiter
from predictor.errors import InputError

#: Bytes read to sniff the delimiter.
SAMPLE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive CSV records: where each starts (1-based line), its text, its fields.

    ``raws`` hold each record's text without its final line ending; a blank line is a
    record with no fields.
    """

    lines: Sequence[int]
    raws: list[str]
    fields: list[list[str]]

    def __len__(self) -> int:
        return len(self.raws)


class _LineTap:
    """Iterates lines for csv.reader and keeps the ones the current record used."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.taken: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        return line


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
    # own (see undecodable_records) instead of failing the whole file.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")


#: What ``surrogateescape`` turns an undecodable byte into.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def undecodable_records(raws: list[str]) -> list[int]:
    """Indexes of the records that hold bytes that were not UTF-8."""
    if "".join(raws).isascii():  # one C-speed pass: the usual case
        return []
    return [index for index, raw in enumerate(raws) if _UNDECODABLE.search(raw)]


class CsvStream:
    """The header and the records of a CSV text stream, read lazily."""

    def __init__(self, text: IO[str]) -> None:
        try:
            sample = text.read(SAMPLE_BYTES)
            sample += text.readline()  # finish the line the sample cut
        except (EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"the file is truncated or corrupt: {exc}") from exc
        if not sample.strip():
            raise InputError("the file is empty")
        if "\x00" in sample:
            raise InputError("not a CSV file: it contains NUL bytes")
        self.delimiter = sniff_delimiter(sample)
        self._lines = _chain_lines(io.StringIO(sample, newline=""), text)
        self._line = 0  # lines consumed so far
        header = self._quoted_records([], limit=1)
        if not header.fields or not any(f.strip() for f in header.fields[0]):
            raise InputError("the file has no header row")
        if undecodable_records(header.raws):
            raise InputError("not a UTF-8 CSV file: the header row has bytes that are not UTF-8")
        self.header_raw = header.raws[0]
        self.columns = [name.strip() for name in header.fields[0]]
        duplicates = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if duplicates:
            raise InputError("duplicate column name(s) in the header: " + ", ".join(duplicates))

    def chunks(self, rows: int) -> Iterator[Chunk]:
        """The records after the header, about ``rows`` lines at a time."""
        while True:
            block = list(itertools.islice(self._lines, rows))
            if not block:
                return
            if any('"' in line for line in block):
                yield self._quoted_records(block, limit=len(block))
                continue
            raws = [line.rstrip("\r\n") for line in block]
            delimiter = self.delimiter
            fields = [raw.split(delimiter) if raw else [] for raw in raws]
            first = self._line + 1
            self._line += len(block)
            yield Chunk(range(first, first + len(block)), raws, fields)

    def _quoted_records(self, block: list[str], limit: int) -> Chunk:
        """Records parsed by the csv module until ``limit`` lines are consumed.

        Reads ``block`` first, then more lines from the stream if a quoted field runs on.
        """
        tap = _LineTap(itertools.chain(block, self._lines))
        reader = csv.reader(tap, delimiter=self.delimiter, strict=False)
        lines: list[int] = []
        raws: list[str] = []
        fields: list[list[str]] = []
        consumed = 0
        while consumed < limit:
            start = self._line + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise InputError(f"unreadable CSV at line {start}: {exc}") from exc
            taken = len(tap.taken)
            consumed += taken
            self._line += taken
            lines.append(start)
            raws.append(strip_line_end("".join(tap.taken)))
            fields.append(record)
            tap.taken.clear()
        return Chunk(lines, raws, fields)


def _chain_lines(first: IO[str], rest: IO[str]) -> Iterator[str]:
    yield from first
    try:
        yield from rest
    except (EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"the file is truncated or corrupt: {exc}") from exc


def strip_line_end(raw: str) -> str:
    """The record text without its final line ending."""
    if raw.endswith("\r\n"):
        return raw[:-2]
    if raw.endswith(("\n", "\r")):
        return raw[:-1]
    return raw


def csv_field(value: str, delimiter: str) -> str:
    """One field, quoted only when it has to be."""
    if any(c in value for c in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value
