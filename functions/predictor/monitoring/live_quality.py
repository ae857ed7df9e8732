"""A period's live quality per model version: the labels that arrived in the period's
windows, joined to their predictions (:mod:`predictor.monitoring.feedback`), measured
and judged against the version's holdout (:mod:`predictor.monitoring.quality`), with the
labels' delay; and the quality of earlier periods, from the model's earlier reports.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import statistics
from typing import Any

import numpy as np

from predictor.io import s3_store
from predictor.models.registry import RegistryReader
from predictor.monitoring.feedback import READERS, ingest_labels
from predictor.monitoring.joined_rows import LABEL_TIME
from predictor.monitoring.kept import PREDICTION, PROBABILITY, TIME
from predictor.monitoring.labels import label_column
from predictor.monitoring.layout import JOINED, REPORTS, parse_window
from predictor.monitoring.quality import classification_quality, judge, regression_quality
from predictor.monitoring.reports import ModelReport, Period, iso_time

#: Earlier reports the quality chart reads (the newest ones).
HISTORY_REPORTS = 48


def period_quality(
    s3: Any, bucket: str, registry: RegistryReader, model: str, period: Period
) -> dict[str, dict[str, Any]]:
    """Each version's quality over the labels that arrived in ``period`` (by version)."""
    prefix = f"{JOINED}{model}/"
    keys: dict[str, list[str]] = {}
    for key in s3_store.list_keys(s3, bucket, prefix):
        parts = key[len(prefix) :].split("/")
        start = parse_window(parts[1]) if len(parts) == 3 else None
        if start is not None and period.holds(start):
            keys.setdefault(parts[0], []).append(key)
    sections = {}
    for version, found in sorted(keys.items()):
        rows = [row for _, body in s3_store.get_many(s3, bucket, found, READERS)
                for row in _rows(body)]  # fmt: skip
        if rows:
            manifest = registry.manifest(model, version)
            sections[version] = measure(rows, manifest)
    return sections


def _rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(gzip.decompress(body).decode())))


def measure(rows: list[dict[str, str]], manifest: dict[str, Any]) -> dict[str, Any]:
    """Quality of joined ``rows`` against the version's manifest, with the labels' delay."""
    label = label_column(manifest)
    if manifest.get("task") == "regression":
        quality = regression_quality(
            np.array([float(r[PREDICTION]) for r in rows]),
            np.array([float(r[label]) for r in rows]),
        )
    else:
        classes = [str(c) for c in manifest.get("classes") or []]
        columns = [f"{PROBABILITY}{c}" for c in classes]
        probabilities = None
        if columns and all(c in rows[0] for c in columns):
            probabilities = np.array([[float(r[c]) for c in columns] for r in rows])
        quality = classification_quality(
            [r[PREDICTION] for r in rows], [r[label] for r in rows], probabilities, classes
        )
    section = judge(quality, manifest.get("metrics")).to_dict()
    delays = sorted(max(0.0, float(r[LABEL_TIME]) - float(r[TIME])) for r in rows)
    section["delay_seconds"] = {
        "median": round(statistics.median(delays), 3),
        "p90": round(delays[int(0.9 * (len(delays) - 1))], 3),
    }
    return section


def quality_history(s3: Any, bucket: str, model: str) -> list[dict[str, Any]]:
    """The primary metric of each version in the model's earlier reports, oldest first:
    ``{"end", "version", "metric", "value", "low", "high", "holdout", "dropped"}``."""
    prefix = f"{REPORTS}{model}/"
    keys = sorted(
        k for k in s3_store.list_keys(s3, bucket, prefix)
        if k.endswith(".json") and not k.endswith("/latest.json")
    )[-HISTORY_REPORTS:]  # fmt: skip
    points = []
    for key in keys:
        try:
            document = json.loads(s3_store.get_bytes(s3, bucket, key) or b"{}")
        except ValueError:
            continue
        end = (document.get("window") or {}).get("end", "")
        for version, section in (document.get("quality") or {}).items():
            points.append(point(end, version, section))
    return [p for p in points if p is not None]


def point(end: str, version: str, section: dict[str, Any]) -> dict[str, Any] | None:
    """One period's primary metric of one version, as the chart draws it."""
    metric = section.get("primary")
    value = (section.get("metrics") or {}).get(metric)
    if value is None:
        return None
    low, high = (section.get("intervals") or {}).get(metric) or (value, value)
    return {
        "end": end,
        "version": version,
        "metric": metric,
        "value": value,
        "low": low,
        "high": high,
        "holdout": (section.get("holdout") or {}).get(metric),
        "dropped": bool(section.get("dropped")),
        "rows": section.get("rows", 0),
    }


def add_feedback(
    report: ModelReport,
    s3: Any,
    bucket: str,
    registry: RegistryReader,
    period: Period,
    now: float,
    retention_days: int,
    labels_settle_seconds: int = 0,
) -> None:
    """Read the model's new labels files, then measure the period's quality and draw on
    the earlier reports for its history (this period last)."""
    model = report.model
    report.labels = [
        r.to_dict()
        for r in ingest_labels(
            s3, bucket, registry, model, now, retention_days, labels_settle_seconds
        )
    ]
    report.quality = period_quality(s3, bucket, registry, model, period)
    report.history = quality_history(s3, bucket, model)
    end = iso_time(period.end)
    report.history += [
        p for v, section in report.quality.items() if (p := point(end, v, section)) is not None
    ]
