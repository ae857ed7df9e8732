"""Where a batch run reads and writes: the data bucket's key layout.

``incoming/<rel>`` is scored into ``predictions/<out>``, ``errors/<out>`` and
``reports/<rel>.json``, where ``<out>`` is ``<rel>`` with ``.csv`` appended to a
``.csv.gz`` input's name (outputs are plain CSV, and ``x.csv`` and ``x.csv.gz`` keep
their own). ``reports/<rel>.lease`` is the lease of a run in progress. Nothing is ever
written under ``incoming/``, so outputs never trigger another run.
"""

from __future__ import annotations

from dataclasses import dataclass

INCOMING = "incoming/"
PREDICTIONS = "predictions/"
ERRORS = "errors/"
REPORTS = "reports/"


@dataclass(frozen=True, slots=True)
class OutputKeys:
    """Where the outputs of one input object go."""

    predictions: str
    errors: str
    report: str
    lease: str


def output_keys(key: str) -> OutputKeys | None:
    """Output keys for an ``incoming/`` CSV (``.csv`` or ``.csv.gz``); None for anything else."""
    if not key.startswith(INCOMING):
        return None
    relative = key[len(INCOMING) :]
    if relative in (".csv", ".csv.gz") or not relative.endswith((".csv", ".csv.gz")):
        return None
    output = relative + ".csv" if relative.endswith(".gz") else relative  # outputs: plain CSV
    return OutputKeys(
        predictions=PREDICTIONS + output,
        errors=ERRORS + output,
        report=f"{REPORTS}{relative}.json",
        lease=f"{REPORTS}{relative}.lease",
    )
