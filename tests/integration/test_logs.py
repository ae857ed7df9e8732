"""What the functions log at INFO: ids, versions, counts; never bodies or feature values.

One run drives both handlers with good and bad input carrying marker values, captures
everything the powertools loggers, the standard ``logging`` loggers and stdout (EMF
metrics) received, and looks for the markers.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from batch import app as batch_app
from infra.lambda_context import LambdaContext
from realtime import context as realtime_context
from tests.helpers import HEADER, ROW, ROWS, instances, invoke, post, put, run, sqs_event

#: Values no log line has a reason to contain, each in some request or file below.
MARKERS = ["7.123456789", "8.987654321", "secret-text-41", "4.55555555", "secret-text-42"]


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """The powertools loggers' output; standard logging goes to caplog at INFO."""
    caplog.set_level(logging.INFO)
    stream = io.StringIO()
    handlers = [realtime_context.logger.registered_handler, batch_app.logger.registered_handler]
    previous = [handler.setStream(stream) for handler in handlers]
    yield stream
    for handler, old in zip(handlers, previous, strict=True):
        handler.setStream(old)


def test_a_run_logs_no_bodies_and_no_feature_values(
    wine: str,
    data: Any,
    captured_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    lambda_context: LambdaContext,
) -> None:
    # Realtime: a scored request, a refused row, a malformed body, CSV.
    assert invoke(post(instances({**ROW, "alcohol": 7.123456789})), lambda_context)[0] == 200
    assert invoke(post(instances({**ROW, "pH": "secret-text-41"})), lambda_context)[0] == 422
    assert invoke(post('{"instances": [8.987654321'), lambda_context)[0] == 400
    csv_body = ",".join(ROW) + "\n" + ",".join(str(v) for v in ROW.values()) + ",4.55555555\n"
    assert invoke(post(csv_body, "text/csv"), lambda_context)[0] == 422  # a field too many
    # Batch: good rows, bad rows, and a file that cannot be scored at all.
    fields = ROWS[0].split(";")
    bad = ";".join([*fields[:3], "secret-text-42", *fields[4:]])
    good = ";".join(["7.123456789", *fields[1:]])
    body = "\n".join([HEADER, good, bad, *ROWS[:20]]).encode()
    assert run(sqs_event("incoming/logs.csv", put(data, "incoming/logs.csv", body))) == {
        "batchItemFailures": []
    }
    garbage = b"secret-text-41;8.987654321\n"
    run(sqs_event("incoming/garbage.csv", put(data, "incoming/garbage.csv", garbage)))

    text = captured_logs.getvalue() + capsys.readouterr().out + caplog.text
    found = [marker for marker in MARKERS if marker in text]
    assert found == [], f"logged: {found}"
    # The logs did record the run: refusals with their status, the scored file's counts.
    records = [json.loads(line) for line in captured_logs.getvalue().splitlines()]
    assert sorted(r["status"] for r in records if r["message"] == "request refused") == [
        400,
        422,
        422,
    ]
    scored = [r for r in records if r["message"] == "scored file"]
    assert [r["rows"] for r in scored if r["status"] == "succeeded"] == [
        {"read": 22, "scored": 21, "rejected": 1}
    ]
    assert any(r["status"] == "failed" for r in scored)
