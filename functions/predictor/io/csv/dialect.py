"""Telling comma- from semicolon-separated files (and tabs, pipes) from their first lines."""

from __future__ import annotations

import csv
import io
import re

#: Delimiters considered, in order of preference when two explain the sample equally well.
DELIMITERS = (",", ";", "\t", "|")
#: How many lines of the sample are read.
SAMPLE_LINES = 20
#: The longest field or record the CSV readers accept, in characters. The csv module's
#: own default (131,072) would fail a file whose header is a few thousand columns wide.
MAX_RECORD_CHARS = 1 << 20

#: Line breaks as CSV knows them (str.splitlines would also split at form feeds, U+0085
#: and other characters that are data inside a CSV field).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def allow_long_fields() -> None:
    """Raise the csv module's field limit (process-wide) to :data:`MAX_RECORD_CHARS`."""
    if csv.field_size_limit() < MAX_RECORD_CHARS:
        csv.field_size_limit(MAX_RECORD_CHARS)


def sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the header and most following lines into the same width.

    Each candidate parses the sample with the csv module (so quoted fields with
    delimiters or newlines inside them do not mislead it). A candidate must give the
    header more than one field and at least half of the other records the header's
    width (a few malformed rows do not change the verdict); among those, the one that
    fits most records, then the widest, wins. When no candidate fits half the records
    (the first lines of the file are mostly broken rows), the one that splits the header
    widest wins: the bad rows are then refused one by one instead of the whole file. A
    one-column file gives ``","``. Line endings may be LF, CRLF or CR alone; a sample
    the csv module cannot read with a candidate only rules that candidate out.
    """
    allow_long_fields()
    lines = _LINE.findall(sample)[:SAMPLE_LINES]
    if len(lines) > 1 and not lines[-1].endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may have cut the last line short
    text = "".join(lines)
    best, best_score = ",", (0.0, 1)
    widest, widest_score = ",", (1, 0.0)  # when most sampled rows are broken
    for delimiter in DELIMITERS:
        try:
            rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        others = rows[1:]
        share = sum(len(r) == width for r in others) / len(others) if others else 1.0
        if share >= 0.5 and (share, width) > best_score:
            best, best_score = delimiter, (share, width)
        if (width, share) > widest_score:
            widest, widest_score = delimiter, (width, share)
    return best if best_score[1] > 1 else widest
