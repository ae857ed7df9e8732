"""The README's pictures of training reports: the default job on the red wines (a
regression) and on the digits (a classification), rendered by the job and photographed
by headless Chromium.

``python -m infra.training_report_image [folder]`` (needs Debian's ``chromium``). The
real training job runs in an in-process moto.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from infra.local_env import MODEL_BUCKET, ROOT, create_buckets, use_fake_credentials
from infra.screenshot import chromium, screenshot

#: (model name, data, target, task, picture height in pixels)
REPORTS = (
    ("wine-quality", "winequality-red.csv", "quality", None, 1700),
    ("digits", "digits.csv", "digit", "classification", 1900),
)


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else ROOT / "docs" / "images"
    browser = chromium()
    if browser is None:
        print("needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    use_fake_credentials()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    from moto import mock_aws

    from predictor.settings import RegistryLocation
    from training.job import TrainingConfig, run_training
    from training.registry_admin import ModelRegistry
    from training.report import REPORT_HTML

    with mock_aws(), tempfile.TemporaryDirectory() as scratch:
        s3 = boto3.client("s3")
        create_buckets(s3)
        for name, data, target, task, height in REPORTS:
            config = TrainingConfig(
                data=str(ROOT / "data" / data),
                target=target,
                name=name,
                registry=RegistryLocation(MODEL_BUCKET),
                task=task,  # type: ignore[arg-type]
                progress=sys.stderr,
            )
            manifest = run_training(config, s3).manifest
            page = ModelRegistry(s3, MODEL_BUCKET).read_artifact(manifest, REPORT_HTML)
            html = Path(scratch) / f"training-report-{name}.html"
            html.write_bytes(page)
            out = folder / f"training-report-{name}.png"
            screenshot(browser, html, out, height)
            print(f"{out} ({len(page):,} bytes of HTML)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
