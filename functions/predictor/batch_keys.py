"""Where a batch run reads and writes: the data bucket's key layout.

``incoming/<rel>`` (``.csv`` or ``.csv.gz``, in any case) is scored into
``predictions/<rel>``, ``errors/<rel>`` and ``reports/<rel>.json``: the same relative
path for every output, so no two inputs can share one. A gzipped input gets gzipped
outputs. ``reports/<rel>.lease`` is the lease of a run in progress, and a run in byte
ranges keeps its parts under ``runs/<rel>/<run>/`` until it assembles them. Nothing is
ever written under ``incoming/``, so outputs never trigger another run.

``incoming/<model>/<file>`` is scored by the model of that name (when the function serves
it); a file directly under ``incoming/`` by the function's default model.

Each scored row's inference id, when the model declares no id column, names the upload
and the line the row starts on: ``<key>@<ETag's first 12 characters>:<line>``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Files to score land here (``incoming/<model>/...`` for a model other than the default).
INCOMING = "incoming/"
#: Each file's scored rows, at the same relative path.
PREDICTIONS = "predictions/"
#: Each file's refused rows, with their line numbers and reasons.
ERRORS = "errors/"
#: Each file's run report (counts, timings, the model version that scored it).
REPORTS = "reports/"
#: Runs in byte ranges keep their plan and parts here until the file's outputs are written.
RUNS = "runs/"


def model_of(key: str) -> str | None:
    """The model an ``incoming/<model>/...`` key names; None for a file right under
    ``incoming/`` (the default model's)."""
    folder, slash, _ = key[len(INCOMING) :].partition("/")
    return folder if slash else None


@dataclass(frozen=True, slots=True)
class OutputKeys:
    """Where the outputs of one input object go, and whether they are gzipped like it."""

    predictions: str
    errors: str
    report: str
    lease: str
    gzipped: bool
    #: The prefix under which runs in byte ranges keep their parts.
    runs: str


def incoming_keys(key: str) -> OutputKeys:
    """Output keys of an object already known to be an incoming CSV (ValueError if not)."""
    keys = output_keys(key)
    if keys is None:
        raise ValueError(f"not an incoming CSV: {key}")
    return keys


def output_keys(key: str) -> OutputKeys | None:
    """Output keys for an ``incoming/`` CSV (``.csv`` or ``.csv.gz``); None for anything else."""
    if not key.startswith(INCOMING):
        return None
    relative = key[len(INCOMING) :]
    suffix = relative.lower()
    if suffix in (".csv", ".csv.gz") or not suffix.endswith((".csv", ".csv.gz")):
        return None
    return OutputKeys(
        predictions=PREDICTIONS + relative,
        errors=ERRORS + relative,
        report=f"{REPORTS}{relative}.json",
        lease=f"{REPORTS}{relative}.lease",
        gzipped=suffix.endswith(".gz"),
        runs=f"{RUNS}{relative}/",
    )


# ----- each scored row's inference id ----------------------------------------------------
#: Characters of the input's ETag in a row's id: an upload's rows are named apart from
#: those of another upload under the same key (a daily file, say).
UPLOAD_TAG_CHARS = 12


def row_id_prefix(key: str, etag: str) -> str:
    """What a batch row's inference id starts with, before its line:
    ``<input key>@<the input's ETag, first 12 characters>:``."""
    return f"{key}@{etag.strip(chr(34))[:UPLOAD_TAG_CHARS]}:"


def parse_row_id(identity: str) -> tuple[str, str, int] | None:
    """(input key, upload tag, line) of a batch row's id; None for any other id."""
    head, colon, line = identity.rpartition(":")
    key, at, tag = head.rpartition("@")
    if not (colon and at and line.isdigit() and tag) or output_keys(key) is None:
        return None
    return key, tag, int(line)


def same_upload(tag: str, etag: str) -> bool:
    """Whether ``tag`` (from a row's id) names the upload whose ETag is ``etag``."""
    return etag.strip(chr(34))[:UPLOAD_TAG_CHARS] == tag
