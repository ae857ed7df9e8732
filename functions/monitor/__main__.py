"""``python -m monitor``: the monitor on demand, against AWS or the local stack.

Reads the same variables as the function (``CAPTURE_BUCKET``, ``MODEL_BUCKET``), or
the options; the local stack's endpoint comes from ``AWS_ENDPOINT_URL`` (``make
monitor`` sets it). Prints one line per model version and the report's S3 URL.

Also reads each new labels file under ``labels/<model>/`` and prints the live quality
of each version (``--retention-days``: how old a kept prediction a label may name).

Exit status: 0 no drift, no violation and no quality drop; 1 drift or violations found,
live quality dropped, or profiles that could not be read or compared; 2 the command
could not run (bad options, no such bucket,
no credentials) or a model's report could not be made.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from predictor.models.registry import RegistryReader, check_name
from predictor.monitoring.monitor import run_monitor
from predictor.monitoring.reports import Period
from predictor.settings import RegistryLocation

#: What became of labels, as the lines name it.
LABEL_KINDS = ("duplicates", "other_model", "too_old", "wrong_type", "unknown", "bad_lines")
#: What ``--closed-only`` waits after a window closes (the scheduled function's default).
SETTLE_SECONDS = 120


def main(argv: list[str] | None = None) -> int:
    """Run the monitor once and print what it found."""
    parser = argparse.ArgumentParser(prog="python -m monitor", description=__doc__)
    parser.add_argument(
        "--bucket",
        default=os.environ.get("CAPTURE_BUCKET"),
        help="the bucket holding monitoring/ (default: $CAPTURE_BUCKET)",
    )
    parser.add_argument(
        "--registry",
        default=os.environ.get("MODEL_BUCKET"),
        help="the model registry, s3://bucket[/prefix] (default: $MODEL_BUCKET)",
    )
    parser.add_argument("--lookback-minutes", type=int, default=60)
    parser.add_argument("--model", action="append", default=[], help="only this model (repeat)")
    parser.add_argument(
        "--closed-only",
        action="store_true",
        help="leave out the window still open (as the schedule does); by default a run on "
        "demand includes the rows counted so far",
    )
    parser.add_argument(
        "--retention-days", type=int, default=30, help="kept predictions older are not read"
    )
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    parser.add_argument("--dry-run", action="store_true", help="compute, but store nothing")
    args = parser.parse_args(argv)
    if not args.bucket or not args.registry:
        parser.error("--bucket and --registry (or CAPTURE_BUCKET and MODEL_BUCKET) are needed")
    try:
        for name in args.model:
            check_name(name, "model name")
        period = Period.of(
            datetime.now(UTC),
            args.lookback_minutes,
            settle_seconds=SETTLE_SECONDS if args.closed_only else None,
        )
        registry = RegistryLocation.from_uri(args.registry)
    except ValueError as exc:
        parser.error(str(exc))
    import boto3

    try:
        s3 = boto3.client("s3")
        reports = run_monitor(
            s3,
            args.bucket,
            RegistryReader(s3, registry),
            period,
            models=args.model,
            write=not args.dry_run,
            retention_days=args.retention_days,
            labels_settle_seconds=SETTLE_SECONDS if args.closed_only else 0,
        )
    except Exception as exc:  # no bucket, no credentials, no network: it could not run
        print(f"monitor: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=1))
    else:
        if not reports:
            print(f"no model has profiles in s3://{args.bucket}/monitoring/profiles/")
        for report in reports:
            for version in report.versions:
                print(
                    f"{report.model} {version.version}: {version.status} ({version.message}); "
                    f"{version.rows} rows, {version.refused_rows} refused"
                )
            for read in report.labels:
                print(f"  labels {read['key']}: {read['joined']} of {read['labels']} joined"
                      + "".join(f", {read[k]} {k.replace('_', ' ')}" for k in LABEL_KINDS
                                if read.get(k)))  # fmt: skip
            for judged, section in report.quality.items():
                print(f"  quality {judged}: {section['verdict']}; {section['rows']} labels")
            if report.keys:
                print(f"  report s3://{args.bucket}/{report.keys['html']}")
    found = {r.status for r in reports}
    if "error" in found:
        return 2
    dropped = any(r.quality_dropped for r in reports)
    return 1 if dropped or found & {"drift", "violations", "unreadable", "not compared"} else 0


if __name__ == "__main__":
    raise SystemExit(main())
