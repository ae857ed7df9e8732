"""Telling comma- from semicolon-separated files (and tabs, pipes) from their first lines."""

from __future__ import annotations

import csv
import io

#: Delimiters considered, in order of preference when two explain the sample equally well.
DELIMITERS = (",", ";", "\t", "|")
#: How many lines of the sample are read.
SAMPLE_LINES = 20


def sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the header and the following lines into the same width.

    Each candidate parses the sample with the csv module (so quoted fields with
    delimiters inside them do not mislead it); the winner gives the header more than
    one field and every full line as many fields as the header, with the most fields.
    A one-column file, or a sample no candidate explains, gives ``","``.
    """
    lines = sample.splitlines()[:SAMPLE_LINES]
    if len(lines) > 1 and len(sample) > len("\n".join(lines)):
        lines = lines[:-1]  # the sample may have cut the last line short
    text = "\n".join(lines)
    best, best_width = ",", 1
    for delimiter in DELIMITERS:
        rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
        if not rows:
            continue
        width = len(rows[0])
        consistent = all(len(r) == width for r in rows[1:])
        if width > best_width and consistent:
            best, best_width = delimiter, width
    return best
