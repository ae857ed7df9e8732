"""A 2 GB CSV scored from local disk by the batch streaming code, in flat memory.

Only ``make test-slow`` runs it (marker ``large``): it writes about 4.5 GB to a
temporary folder and takes minutes. Each file is scored in a fresh process whose own
peak RSS (``VmHWM``) it reports (:func:`infra.batch_memory.peak_memory`); objects live
in a folder (:class:`infra.local_disk_s3.LocalDiskS3`) rather than moto, which would
hold them in memory.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from infra.batch_memory import peak_memory, publish_to_disk
from tests.helpers import WINE_CSV, Artifacts

SAMPLE_BYTES = 100_000_000
CHUNK_ROWS = 50_000


def test_two_gigabytes_score_within_ten_percent_of_the_memory_of_100_megabytes(
    wine_linear: Artifacts,
) -> None:
    with tempfile.TemporaryDirectory() as work:
        store = Path(work) / "store"
        version = wine_linear.manifest["version"]
        manifest = json.dumps(wine_linear.manifest).encode()
        publish_to_disk(store, version, {**wine_linear.files, "manifest.json": manifest})
        header, _, rows = WINE_CSV.read_bytes().partition(b"\n")
        rows = rows.rstrip(b"\n") + b"\n"
        copies_per_sample = SAMPLE_BYTES // len(rows)
        rows_per_copy = rows.count(b"\n") * copies_per_sample
        incoming = store / "data" / "incoming"
        incoming.mkdir(parents=True)
        measured = {}
        for copies in (1, 20):
            with (incoming / "big.csv").open("wb") as out:
                out.write(header + b"\n")
                for _ in range(copies):
                    out.write(rows * copies_per_sample)
            measured[copies] = peak_memory(store, version, "incoming/big.csv", CHUNK_ROWS)
            (store / "data" / "predictions" / "big.csv").unlink()

    small, large = measured[1], measured[20]
    for run, copies in ((small, 1), (large, 20)):
        expected = rows_per_copy * copies
        assert run["rows"] == {"read": expected, "scored": expected, "rejected": 0}
    assert large["file_mb"] > 1_900
    growth = large["peak_rss_mb"] / small["peak_rss_mb"] - 1
    print(
        f"\n{small['file_mb']:,.0f} MB: peak RSS {small['peak_rss_mb']:,.0f} MB; "
        f"{large['file_mb']:,.0f} MB: peak RSS {large['peak_rss_mb']:,.0f} MB "
        f"({growth:+.1%}), {large['rows']['scored'] / large['seconds']:,.0f} rows/s "
        "(each the scoring process's own VmHWM)"
    )
    assert growth <= 0.10
