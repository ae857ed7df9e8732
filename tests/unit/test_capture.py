"""The capture recorder: windows, late rows, failures, sampling; S3 replaced by a dict."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from predictor.errors import IntegrityError
from predictor.io import s3_store
from predictor.models.registry import LoadedModel
from predictor.monitoring import capture
from predictor.monitoring.capture import CaptureRecorder
from predictor.monitoring.exchange import Exchange
from predictor.monitoring.layout import WINDOW_SECONDS
from predictor.profiling.baseline import Baseline
from predictor.profiling.bins import PREDICTION, Bins, Layout
from predictor.profiling.profiles import Profile

LAYOUT = Layout((Bins("x", "numeric", 0.0, 10.0, (5.0,)),), Bins(PREDICTION, "numeric", 0.0, 1.0))
BASELINE = Baseline(LAYOUT, Profile.empty("", "", LAYOUT), {"thresholds": {}})
MODEL = LoadedModel({"name": "m", "version": "v1"}, None, BASELINE)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 10 * WINDOW_SECONDS + 1.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stored(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    objects: dict[str, bytes] = {}

    def put(s3: Any, bucket: str, key: str, body: bytes, content_type: str) -> None:
        objects[key] = body

    monkeypatch.setattr(s3_store, "put_bytes", put)
    return objects


def _rows(objects: dict[str, bytes]) -> dict[str, int]:
    return {key.split("/", 4)[4]: json.loads(body)["rows"] for key, body in objects.items()}


def _note(recorder: CaptureRecorder, model: LoadedModel, rows: int = 1) -> None:
    recorder._flusher = object()  # type: ignore[assignment]  # the test flushes by hand
    recorder.record(model, {"x": np.full((rows, 1), 3.0)}, np.full(rows, 0.5))


def test_a_late_row_never_overwrites_its_stored_window(stored: dict[str, bytes]) -> None:
    clock = Clock()
    recorder = CaptureRecorder(None, "bucket", clock=clock)
    _note(recorder, MODEL, rows=5)
    recorder.flush()
    # Two windows later the first window is stored and forgotten...
    clock.now += 2 * WINDOW_SECONDS
    _note(recorder, MODEL)
    recorder.flush()
    # ...then a row noted (by its clock) in the first window is counted late.
    recorder._noted.append((10 * WINDOW_SECONDS + 2.0, MODEL, {"x": np.full((1, 1), 1.0)},
                            np.full(1, 0.5), None, "late", None))  # fmt: skip
    clock.now += WINDOW_SECONDS
    recorder.flush()
    writer = recorder.writer
    assert _rows(stored) == {
        f"1970-01-01T00:50Z/{writer}.json": 5,  # untouched
        f"1970-01-01T00:50Z/{writer}-1.json": 1,  # the late row, apart
        f"1970-01-01T01:00Z/{writer}.json": 1,
    }


def test_failed_writes_are_kept_and_made_good(
    stored: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    failures: list[str] = []
    recorder = CaptureRecorder(None, "bucket", clock=Clock(), on_failure=failures.append)
    put = s3_store.put_bytes
    monkeypatch.setattr(s3_store, "put_bytes", lambda *a, **k: (_ for _ in ()).throw(OSError()))
    _note(recorder, MODEL, rows=2)
    recorder.flush()
    _note(recorder, MODEL, rows=3)
    recorder.flush()
    assert len(failures) == 2
    assert stored == {}
    monkeypatch.setattr(s3_store, "put_bytes", put)
    recorder.flush()
    assert list(_rows(stored).values()) == [5]


def test_the_baseline_loads_once_and_a_broken_one_is_not_retried(stored: dict[str, bytes]) -> None:
    loads: list[str] = []

    def broken(model: LoadedModel) -> Baseline | None:
        loads.append(model.version)
        raise IntegrityError("statistics.json does not match its manifest")

    model = LoadedModel({"name": "m", "version": "v2"}, None, None)  # type: ignore[arg-type]
    recorder = CaptureRecorder(None, "bucket", clock=Clock(), baseline_of=broken)
    for _ in range(3):
        _note(recorder, model)
        recorder.flush()
    assert loads == ["v2"]
    (body,) = stored.values()
    document = json.loads(body)
    assert document["rows"] == 3
    assert document["layout"] == ""  # rows counted, without bins


def test_rows_counted_before_the_bins_and_after_merge_into_one_profile() -> None:
    profile = Profile.empty("m", "v1", None)
    profile.add_rows(None, {}, np.full(4, 0.5))
    profile.add_rows(LAYOUT, {"x": np.full((2, 1), 7.0)}, np.full(2, 0.5))
    assert profile.rows == 6
    assert profile.columns["x"].counts.tolist() == [0, 0, 0, 2, 0]
    assert Profile.from_dict(profile.to_dict(), LAYOUT).rows == 6
    other = Layout((Bins("x", "numeric", 0.0, 9.0, (5.0,)),), LAYOUT.prediction)
    with pytest.raises(ValueError, match="other bins"):
        profile.add_rows(other, {"x": np.full((1, 1), 1.0)}, np.full(1, 0.5))


def test_sampled_requests_follow_the_percentage(stored: dict[str, bytes]) -> None:
    recorder = CaptureRecorder(None, "bucket", clock=Clock(), sample_percent=30)
    recorder._flusher = object()  # type: ignore[assignment]
    exchange = Exchange("application/json", '{"instances": []}', "application/json", "{}")
    for _ in range(2000):
        recorder.record(MODEL, {"x": np.full((1, 1), 3.0)}, np.full(1, 0.5), lambda: exchange)
    recorder.flush()
    (lines,) = [b for k, b in stored.items() if k.endswith(".jsonl")]
    sampled = len(lines.splitlines())
    assert 480 <= sampled <= 720  # 30% of 2,000, within 5 standard deviations
    assert capture._RANDOM.__class__.__name__ == "SystemRandom"
