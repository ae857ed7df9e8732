"""Streaming CSV records with their line numbers and raw text.

The batch path needs three things pandas' reader does not give together: the physical
line number where each record starts, the record's raw text (to copy good rows to the
output unchanged and bad rows to the error file), and records of the wrong width kept
instead of dropped. The csv module parses (quoted delimiters and newlines included)
while a tap on its line iterator collects the raw text of each record.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from predictor.csv_dialect import sniff_delimiter
from predictor.errors import InputError

#: Bytes read to sniff the delimiter.
SAMPLE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record: the line it starts on (1-based), its raw text, its fields."""

    line: int
    raw: str
    fields: list[str]


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
    # newline="" keeps "\r\n" inside records, as the csv module requires.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")


class CsvStream:
    """The header and the records of a CSV text stream, read lazily."""

    def __init__(self, text: IO[str]) -> None:
        try:
            sample = text.read(SAMPLE_BYTES)
            sample += text.readline()  # finish the line the sample cut
        except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"not a UTF-8 CSV file: {exc}") from exc
        if not sample.strip():
            raise InputError("the file is empty")
        if "\x00" in sample:
            raise InputError("not a CSV file: it contains NUL bytes")
        self.delimiter = sniff_delimiter(sample)
        lines = _chain_lines(io.StringIO(sample, newline=""), text)
        self._tap = _LineTap(lines)
        self._reader = csv.reader(self._tap, delimiter=self.delimiter, strict=False)
        header = self._next_record()
        if header is None or not any(f.strip() for f in header.fields):
            raise InputError("the file has no header row")
        self.header_raw = header.raw
        self.columns = [name.strip() for name in header.fields]
        duplicates = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if duplicates:
            raise InputError("duplicate column name(s) in the header: " + ", ".join(duplicates))

    def _next_record(self) -> Record | None:
        start = self._reader.line_num + 1
        try:
            fields = next(self._reader)
        except StopIteration:
            return None
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 near line {start}: {exc.reason}") from exc
        except csv.Error as exc:
            raise InputError(f"unreadable CSV at line {start}: {exc}") from exc
        raw = "".join(self._tap.taken)
        self._tap.taken.clear()
        return Record(start, raw, fields)

    def records(self) -> Iterator[Record]:
        """Every record after the header, blank lines included (their fields are [])."""
        while (record := self._next_record()) is not None:
            yield record


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
