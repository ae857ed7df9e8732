"""Telling comma- from semicolon-separated files (and tabs, pipes) from their first lines."""

from __future__ import annotations

import csv
import io

#: Delimiters considered, in order of preference when two explain the sample equally well.
DELIMITERS = (",", ";", "\t", "|")
#: How many lines of the sample are read.
SAMPLE_LINES = 20


def sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the header and most following lines into the same width.

    Each candidate parses the sample with the csv module (so quoted fields with
    delimiters or newlines inside them do not mislead it). A candidate must give the
    header more than one field and at least half of the other records the header's
    width (a few malformed rows do not change the verdict); among those, the one that
    fits most records, then the widest, wins. A one-column file, or a sample no
    candidate explains, gives ``","``.
    """
    lines = sample.splitlines(keepends=True)[:SAMPLE_LINES]
    if len(lines) > 1 and not lines[-1].endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may have cut the last line short
    text = "".join(lines)
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        others = rows[1:]
        share = sum(len(r) == width for r in others) / len(others) if others else 1.0
        if share >= 0.5 and (share, width) > best_score:
            best, best_score = delimiter, (share, width)
    return best
