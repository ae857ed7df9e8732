"""The monitor: merge a period's profiles per model version, compare, report.

For every model with profiles under ``monitoring/profiles/`` (or the models asked for),
and each of its versions with profiles in the windows that overlap the period, the
monitor reads the profiles (skipping, and naming, any that are corrupt or counted into
other bins), merges them, compares the sum with the version's baseline
(:mod:`predictor.drift`), and writes one report per model, as JSON and as a
self-contained HTML page (:mod:`predictor.drift_report`), under
``monitoring/reports/<model>/`` (and as ``latest``). A version published without a
baseline gets a report that says so instead of a comparison.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from predictor import s3_store
from predictor.drift import Comparison, compare
from predictor.drift_report import render_html
from predictor.errors import ConfigError, IntegrityError, ModelNotFoundError
from predictor.monitoring_layout import (
    PROFILES,
    WINDOW_SECONDS,
    latest_report_key,
    parse_window,
    report_key,
)
from predictor.profiles import Profile
from predictor.registry import RegistryReader
from predictor.settings import RegistryLocation

logger = logging.getLogger(__name__)

REPORT_FORMAT = 1


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """What the monitor function reads from its environment (the template wires it)."""

    registry: RegistryLocation
    capture_bucket: str
    lookback_minutes: int = 60

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MonitorSettings:
        """Settings from ``MODEL_BUCKET``, ``CAPTURE_BUCKET``, ``MONITOR_LOOKBACK_MINUTES``."""
        problems = []
        bucket = environ.get("CAPTURE_BUCKET", "").strip()
        if not bucket:
            problems.append("CAPTURE_BUCKET is required (the bucket profiles are kept in)")
        raw = environ.get("MONITOR_LOOKBACK_MINUTES", "").strip() or "60"
        lookback = int(raw) if raw.isdigit() else 0
        if lookback <= 0:
            problems.append(f"MONITOR_LOOKBACK_MINUTES={raw!r} is not an integer > 0")
        try:
            registry = RegistryLocation.from_env(environ)
        except ConfigError as exc:
            problems.append(str(exc))
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return cls(registry, bucket, lookback)


@dataclass(slots=True)
class VersionReport:
    """One version's window: its comparison with the baseline, or why there is none."""

    version: str
    status: str  # "ok", "drift", "violations", "no baseline", "no data", "unknown version"
    message: str
    profiles: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    rows: int = 0
    refused_rows: int = 0
    comparison: Comparison | None = None

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "version": self.version,
            "status": self.status,
            "message": self.message,
            "profiles": self.profiles,
            "skipped_profiles": self.skipped,
            "rows": self.rows,
            "refused_rows": self.refused_rows,
        }
        comparison = self.comparison
        if comparison is not None:
            document["drifted"] = comparison.drifted
            document["max_psi"] = round(comparison.max_psi, 6)
            document["features"] = [c.to_dict() for c in comparison.columns]
            document["prediction"] = (
                comparison.prediction.to_dict() if comparison.prediction else None
            )
            document["violations"] = [v.to_dict() for v in comparison.violations]
        return document


@dataclass(slots=True)
class ModelReport:
    """One model's report for one period: a section per version that had traffic."""

    model: str
    start: datetime
    end: datetime
    versions: list[VersionReport] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """The worst of the versions' statuses."""
        order = ["drift", "violations", "no baseline", "unknown version", "ok", "no data"]
        found = {v.status for v in self.versions} or {"no data"}
        return next(s for s in order if s in found)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "model": self.model,
            "status": self.status,
            "window": {"start": _iso(self.start), "end": _iso(self.end)},
            "created_at": _iso(datetime.now(UTC)),
            "versions": [v.to_dict() for v in self.versions],
        }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_monitor(
    s3: Any,
    bucket: str,
    registry: RegistryReader,
    *,
    end: datetime,
    lookback_minutes: int,
    models: Sequence[str] = (),
    write: bool = True,
) -> list[ModelReport]:
    """Report every model with profiles in ``[end - lookback, end)`` (or ``models``)."""
    start = end - timedelta(minutes=lookback_minutes)
    names = list(models) or s3_store.list_folders(s3, bucket, PROFILES)
    reports = []
    for name in names:
        report = ModelReport(name, start, end)
        versions = s3_store.list_folders(s3, bucket, f"{PROFILES}{name}/")
        for version in versions:
            keys = _profile_keys(s3, bucket, name, version, start, end)
            if keys:
                report.versions.append(_version_report(s3, bucket, registry, name, version, keys))
        if not report.versions:
            report.versions.append(
                VersionReport(
                    "-", "no data", f"no profile of {name} between {_iso(start)} and {_iso(end)}"
                )
            )
        if write:
            _store(s3, bucket, report)
        reports.append(report)
    return reports


def _profile_keys(
    s3: Any, bucket: str, name: str, version: str, start: datetime, end: datetime
) -> list[str]:
    prefix = f"{PROFILES}{name}/{version}/"
    keys = []
    for folder in s3_store.list_folders(s3, bucket, prefix):
        window = parse_window(folder)
        if window is None:
            continue
        if window + timedelta(seconds=WINDOW_SECONDS) > start and window < end:
            keys.extend(s3_store.list_keys(s3, bucket, f"{prefix}{folder}/"))
    return keys


def _version_report(
    s3: Any, bucket: str, registry: RegistryReader, name: str, version: str, keys: list[str]
) -> VersionReport:
    try:
        manifest = registry.manifest(name, version)
        baseline = registry.baseline(manifest)
    except ModelNotFoundError:
        return VersionReport(
            version,
            "unknown version",
            f"the registry has no version {version} of {name}: its profiles are not compared",
            len(keys),
        )
    except IntegrityError as exc:
        return VersionReport(version, "no baseline", f"the baseline is unusable: {exc}", len(keys))
    layout = baseline.layout if baseline is not None else None
    merged = Profile.empty(name, version, layout)
    skipped = []
    for key in keys:
        try:
            raw = s3_store.get_bytes(s3, bucket, key)
            if raw is None:
                continue  # deleted since it was listed
            profile = Profile.from_dict(json.loads(raw), layout)
            if (profile.model, profile.version) != (name, version):
                raise ValueError(f"it describes {profile.model} {profile.version}")
            merged = merged.merged(profile)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("skipping the profile %s: %s", key, exc)
            skipped.append({"key": key, "reason": str(exc)[:300] or type(exc).__name__})
    used = len(keys) - len(skipped)
    if baseline is None:
        return VersionReport(
            version,
            "no baseline",
            f"version {version} of {name} was published without a monitoring baseline "
            "(before baselines existed): train it again to compare its inputs; "
            f"{merged.rows} rows were scored",
            used,
            skipped,
            merged.rows,
            merged.refused_rows,
        )
    comparison = compare(baseline, merged)
    if merged.rows == 0 and merged.refused_rows == 0:
        status, message = "no data", "the profiles hold no row"
    elif comparison.drifted:
        status = "drift"
        message = f"drift in {', '.join(comparison.drifted)}"
    elif comparison.violations:
        status = "violations"
        message = f"{len(comparison.violations)} constraint violation(s)"
    else:
        status, message = "ok", "no drift, no violation"
    return VersionReport(
        version,
        status,
        message,
        used,
        skipped,
        merged.rows,
        merged.refused_rows,
        comparison,
    )


def _store(s3: Any, bucket: str, report: ModelReport) -> None:
    document = report.to_dict()
    body = json.dumps(document, indent=1).encode()
    page = render_html(document).encode()
    for key, data, kind in (
        (report_key(report.model, report.end, "json"), body, "application/json"),
        (report_key(report.model, report.end, "html"), page, "text/html; charset=utf-8"),
        (latest_report_key(report.model, "json"), body, "application/json"),
        (latest_report_key(report.model, "html"), page, "text/html; charset=utf-8"),
    ):
        s3_store.put_bytes(s3, bucket, key, data, kind)
    report.keys = {
        "json": report_key(report.model, report.end, "json"),
        "html": report_key(report.model, report.end, "html"),
    }
