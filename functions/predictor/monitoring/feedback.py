"""Labels joined to the predictions they name: each new file under ``labels/<model>/``
read once, its labels matched by inference id with the predictions kept in the last
``retention_days`` (:mod:`predictor.monitoring.kept`) and with the rows of the batch
outputs the ids name (:mod:`predictor.monitoring.batch_rows`), the matches written per version
under ``monitoring/joined/`` in the window the file arrived in, and a report per file
under ``monitoring/labels/`` (which also marks the file as read).

Every label is accounted for: joined, or counted as a duplicate (twice in the file, or
labelled before), of another model, older than the kept predictions, of the wrong type
for the model, or unknown; each bad line is named with its line number. Reading a file
again after a failure gives the same joined objects (their keys are the file's).
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from predictor.io import s3_store
from predictor.models.registry import RegistryReader
from predictor.monitoring.batch_rows import batch_rows
from predictor.monitoring.joined_rows import (
    LABEL_TIME,
    JoinedRows,
    first_column,
    labelled_rows,
    store_joined,
)
from predictor.monitoring.kept import ID, PREDICTION, PROBABILITY, TIME
from predictor.monitoring.labels import (
    Label,
    UnreadableLabelsError,
    label_column,
    read_labels,
    typed_label,
)
from predictor.monitoring.layout import (
    JOINED,
    KEPT,
    LABEL_REPORTS,
    LABELS,
    WINDOW_SECONDS,
    label_report_key,
    parse_window,
)
from predictor.monitoring.reports import iso_time
from predictor.rows import generated_time
from predictor.schema import FeatureSchema

logger = logging.getLogger(__name__)

#: Objects read at once.
READERS = 16
#: Labels joined in one run at the most (files in arrival order; the rest wait for the
#: next run): the join holds about 500 bytes a label (`make bench`), so a million fits
#: the monitor function's memory.
MAX_LABELS_PER_RUN = 1_000_000
#: Bad lines a report lists (it counts them all).
MAX_LISTED = 100
#: The joined rows' columns that are not features: what a retraining on them drops
#: (``template.yaml``'s retraining input lists the same).
NOT_FEATURES = (ID, TIME, LABEL_TIME, PREDICTION, PROBABILITY + "*")


@dataclass(slots=True)
class LabelsReport:
    """What became of one labels file."""

    key: str
    arrived: float
    lines: int = 0
    labels: int = 0
    joined: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    by_version: Counter[str] = field(default_factory=Counter)
    delays: list[float] = field(default_factory=list)
    #: Kept predictions in the windows this file's labels point to (for coverage).
    window_rows: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        ordered = sorted(self.delays)
        return {
            "key": self.key,
            "arrived": iso_time(datetime.fromtimestamp(self.arrived, UTC)),
            "lines": self.lines,
            "labels": self.labels,
            "joined": self.joined,
            **{kind: self.counts[kind] for kind in KINDS},
            "bad_lines": len(self.bad_lines),
            "bad_lines_listed": [
                {"line": line, "reason": reason} for line, reason in self.bad_lines[:MAX_LISTED]
            ],
            "by_version": dict(self.by_version),
            "coverage": round(self.joined / self.window_rows, 6) if self.window_rows else None,
            "delay_seconds": {
                "median": round(statistics.median(ordered), 3) if ordered else None,
                "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 3) if ordered else None,
            },
            "error": self.error,
        }


#: How a label that joined nothing is counted.
KINDS = ("duplicates", "other_model", "too_old", "wrong_type", "unknown")


def ingest_labels(
    s3: Any,
    bucket: str,
    registry: RegistryReader,
    model: str,
    now: float,
    retention_days: int,
    settle_seconds: int = 0,
) -> list[LabelsReport]:
    """Read every labels file of ``model`` not read before and at least ``settle_seconds``
    old (a younger one waits for the next run: the predictions it names may not be
    stored yet); a report for each."""
    done = set(s3_store.list_keys(s3, bucket, f"{LABEL_REPORTS}{model}/"))
    files = sorted(
        ((key, arrived) for key, arrived in s3_store.list_uploads(s3, bucket, f"{LABELS}{model}/")
         if label_report_key(model, key, arrived) not in done
         and arrived <= now - settle_seconds),
        key=lambda item: (item[1], item[0]),
    )  # fmt: skip
    if not files:
        return []
    cutoff = now - retention_days * 86400
    reports, wanted = _read_files(s3, bucket, files)
    labelled = set(_ids(s3, bucket, f"{JOINED}{model}/", cutoff, first_column))
    for identity in [i for i in wanted if i in labelled]:
        report, _ = wanted.pop(identity)
        report.counts["duplicates"] += 1
    joined = _join(s3, bucket, registry, model, cutoff, wanted)
    _account_unmatched(s3, bucket, model, cutoff, now, wanted)
    for report in reports:
        if report.error is None:
            store_joined(s3, bucket, model, report.key, report.arrived, joined.get(report.key, {}))
        report_key = label_report_key(model, report.key, report.arrived)
        s3_store.write_json(s3, bucket, report_key, report.to_dict())
    return reports


def _read_files(
    s3: Any, bucket: str, files: list[tuple[str, float]]
) -> tuple[list[LabelsReport], dict[str, tuple[LabelsReport, Label]]]:
    reports: list[LabelsReport] = []
    wanted: dict[str, tuple[LabelsReport, Label]] = {}
    for key, arrived in files:
        report = LabelsReport(key, arrived)
        try:
            found = read_labels(key, s3_store.get_bytes(s3, bucket, key) or b"")
        except UnreadableLabelsError as exc:
            report.error = str(exc)
            reports.append(report)
            continue
        if wanted and len(wanted) + len(found.labels) > MAX_LABELS_PER_RUN:
            break  # this file and the later ones wait for the next run, unreported
        reports.append(report)
        report.lines, report.labels, report.bad_lines = (
            found.lines,
            len(found.labels),
            found.bad_lines,
        )
        for label in found.labels:
            if label.inference_id in wanted:
                report.counts["duplicates"] += 1
            else:
                wanted[label.inference_id] = (report, label)
    return reports, wanted


def _objects(s3: Any, bucket: str, prefix: str, cutoff: float) -> list[str]:
    """Keys under ``prefix`` (``<version>/<window>/...``) in windows that end after ``cutoff``."""
    keys = []
    for key in s3_store.list_keys(s3, bucket, prefix):
        parts = key[len(prefix) :].split("/")
        start = parse_window(parts[1]) if len(parts) == 3 else None
        if start is not None and start.timestamp() + WINDOW_SECONDS > cutoff:
            keys.append(key)
    return keys


def _ids(s3: Any, bucket: str, prefix: str, cutoff: float, read: Any) -> Iterator[str]:
    keys = _objects(s3, bucket, prefix, cutoff)
    for _, body in s3_store.get_many(s3, bucket, keys, READERS):
        yield from read(body)


def _join(
    s3: Any,
    bucket: str,
    registry: RegistryReader,
    model: str,
    cutoff: float,
    wanted: dict[str, tuple[LabelsReport, Label]],
) -> dict[str, dict[str, JoinedRows]]:
    """Match ``wanted`` labels with the kept predictions, then with the batch outputs
    the remaining ids name: file -> version -> joined rows (matched labels leave
    ``wanted``)."""
    joined: dict[str, dict[str, JoinedRows]] = {}
    manifests: dict[str, dict[str, Any]] = {}

    def manifest(version: str) -> dict[str, Any]:
        if version not in manifests:
            manifests[version] = registry.manifest(model, version)
        return manifests[version]

    def match(
        version: str, names: tuple[str, ...], rows: Iterable[list[str]]
    ) -> dict[str, LabelsReport]:
        """Join the ``rows`` labels name; the reports of the files that gained rows."""
        touched: dict[str, LabelsReport] = {}
        for row in rows:
            if row[0] not in wanted:  # an id a caller used twice: its first row joined
                continue
            report, label = wanted.pop(row[0])
            value = typed_label(label.value, manifest(version))
            if value is None:
                report.counts["wrong_type"] += 1
                continue
            report.joined += 1
            report.by_version[version] += 1
            report.delays.append(max(0.0, report.arrived - float(row[1])))
            touched[report.key] = report
            target = label_column(manifest(version))
            found = joined.setdefault(report.key, {})
            if version not in found:
                found[version] = JoinedRows(names, target)
            found[version].add(names, row, {target: value, LABEL_TIME: f"{report.arrived:.3f}"})
        return touched

    def count(touched: dict[str, LabelsReport], scored: int) -> None:
        """Coverage: the rows of an object whose rows a file labelled count for that file."""
        for report in touched.values():
            report.window_rows += scored

    keys = _objects(s3, bucket, f"{KEPT}{model}/", cutoff)
    for key, body in s3_store.get_many(s3, bucket, keys, READERS):
        reader = csv.reader(io.StringIO(gzip.decompress(body).decode()))
        names = tuple(next(reader, ()))
        if names[:3] != (ID, TIME, PREDICTION):
            logger.warning("skipping %s: not kept predictions", key)
            continue
        seen = [0]  # the object's rows, counted as they stream past
        version = key[len(KEPT) + len(model) + 1 :].split("/")[0]
        touched = match(version, names, labelled_rows(reader, wanted, seen))
        count(touched, seen[0])
    if wanted:

        def features_of(version: str) -> list[str]:
            return list(FeatureSchema.from_dict(manifest(version)["schema"]).names)

        for version, names, found, scored in batch_rows(
            s3, bucket, model, list(wanted), cutoff, features_of
        ):
            count(match(version, names, found), scored)
    return joined


def _account_unmatched(
    s3: Any,
    bucket: str,
    model: str,
    cutoff: float,
    now: float,
    wanted: dict[str, tuple[LabelsReport, Label]],
) -> None:
    """Count each label that matched nothing: too old, of another model, or unknown."""
    for identity in list(wanted):
        made = generated_time(identity, now)
        if made is not None and made < cutoff:
            wanted.pop(identity)[0].counts["too_old"] += 1
    if wanted:
        for other in s3_store.list_folders(s3, bucket, KEPT):
            if other == model:
                continue
            for identity in _ids(s3, bucket, f"{KEPT}{other}/", cutoff, first_column):
                if identity in wanted:
                    wanted.pop(identity)[0].counts["other_model"] += 1
    for report, _ in wanted.values():
        report.counts["unknown"] += 1
