"""Where monitoring keeps its objects, under ``monitoring/`` of the capture bucket::

    monitoring/profiles/<model>/<version>/<window start>/<writer>.json   counts (profiles)
    monitoring/capture/<model>/<version>/<yyyy>/<mm>/<dd>/<hh>/<writer>-<n>.jsonl
                                                    sampled requests (SageMaker's format)
    monitoring/reports/<model>/<first window>--<end>.json and .html      drift reports
    monitoring/reports/<model>/latest.json and latest.html               the newest of them
    monitoring/thresholds/<model>.json             the operator's thresholds (optional)
    monitoring/retraining/<model>/<version>.json   what a scheduled retraining did
    monitoring/retraining/<model>/failed-<time>.json               or why it failed
    monitoring/predictions/<model>/<version>/<window start>/<writer>-<n>.csv.gz
                                    predictions kept for joining with labels (feedback)
    monitoring/joined/<model>/<version>/<window start>/<label file>.csv.gz
                                    labels joined to their predictions (by arrival)
    monitoring/labels/<model>/<label file>@<upload time>.json
                                    what became of each upload of a labels file
    labels/<model>/...                             where labels are dropped (outside monitoring/)

A window start is a UTC time floored to :data:`WINDOW_SECONDS`, written
``2026-11-24T10:05Z``, so keys sort by time and a monitor lists from the first window it
reads.
"""

from __future__ import annotations

from datetime import UTC, datetime

PREFIX = "monitoring/"
PROFILES = PREFIX + "profiles/"
CAPTURE = PREFIX + "capture/"
REPORTS = PREFIX + "reports/"
THRESHOLDS = PREFIX + "thresholds/"
RETRAINING = PREFIX + "retraining/"
KEPT = PREFIX + "predictions/"
JOINED = PREFIX + "joined/"
LABEL_REPORTS = PREFIX + "labels/"
#: Where callers drop labels: ``labels/<model>/<file>.csv`` (or ``.jsonl``, ``.gz``).
LABELS = "labels/"
#: Profiles are kept per window of this many seconds: the monitor's finest grain.
WINDOW_SECONDS = 300
_WINDOW_FORMAT = "%Y-%m-%dT%H:%MZ"


def window_name(start: datetime) -> str:
    """A window's key segment."""
    return start.astimezone(UTC).strftime(_WINDOW_FORMAT)


def parse_window(name: str) -> datetime | None:
    """The start of the window a key segment names (None for anything else)."""
    try:
        start = datetime.strptime(name, _WINDOW_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    # Only a window's own name: 10:05Z, not 10:5Z or 10:07Z.
    aligned = int(start.timestamp()) % WINDOW_SECONDS == 0
    return start if aligned and window_name(start) == name else None


def profile_key(model: str, version: str, start: datetime, writer: str) -> str:
    """The key of one writer's profile of one version in one window."""
    return f"{PROFILES}{model}/{version}/{window_name(start)}/{writer}.json"


def capture_key(model: str, version: str, when: datetime, writer: str, sequence: int) -> str:
    """The key of one file of sampled requests."""
    hour = when.astimezone(UTC).strftime("%Y/%m/%d/%H")
    return f"{CAPTURE}{model}/{version}/{hour}/{writer}-{sequence:06d}.jsonl"


def report_key(model: str, first: datetime, end: datetime, suffix: str) -> str:
    """The key of one drift report of a model, named by its period (``suffix`` is
    ``json`` or ``html``): runs over different periods never overwrite each other.
    """
    return f"{REPORTS}{model}/{window_name(first)}--{window_name(end)}.{suffix}"


def latest_report_key(model: str, suffix: str) -> str:
    """The key of a model's newest drift report."""
    return f"{REPORTS}{model}/latest.{suffix}"


def kept_key(model: str, version: str, start: datetime, name: str) -> str:
    """The key of one object of kept predictions."""
    return f"{KEPT}{model}/{version}/{window_name(start)}/{name}.csv.gz"


def joined_key(model: str, version: str, start: datetime, name: str) -> str:
    """The key of one object of labels joined to their predictions."""
    return f"{JOINED}{model}/{version}/{window_name(start)}/{name}.csv.gz"


def label_report_key(model: str, labels_key: str, arrived: float) -> str:
    """The key of the report on one upload of a labels file (a file uploaded again under
    the same key is another upload, read again)."""
    relative = labels_key.removeprefix(LABELS + model + "/")
    return f"{LABEL_REPORTS}{model}/{relative}@{int(arrived)}.json"
