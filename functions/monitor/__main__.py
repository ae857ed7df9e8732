"""``python -m monitor``: the monitor on demand, against AWS or the local stack.

Reads the same variables as the function (``CAPTURE_BUCKET``, ``MODEL_BUCKET``), or
the options; the local stack's endpoint comes from ``AWS_ENDPOINT_URL`` (``make
monitor`` sets it). Prints one line per model version and the report's S3 URL.

Exit status: 0 no drift and no violation; 1 drift or violations found; 2 the command
could not run (bad options, no such bucket, no credentials).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from predictor.monitor import run_monitor
from predictor.registry import RegistryReader
from predictor.settings import RegistryLocation


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
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    parser.add_argument("--dry-run", action="store_true", help="compute, but store nothing")
    args = parser.parse_args(argv)
    if not args.bucket or not args.registry:
        parser.error("--bucket and --registry (or CAPTURE_BUCKET and MODEL_BUCKET) are needed")
    if args.lookback_minutes <= 0:
        parser.error("--lookback-minutes must be positive")
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = boto3.client("s3")
    try:
        reports = run_monitor(
            s3,
            args.bucket,
            RegistryReader(s3, RegistryLocation.from_uri(args.registry)),
            end=datetime.now(UTC),
            lookback_minutes=args.lookback_minutes,
            models=args.model,
            write=not args.dry_run,
        )
    except (BotoCoreError, ClientError, ValueError) as exc:
        print(f"monitor: {exc}", file=sys.stderr)
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
            if report.keys:
                print(f"  report s3://{args.bucket}/{report.keys['html']}")
    found = {r.status for r in reports}
    return 1 if found & {"drift", "violations"} else 0


if __name__ == "__main__":
    raise SystemExit(main())
