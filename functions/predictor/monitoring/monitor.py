"""The monitor: merge a period's profiles per model version, compare, report.

For every model with profiles under ``monitoring/profiles/`` (or the models asked for),
and each of its versions with profiles in the period's windows, the monitor reads the
profiles (skipping, and naming, any that is corrupt, too large or counted into other
bins), merges them, compares the sum with the version's baseline (:mod:`predictor.monitoring.drift`)
and writes one report per model, as JSON and as a self-contained HTML page
(:mod:`predictor.monitoring.report_html`), under ``monitoring/reports/<model>/`` (and as
``latest``). A version published without a baseline gets a section that says so.

The period is whole 5-minute windows. A scheduled run reads only windows that closed
``settle_seconds`` ago, so consecutive runs read each window once; counts a container
stores later than that (Lambda froze it past the settle time) are in S3 but in no
scheduled report. A run on demand can include the window still open.

Nothing in the bucket can stop a run: a bad folder, profile, manifest or baseline is
named in its model's report, and a model whose report cannot be made is logged and
skipped, while the others are reported.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from predictor.errors import IntegrityError, ModelNotFoundError
from predictor.io import s3_store
from predictor.models.registry import RegistryReader, check_name
from predictor.monitoring.drift import compare
from predictor.monitoring.layout import (
    JOINED,
    LABELS,
    PROFILES,
    THRESHOLDS,
    WINDOW_SECONDS,
    latest_report_key,
    parse_window,
    report_key,
    window_name,
)
from predictor.monitoring.live_quality import add_feedback
from predictor.monitoring.report_html import render_html
from predictor.monitoring.reports import ModelReport, Period, VersionReport, iso_time
from predictor.monitoring.unplaced_labels import report_unplaced
from predictor.profiling.baseline import Baseline, checked_thresholds
from predictor.profiling.profiles import Profile

logger = logging.getLogger(__name__)


#: Profiles larger than this are skipped unread (a real one is a few kilobytes).
MAX_PROFILE_BYTES = 1024 * 1024


#: A thresholds file larger than this is ignored unread (a real one is a few lines).
MAX_THRESHOLDS_BYTES = 64 * 1024


#: Profiles read at once (each a small GET).
READERS = 16


def run_monitor(
    s3: Any,
    bucket: str,
    registry: RegistryReader,
    period: Period,
    *,
    models: Sequence[str] = (),
    write: bool = True,
    retention_days: int = 30,
    labels_settle_seconds: int = 0,
) -> list[ModelReport]:
    """Report every model with profiles or labels in ``period`` (or ``models``, each a
    valid name): drift from the profiles, live quality from the labels (each new labels
    file at least ``labels_settle_seconds`` old is read and joined first, so that the
    predictions made just before it have been stored; kept predictions older than
    ``retention_days`` are not read).

    A model without a profile or label in the period is reported only when asked for by
    name, and then not stored: its latest report stays the last one with data.
    """
    names = list(dict.fromkeys(models))  # each model once
    for name in names:
        check_name(name, "model name")
    if not names:
        found = s3_store.list_folders(s3, bucket, PROFILES)
        found += s3_store.list_folders(s3, bucket, LABELS) + s3_store.list_folders(
            s3, bucket, JOINED
        )
        for unplaced in report_unplaced(s3, bucket):
            logger.warning("labels file %s", unplaced)
        for name in dict.fromkeys(found):
            try:
                names.append(check_name(name, "model name"))
            except ValueError:
                logger.warning("skipping the folder %r: not a model name", name)
    reports = []
    for name in names:
        try:
            report = _model_report(s3, bucket, registry, name, period)
            try:  # the labels' failure costs the drift report nothing
                add_feedback(
                    report, s3, bucket, registry, period, time.time(),
                    retention_days, labels_settle_seconds,
                )  # fmt: skip
            except Exception:
                logger.exception("could not join the labels of %s", name)
            counted = any(v.rows or v.refused_rows or v.skipped_profiles for v in report.versions)
            if write and (counted or report.quality or report.labels):
                _store(s3, bucket, report)  # a period with nothing read leaves latest alone
        except Exception:  # one model's failure must not cost the others their reports
            logger.exception("could not report on %s", name)
            report = ModelReport(name, period.first, period.end)
            report.versions.append(
                VersionReport("-", "error", "the report could not be made; see the log")
            )
        reports.append(report)
    return reports


def _model_report(
    s3: Any, bucket: str, registry: RegistryReader, name: str, period: Period
) -> ModelReport:
    report = ModelReport(name, period.first, period.end)
    thresholds, problem = _threshold_override(s3, bucket, name)
    for version in s3_store.list_folders(s3, bucket, f"{PROFILES}{name}/"):
        try:
            check_name(version, "version")
        except ValueError:
            logger.warning("skipping the profile folder %s/%r: not a version", name, version)
            continue
        objects = _profile_objects(s3, bucket, name, version, period)
        if objects:
            section = _version_report(s3, bucket, registry, name, version, objects, thresholds)
            if problem:
                section.message += f" ({problem})"
            report.versions.append(section)
    if not report.versions:
        report.versions.append(
            VersionReport(
                "-",
                "no data",
                f"no profile of {name} from {iso_time(period.first)} to {iso_time(period.end)}",
            )
        )
    return report


def _threshold_override(s3: Any, bucket: str, name: str) -> tuple[dict[str, Any], str | None]:
    """The operator's thresholds for ``name`` (``monitoring/thresholds/<name>.json``), over
    each version's own; a broken file is named in the report and ignored.
    """
    key = f"{THRESHOLDS}{name}.json"
    try:
        size = s3_store.object_size(s3, bucket, key)
        if size is None:
            return {}, None
        if size > MAX_THRESHOLDS_BYTES:
            raise ValueError(f"{size} bytes: larger than any thresholds file")
        raw = s3_store.get_bytes(s3, bucket, key)
        if raw is None:
            return {}, None
        document = json.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        checked_thresholds(document)
        return document, None
    except Exception as exc:
        logger.warning("ignoring %s: %s", key, exc)
        return {}, f"{key} ignored: {str(exc)[:200]}"


def _profile_objects(
    s3: Any, bucket: str, name: str, version: str, period: Period
) -> list[tuple[str, int]]:
    prefix = f"{PROFILES}{name}/{version}/"
    before_first = window_name(period.first - timedelta(seconds=WINDOW_SECONDS))
    found = []
    for folder in s3_store.list_folders(s3, bucket, prefix, start_after=before_first + "~"):
        window = parse_window(folder)
        if window is not None and period.holds(window):
            found.extend(s3_store.list_objects(s3, bucket, f"{prefix}{folder}/"))
    return found


def _version_report(
    s3: Any,
    bucket: str,
    registry: RegistryReader,
    name: str,
    version: str,
    objects: list[tuple[str, int]],
    override: dict[str, Any],
) -> VersionReport:
    baseline: Baseline | None = None
    status, message = "", ""
    try:
        baseline = registry.baseline(registry.manifest(name, version))
    except ModelNotFoundError:
        status = "unknown version"
        message = f"the registry has no version {version} of {name}: its rows are not compared"
    except IntegrityError as exc:
        status, message = "no baseline", f"the baseline is unusable: {exc}"
    if baseline is None and not status:
        status = "no baseline"
        message = (
            f"version {version} of {name} was published without a monitoring baseline "
            "(before baselines existed): train it again to compare its inputs"
        )
    merged, skipped = _merged(s3, bucket, name, version, objects, baseline)
    counted = (len(objects) - len(skipped), skipped, merged.rows, merged.refused_rows)
    if baseline is None:
        return VersionReport(version, status, f"{message}; {merged.rows} rows scored", *counted)
    if override:
        checked = checked_thresholds(override)  # only the names the operator set
        thresholds = {**baseline.constraints["thresholds"], **{k: checked[k] for k in override}}
        baseline = Baseline(baseline.layout, baseline.training, {"thresholds": thresholds})
    comparison = compare(baseline, merged)
    binned = sum(merged.prediction.counts.tolist()) if merged.prediction is not None else 0
    if skipped and len(skipped) == len(objects):
        status, message = "unreadable", f"none of the {len(objects)} profile(s) could be read"
    elif merged.rows == 0 and merged.refused_rows == 0:
        status, message = "no data", "the profiles hold no row"
    elif binned == 0 and merged.rows:
        status = "not compared"
        message = (
            f"{merged.rows} rows were counted without the baseline's bins (serving could "
            "not load it): not compared"
        )
    elif comparison.drifted:
        status, message = "drift", f"drift in {', '.join(comparison.drifted)}"
    elif comparison.violations:
        status, message = "violations", f"{len(comparison.violations)} constraint violation(s)"
    else:
        status, message = "ok", "no drift, no violation"
    if 0 < binned < merged.rows:
        message += f"; {merged.rows - binned} of {merged.rows} rows counted without bins"
    return VersionReport(version, status, message, *counted, comparison)


def _merged(
    s3: Any,
    bucket: str,
    name: str,
    version: str,
    objects: list[tuple[str, int]],
    baseline: Baseline | None,
) -> tuple[Profile, list[dict[str, str]]]:
    """The sum of the readable profiles, and each skipped one with the reason."""
    layout = baseline.layout if baseline is not None else None

    def read(key: str, size: int) -> Profile | None:
        if size > MAX_PROFILE_BYTES:
            raise ValueError(f"{size} bytes: larger than any profile")
        raw = s3_store.get_bytes(s3, bucket, key)
        if raw is None:
            return None  # deleted since it was listed
        profile = Profile.from_dict(json.loads(raw), layout)
        if (profile.model, profile.version) != (name, version):
            raise ValueError(f"it describes {profile.model} {profile.version}")
        return profile

    merged = Profile.empty(name, version, layout)
    skipped = []
    with ThreadPoolExecutor(max_workers=READERS) as pool:  # a period may hold thousands
        futures = [(key, pool.submit(read, key, size)) for key, size in objects]
        for key, future in futures:
            try:
                profile = future.result()
                if profile is not None:
                    merged = merged.merged(profile)
            except Exception as exc:  # whatever is in the bucket: skip it, say why
                logger.warning("skipping the profile %s: %s", key, exc)
                reason = str(exc)[:300] or type(exc).__name__
                skipped.append({"key": key, "reason": f"{type(exc).__name__}: {reason}"})
    return merged, skipped


def _store(s3: Any, bucket: str, report: ModelReport) -> None:
    document = report.to_dict()
    body = json.dumps(document, indent=1, allow_nan=False).encode()
    page = render_html(document).encode()
    keys = {
        suffix: report_key(report.model, report.start, report.end, suffix)
        for suffix in ("json", "html")
    }
    for key, data, kind in (
        (keys["json"], body, "application/json"),
        (keys["html"], page, "text/html; charset=utf-8"),
        (latest_report_key(report.model, "json"), body, "application/json"),
        (latest_report_key(report.model, "html"), page, "text/html; charset=utf-8"),
    ):
        s3_store.put_bytes(s3, bucket, key, data, kind)
    report.keys = keys
