"""The README's picture of a drift report: the bundled white wines against the red-wine
model, rendered by the monitor and photographed by headless Chromium.

``python -m infra.drift_report_image [out.png]`` (needs Debian's ``chromium``).
Everything runs in an in-process moto: the real training job, the real profile counting
and the real monitor.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from infra.local_env import DATA_BUCKET, MODEL_BUCKET, ROOT, create_buckets, use_fake_credentials
from infra.screenshot import chromium, screenshot


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "images" / "drift-report.png"
    use_fake_credentials()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    import pandas as pd
    from moto import mock_aws

    from predictor.models.registry import RegistryReader
    from predictor.monitoring.monitor import run_monitor
    from predictor.monitoring.profile_store import store_profile
    from predictor.profiling.profiles import Profile
    from predictor.settings import RegistryLocation
    from training.job import TrainingConfig, run_training

    with mock_aws():
        s3 = boto3.client("s3")
        create_buckets(s3)
        config = TrainingConfig(
            data=str(ROOT / "data" / "winequality-red.csv"),
            target="quality",
            name="wine-quality",
            registry=RegistryLocation(MODEL_BUCKET),
            candidates=("linear",),
        )
        version = run_training(config, s3).manifest["version"]
        model = RegistryReader(s3, MODEL_BUCKET).load_onnx("wine-quality", version)
        assert model.baseline is not None
        white = pd.read_csv(ROOT / "data" / "winequality-white-sample.csv", sep=";")
        schema = model.predictor.schema
        cells = {name: white[name].astype(str).tolist() for name in schema.names}
        features = schema.validate(cells, len(white), text=True).features
        profile = Profile.empty("wine-quality", version, model.baseline.layout)
        profile.add_rows(model.baseline.layout, features, model.predictor.predict(features).values)
        store_profile(s3, DATA_BUCKET, profile, "batch-white-wines", time.time())
        registry = RegistryReader(s3, MODEL_BUCKET)
        run_monitor(s3, DATA_BUCKET, registry, end=datetime.now(UTC), lookback_minutes=60)
        key = "monitoring/reports/wine-quality/latest.html"
        page = s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
    with tempfile.TemporaryDirectory() as folder:
        html = Path(folder) / "report.html"
        html.write_bytes(page)
        browser = chromium()
        if browser is None:
            print("needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
            return 1
        screenshot(browser, html, out, height=1250)
    print(f"{out} ({len(page):,} bytes of HTML)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
