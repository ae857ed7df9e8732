"""A 2 GB CSV scored from local disk by the batch streaming code, in flat memory.

Only ``make test-slow`` runs it (marker ``large``): it writes about 4.5 GB to a
temporary folder and takes minutes. Each file is scored in a fresh process
(:func:`bench.batch.peak_memory`) whose peak RSS is read from the kernel; objects live
in a folder (:class:`bench.local_s3.LocalDiskS3`) rather than moto, which would hold
them in memory.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from bench.batch import peak_memory
from bench.local_s3 import LocalDiskS3
from predictor.registry import MANIFEST_FILE, ONNX_ARTIFACT
from tests.conftest import WINE_CSV, Artifacts

pytestmark = [pytest.mark.integration, pytest.mark.large]

SAMPLE_BYTES = 100_000_000


def test_two_gigabytes_score_within_ten_percent_of_the_memory_of_100_megabytes(
    wine_linear: Artifacts,
) -> None:
    with tempfile.TemporaryDirectory() as work:
        store = Path(work) / "store"
        version = wine_linear.manifest["version"]
        local = LocalDiskS3(store)
        for name, body in (
            (MANIFEST_FILE, json.dumps(wine_linear.manifest).encode()),
            (ONNX_ARTIFACT, wine_linear.files[ONNX_ARTIFACT]),
        ):
            local.put_object(Bucket="models", Key=f"models/wine/{version}/{name}", Body=body)
        header, _, rows = WINE_CSV.read_bytes().partition(b"\n")
        rows = rows.rstrip(b"\n") + b"\n"
        sample = Path(work) / "sample.csv"
        with sample.open("wb") as out:
            out.write(header + b"\n" + rows * (SAMPLE_BYTES // len(rows)))
        rows_per_copy = rows.count(b"\n") * (SAMPLE_BYTES // len(rows))

        small = peak_memory(store, version, sample, copies=1)
        (store / "data" / "predictions" / "big.csv").unlink()
        large = peak_memory(store, version, sample, copies=20)

    for run, copies in ((small, 1), (large, 20)):
        expected = rows_per_copy * copies
        assert run["rows"] == {"read": expected, "scored": expected, "rejected": 0}
    assert large["file_mb"] > 1_900
    growth = large["peak_rss_mb"] / small["peak_rss_mb"] - 1
    print(
        f"\n{small['file_mb']:,.0f} MB: peak RSS {small['peak_rss_mb']:,.0f} MB; "
        f"{large['file_mb']:,.0f} MB: peak RSS {large['peak_rss_mb']:,.0f} MB "
        f"({growth:+.1%}), {large['rows']['scored'] / large['seconds']:,.0f} rows/s"
    )
    assert growth <= 0.10
