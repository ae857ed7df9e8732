"""What joining labels costs the monitor: seconds and memory per million labels.

A million kept predictions of the wine model (objects of KEPT_OBJECT_ROWS rows, as a busy
function stores them) and one labels file naming each of them once, in another order, on
moto's S3; :func:`ingest_labels` reads, joins and writes the joined rows. REPEATS runs,
each on a fresh prefix; the figures are the median and the spread, and every run must join
every label. The peak resident memory of the process is printed beside them (moto's
server runs in this process too, holding the objects: it is an upper bound).
Writes results/feedback.json.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import resource
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bench.models import train_and_promote
from bench.realtime import RESULTS
from infra.local_env import DATA_BUCKET, MODEL_BUCKET, LocalAws, function_environment

LABELS = 1_000_000
KEPT_OBJECT_ROWS = 100_000
REPEATS = 3


def _kept_objects(s3: Any, model: str, manifest: dict[str, Any], now: float) -> list[str]:
    """Store LABELS kept predictions of ``model``; their ids."""
    from predictor.io import s3_store
    from predictor.monitoring import kept
    from predictor.monitoring.layout import WINDOW_SECONDS, kept_key
    from predictor.rows import new_inference_id
    from predictor.schema import FeatureSchema

    names = tuple(FeatureSchema.from_dict(manifest["schema"]).names)
    rng = np.random.default_rng(0)
    ids = [new_inference_id() for _ in range(LABELS)]
    window = datetime.fromtimestamp(int(now) // WINDOW_SECONDS * WINDOW_SECONDS, UTC)
    for part, first in enumerate(range(0, LABELS, KEPT_OBJECT_ROWS)):
        chunk = ids[first : first + KEPT_OBJECT_ROWS]
        features = np.round(rng.uniform(0, 10, (len(chunk), len(names))), 3).tolist()
        predictions = np.round(rng.uniform(3, 8, len(chunk)), 4).tolist()
        rows = [
            [identity, round(now, 3), prediction, *values]
            for identity, prediction, values in zip(chunk, predictions, features, strict=True)
        ]
        body = kept.encode(None, names, rows)
        key = kept_key(model, manifest["version"], window, f"w-{part}")
        s3_store.put_bytes(s3, DATA_BUCKET, key, body, "application/gzip")
    return ids


def _labels_file(ids: list[str]) -> bytes:
    order = np.random.default_rng(1).permutation(len(ids))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["inference_id", "label"])
    qualities = np.random.default_rng(2).integers(3, 9, len(ids))
    writer.writerows((ids[i], int(qualities[i])) for i in order)
    return gzip.compress(text.getvalue().encode(), compresslevel=6)


def main() -> int:
    from predictor.io import s3_store
    from predictor.models.registry import RegistryReader
    from predictor.monitoring.feedback import ingest_labels

    local = LocalAws().start()
    os.environ.update(function_environment(local.endpoint, "wine", POWERTOOLS_LOG_LEVEL="WARNING"))
    seconds: list[float] = []
    try:
        s3 = local.s3
        for run in range(REPEATS):
            model = f"wine-{run}"
            manifest = train_and_promote(s3, MODEL_BUCKET, "linear", name=model)
            now = time.time()
            ids = _kept_objects(s3, model, manifest, now)
            labels = _labels_file(ids)
            key = f"labels/{model}/all.csv.gz"
            s3_store.put_bytes(s3, DATA_BUCKET, key, labels, "application/gzip")
            started = time.perf_counter()
            (report,) = ingest_labels(
                s3, DATA_BUCKET, RegistryReader(s3, MODEL_BUCKET), model, time.time(), 30
            )
            seconds.append(time.perf_counter() - started)
            assert report.joined == LABELS, report.to_dict()
            assert not report.bad_lines
    finally:
        local.stop()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results = {
        "labels": LABELS,
        "kept_object_rows": KEPT_OBJECT_ROWS,
        "seconds_runs": seconds,
        "seconds_median": statistics.median(seconds),
        "seconds_per_million": statistics.median(seconds) * 1_000_000 / LABELS,
        "peak_rss_mib": peak_mib,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "feedback.json").write_text(json.dumps(results, indent=2))
    print(f"Labels joined to kept predictions ({LABELS:,} labels, {REPEATS} runs)")
    print(
        f"  join  {results['seconds_per_million']:.1f} s per million labels"
        f" (runs {min(seconds):.1f}-{max(seconds):.1f} s); every label joined;"
        f" peak memory of the process (moto's S3 included) {peak_mib:,.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
