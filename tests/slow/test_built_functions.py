"""`make invoke`: the functions as `sam build` packages them, invoked with every event."""

from __future__ import annotations

import shutil
import subprocess

from tests.helpers import EVENTS, ROOT


def test_built_functions_answer_every_event() -> None:
    make = shutil.which("make")
    assert make is not None, "make invoke needs GNU make"
    done = subprocess.run(
        [make, "invoke"], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert "OVER THE LIMIT" not in output
    prefixes = ("realtime_", "batch_", "monitor_")
    serving_events = [p.name for p in EVENTS.glob("*.json") if p.name.startswith(prefixes)]
    for name in serving_events:
        assert f"{name}" in output, name
    assert "FAIL" not in output
    assert output.count(" ok\n") >= len(serving_events)
