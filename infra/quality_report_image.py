"""The docs' picture of live quality: eight hourly periods of the red-wine model's answers
with their labels, the last three labelled with white wines' qualities (a shifted
relation), rendered by the monitor and photographed by headless Chromium.

``python -m infra.quality_report_image [out.png]`` (needs Debian's ``chromium``).
Everything runs in an in-process moto: the real training job, the predictions kept as the
realtime function keeps them, labels files joined by the real monitor, one run per
period. Only the clock is simulated: each period's predictions are kept with its time,
and its labels file is dated ten minutes later (moto's object date is set), so that the
periods read as eight hours rather than eight seconds.
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

MODEL = "wine-quality"
PERIODS, SHIFTED, ROWS = 8, 3, 120
HOUR = 3600


def _date_object(bucket: str, key: str, when: float) -> None:
    """Date an object of the in-process moto as if it had been uploaded at ``when``."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[bucket].keys[key]
    stored.last_modified = datetime.fromtimestamp(when, UTC).replace(tzinfo=None)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "images" / "quality-report.png"
    use_fake_credentials()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    import numpy as np
    import pandas as pd
    from moto import mock_aws

    from predictor.models.registry import RegistryReader
    from predictor.monitoring.kept import KeptPredictions
    from predictor.monitoring.monitor import run_monitor
    from predictor.monitoring.profile_store import store_profile
    from predictor.monitoring.reports import Period
    from predictor.profiling.profiles import Profile
    from predictor.settings import RegistryLocation
    from training.job import TrainingConfig, run_training

    red = pd.read_csv(ROOT / "data" / "winequality-red.csv", sep=";")
    white = pd.read_csv(ROOT / "data" / "winequality-white-sample.csv", sep=";")
    rng = np.random.default_rng(7)
    with mock_aws():
        s3 = boto3.client("s3")
        create_buckets(s3)
        config = TrainingConfig(
            data=str(ROOT / "data" / "winequality-red.csv"),
            target="quality",
            name=MODEL,
            registry=RegistryLocation(MODEL_BUCKET),
            candidates=("linear",),
        )
        version = run_training(config, s3).manifest["version"]
        registry = RegistryReader(s3, MODEL_BUCKET)
        model = registry.load_onnx(MODEL, version)
        assert model.baseline is not None
        schema = model.predictor.schema
        first = (int(time.time()) // HOUR - PERIODS) * HOUR
        for period in range(PERIODS):
            start = first + period * HOUR
            source = red if period < PERIODS - SHIFTED else white
            sample = source.iloc[rng.choice(len(source), ROWS, replace=False)]
            cells = {name: sample[name].astype(str).tolist() for name in schema.names}
            features = schema.validate(cells, ROWS, text=True).features
            predictions = model.predictor.predict(features).values
            ids = [f"order-{period}-{n}" for n in range(ROWS)]
            times = [start + 400 + n for n in range(ROWS)]
            kept = KeptPredictions("picture")
            kept.add(MODEL, version, None, features, predictions, ids, times, None)
            kept.store(s3, DATA_BUCKET, failed=print)
            profile = Profile.empty(MODEL, version, model.baseline.layout)
            profile.add_rows(model.baseline.layout, features, predictions)
            store_profile(s3, DATA_BUCKET, profile, f"picture-{period}", start + 400)
            labels = "inference_id,label\n" + "".join(
                f"{i},{q}\n" for i, q in zip(ids, sample["quality"], strict=True)
            )
            key = f"labels/{MODEL}/hour-{period}.csv"
            s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=labels.encode())
            _date_object(DATA_BUCKET, key, start + 1000)
            end = datetime.fromtimestamp(start + HOUR, UTC)
            run_monitor(s3, DATA_BUCKET, registry, Period.of(end, 60, settle_seconds=None))
        key = f"monitoring/reports/{MODEL}/latest.html"
        page = s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
    with tempfile.TemporaryDirectory() as folder:
        html = Path(folder) / "report.html"
        html.write_bytes(page)
        browser = chromium()
        if browser is None:
            print("needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
            return 1
        screenshot(browser, html, out, height=1000, fragment="quality")
    print(f"{out} ({len(page):,} bytes of HTML)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
