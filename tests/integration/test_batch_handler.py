"""The batch handler driven with S3/SQS events against moto and a real published model."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError, EndpointConnectionError

from batch import app
from infra.lambda_context import LambdaContext
from infra.local_env import DATA_BUCKET  # the bucket the events/ files name
from predictor.batch.run import score_object
from predictor.batch_keys import row_id_prefix
from predictor.io.s3_store import ObjectRef
from tests.helpers import (
    HEADER,
    ROWS,
    Artifacts,
    csv_rows,
    leases,
    load_event,
    put,
    read,
    report,
    run,
    semicolons,
    sqs_event,
)
from training.registry_admin import ModelRegistry


# ----- the events/ files --------------------------------------------------------------
def test_sqs_event_scores_a_clean_file(data: Any) -> None:
    etag = put(data, "incoming/wine-sample.csv", "\n".join([HEADER, *ROWS[:50]]).encode())
    event = load_event("batch_sqs_s3_put.json")
    event["Records"][0]["body"] = event["Records"][0]["body"].replace(
        "0123456789abcdef0123456789abcdef", etag
    )
    assert run(event) == {"batchItemFailures": []}
    output = csv_rows(read(data, "predictions/wine-sample.csv") or b"")
    assert output[0] == [*next(csv.reader([HEADER], delimiter=";")), "prediction", "inference_id"]
    assert len(output) == 51
    assert [row[:-2] for row in output[1:]] == [r.split(";") for r in ROWS[:50]]
    assert all(3.0 < float(row[-2]) < 8.0 for row in output[1:])
    # Each row is named by the input's upload and its line: the id a label names.
    prefix = row_id_prefix("incoming/wine-sample.csv", etag)
    assert [row[-1] for row in output[1:]] == [f"{prefix}{n}" for n in range(2, 52)]
    assert read(data, "errors/wine-sample.csv") is None
    done = report(data, "wine-sample.csv")
    assert done["status"] == "succeeded"
    assert done["rows"] == {"read": 50, "scored": 50, "rejected": 0}
    assert done["input"]["etag"] == etag
    assert done["model"]["name"] == "wine"
    assert done["outputs"] == {"predictions": "predictions/wine-sample.csv", "errors": None}


def test_bare_s3_event(data: Any) -> None:
    etag = put(data, "incoming/wine-sample.csv", "\n".join([HEADER, *ROWS[:3]]).encode())
    event = json.loads(
        json.dumps(load_event("batch_s3_put.json")).replace(
            "0123456789abcdef0123456789abcdef", etag
        )
    )
    result = run(event)
    assert [r["status"] for r in result["reports"]] == ["succeeded"]
    assert len(csv_rows(read(data, "predictions/wine-sample.csv") or b"")) == 4
    # The same event again answers with the stored report, marked as a repeat.
    (again,) = run(event)["reports"]
    stored = report(data, "wine-sample.csv")
    assert again == {**stored, "duplicate": True}


def test_url_encoded_key_with_spaces_and_unicode(data: Any) -> None:
    key = "incoming/cellar 2026 my wine été.csv"
    etag = put(data, key, "\n".join([HEADER, *ROWS[:2]]).encode())
    event = load_event("batch_sqs_s3_put_encoded_key.json")
    event["Records"][0]["body"] = event["Records"][0]["body"].replace(
        "0123456789abcdef0123456789abcdef", etag
    )
    assert run(event) == {"batchItemFailures": []}
    assert read(data, "predictions/cellar 2026 my wine été.csv") is not None
    assert report(data, "cellar 2026 my wine été.csv")["input"]["key"] == key


def test_s3_test_event_is_ignored(data: Any) -> None:
    assert run(load_event("batch_sqs_s3_test_event.json")) == {"batchItemFailures": []}
    assert "Contents" not in data.list_objects_v2(Bucket=DATA_BUCKET)


# ----- bad rows -------------------------------------------------------------------------
def test_every_kind_of_bad_row_is_reported_with_its_line(data: Any) -> None:
    good = ROWS[0].split(";")

    def row(**changes: str) -> str:
        fields = list(good)
        for index, value in changes.items():
            fields[int(index[1:])] = value
        return ";".join(fields)

    lines = [
        HEADER,  # line 1
        row(),  # 2 good
        row(c0=""),  # 3 missing value in a non-nullable column
        row(c1="abc"),  # 4 non-numeric text
        ";".join([*good, "7"]),  # 5 extra field
        ";".join(good[:5]),  # 6 too few fields
        "",  # 7 blank line
        row(c2='"0.\n5"'),  # 8-9 a quoted line break inside a number: only line 8 is
        # refused for the quote, and line 9 is read again as a record (of 10 fields)
        row(c3="NaN"),  # 10 NaN
        row(c4="1e309"),  # 11 beyond float range
        row(c5="Infinity"),  # 12 infinity
        row(c6=" 12 "),  # 13 good: spaces around a number are fine
        row(c7='"0.9968"'),  # 14 good: quoted number
        row(c8="3.5\udce9"),  # 15 a byte that is not UTF-8 (Latin-1 "é")
    ]
    body = ("\n".join(lines) + "\n").encode(errors="surrogateescape")
    etag = put(data, "incoming/bad.csv", body)
    assert run(sqs_event("incoming/bad.csv", etag)) == {"batchItemFailures": []}
    output = csv_rows(read(data, "predictions/bad.csv") or b"")
    assert len(output) == 1 + 3
    errors = list(csv.reader(io.StringIO((read(data, "errors/bad.csv") or b"").decode())))
    assert errors[0] == ["line", "column", "reason", "row"]
    by_line = {int(e[0]): e for e in errors[1:]}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15]
    assert by_line[3][1] == "fixed acidity"
    assert "does not allow" in by_line[3][2]
    assert by_line[4][1:3] == ["volatile acidity", "not a number: 'abc'"]
    assert by_line[5][2] == "expected 12 fields, got 13"
    assert by_line[6][2] == "expected 12 fields, got 5"
    assert by_line[7][2] == "blank line"
    assert by_line[8][2] == (
        "a quote opened on this line makes it and the next 1 line one record: "
        "citric acid: not a number: '0.\\n5'"
    )
    assert by_line[8][3] == lines[7].split("\n")[0]
    assert by_line[9][2:] == ["expected 12 fields, got 10", lines[7].split("\n")[1]]
    assert by_line[10][1] == "residual sugar"
    assert "not a finite number" in by_line[11][2]
    assert by_line[12][1] == "free sulfur dioxide"
    assert by_line[4][3] == lines[3]
    assert by_line[15][2] == "bytes that are not UTF-8"
    assert by_line[15][3].endswith("3.5\\xe9;" + ";".join(good[9:]))
    done = report(data, "bad.csv")
    assert done["rows"] == {"read": 14, "scored": 3, "rejected": 11}


def test_comma_gzip_bom_and_crlf(data: Any) -> None:
    text = "\r\n".join([HEADER.replace(";", ","), *[r.replace(";", ",") for r in ROWS[:20]]])
    etag = put(data, "incoming/zipped.csv.gz", gzip.compress(b"\xef\xbb\xbf" + text.encode()))
    assert run(sqs_event("incoming/zipped.csv.gz", etag)) == {"batchItemFailures": []}
    output = gzip.decompress(read(data, "predictions/zipped.csv.gz") or b"").decode()
    assert output.startswith('"fixed acidity","volatile acidity"')
    assert output.splitlines()[0].endswith(',"quality",prediction,inference_id')
    assert len(output.splitlines()) == 21
    assert report(data, "zipped.csv.gz")["rows"]["scored"] == 20


def test_a_spreadsheet_s_trailing_delimiters_are_unnamed_columns(data: Any) -> None:
    # Spreadsheets export empty trailing columns as ";;": columns without a name, of no model
    text = "\n".join([HEADER + ";;", *[row + ";;" for row in ROWS[:5]]]) + "\n"
    etag = put(data, "incoming/trailing.csv", text.encode())
    assert run(sqs_event("incoming/trailing.csv", etag)) == {"batchItemFailures": []}
    assert report(data, "trailing.csv")["rows"] == {"read": 5, "scored": 5, "rejected": 0}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (HEADER.encode() + b"\n", "header but no rows"),
        (HEADER.encode() + b"\n\n\r\n\n", "header but no rows (only 3 blank line(s))"),
        (b"colour;size\nred;3\n", "required column(s) missing"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not"),
    ],
    ids=["empty", "header-only", "header-then-blank-lines", "wrong-columns", "not-csv"],
)
def test_unscorable_files_fail_once_without_retry(data: Any, content: bytes, problem: str) -> None:
    etag = put(data, "incoming/odd.csv", content)
    assert run(sqs_event("incoming/odd.csv", etag)) == {"batchItemFailures": []}
    done = report(data, "odd.csv")
    assert done["status"] == "failed"
    assert problem in done["error"]
    assert read(data, "predictions/odd.csv") is None


def test_keys_outside_incoming_are_ignored(data: Any) -> None:
    etag = put(data, "predictions/x.csv", b"a\n1\n")
    assert run(sqs_event("predictions/x.csv", etag)) == {"batchItemFailures": []}
    assert read(data, "reports/x.csv.json") is None


# ----- duplicates, failures, deadlines -----------------------------------------------
def count_output_writes(s3: Any) -> Counter[str]:
    """Count every write of an output (predictions/errors/reports .json) by ``s3``, by key."""
    writes: Counter[str] = Counter()

    def record(params: dict[str, Any], **_: Any) -> None:
        key = params["Key"]
        if key.startswith(("predictions/", "errors/")) or key.endswith(".json"):
            writes[key] += 1

    for operation in ("PutObject", "CompleteMultipartUpload", "CopyObject"):
        s3.meta.events.register(f"provide-client-params.s3.{operation}", record)
    return writes


def stored_outputs(s3: Any) -> list[str]:
    """Keys of the stored outputs (scored rows, refused rows, reports; not the lease)."""
    listed = s3.list_objects_v2(Bucket=DATA_BUCKET).get("Contents", [])
    return sorted(
        o["Key"]
        for o in listed
        if o["Key"].startswith(("predictions/", "errors/")) or o["Key"].endswith(".json")
    )


def test_same_event_twice_in_a_row_writes_once(data: Any) -> None:
    lines = [HEADER, *ROWS[:30], ROWS[0].replace(";", ";x;", 1)]
    etag = put(data, "incoming/dup.csv", "\n".join(lines).encode())
    writes = count_output_writes(app.container.get().s3)
    event = sqs_event("incoming/dup.csv", etag)
    assert run(event) == {"batchItemFailures": []}
    first = (report(data, "dup.csv"), read(data, "predictions/dup.csv"))
    assert run(event) == {"batchItemFailures": []}
    assert (report(data, "dup.csv"), read(data, "predictions/dup.csv")) == first
    expected = ["errors/dup.csv", "predictions/dup.csv", "reports/dup.csv.json"]
    assert stored_outputs(data) == expected
    assert writes == dict.fromkeys(expected, 1)


def test_same_event_five_times_across_two_threads_writes_once(data: Any) -> None:
    """Five deliveries of one event, two at a time (as two containers would take them)."""
    etag = put(data, "incoming/race.csv", "\n".join([HEADER, *ROWS]).encode())
    writes = count_output_writes(app.container.get().s3)
    event = sqs_event("incoming/race.csv", etag)

    def deliver(_: int) -> str:
        try:
            answer = run(event)
        except BatchProcessingError:
            # The other thread held the lease: the invocation fails (its only message
            # failed), so SQS delivers the message again after the visibility timeout.
            return "redelivered"
        assert answer == {"batchItemFailures": []}
        return "done"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(deliver, range(5)))
    retried = outcomes.count("redelivered")
    assert outcomes.count("done") >= 1
    # The redeliveries SQS makes find the finished report and write nothing.
    for _ in range(retried):
        assert run(event) == {"batchItemFailures": []}
    assert stored_outputs(data) == ["predictions/race.csv", "reports/race.csv.json"]
    assert writes == {"predictions/race.csv": 1, "reports/race.csv.json": 1}
    assert report(data, "race.csv")["rows"]["scored"] == len(ROWS)


def test_partial_batch_response_names_only_the_failed_message(data: Any) -> None:
    good = put(data, "incoming/a.csv", "\n".join([HEADER, *ROWS[:5]]).encode())
    busy = put(data, "incoming/b.csv", "\n".join([HEADER, *ROWS[:5]]).encode())
    # Another invocation holds b.csv
    lease = {"etag": busy, "expires": 4102444800}
    data.put_object(Bucket=DATA_BUCKET, Key="reports/b.csv.lease", Body=json.dumps(lease).encode())
    event = sqs_event("incoming/a.csv", good, message_id="ok")
    event["Records"] += sqs_event("incoming/b.csv", busy, message_id="busy")["Records"]
    assert run(event) == {"batchItemFailures": [{"itemIdentifier": "busy"}]}
    assert report(data, "a.csv")["status"] == "succeeded"


def test_stops_before_the_deadline_and_is_retried(data: Any) -> None:
    etag = put(data, "incoming/late.csv", "\n".join([HEADER, *ROWS[:10]]).encode())
    with pytest.raises(BatchProcessingError, match="stopped before the deadline"):
        run(sqs_event("incoming/late.csv", etag), remaining_ms=5_000)
    assert read(data, "predictions/late.csv") is None
    assert run(sqs_event("incoming/late.csv", etag)) == {"batchItemFailures": []}
    assert report(data, "late.csv")["rows"]["scored"] == 10


def test_overwritten_input_is_skipped(data: Any) -> None:
    old = put(data, "incoming/v.csv", "\n".join([HEADER, *ROWS[:3]]).encode())
    put(data, "incoming/v.csv", "\n".join([HEADER, *ROWS[:4]]).encode())
    assert run(sqs_event("incoming/v.csv", old)) == {"batchItemFailures": []}
    assert read(data, "predictions/v.csv") is None


def test_classifier_adds_probability_columns(
    data: Any, registry: ModelRegistry, churn_classifier: Artifacts
) -> None:
    registry.set_alias("wine", "production", churn_classifier.publish(registry)["version"])
    text = 'plan,tenure months,monthly fee,note\nbasic,3,20.5,a\n,,31,"b, c"\nenterprise,50,99,d\n'
    etag = put(data, "incoming/churn.csv", text.encode())
    assert run(sqs_event("incoming/churn.csv", etag)) == {"batchItemFailures": []}
    rows = list(csv.reader(io.StringIO((read(data, "predictions/churn.csv") or b"").decode())))
    assert rows[0] == [
        "plan",
        "tenure months",
        "monthly fee",
        "note",
        "prediction",
        "probability_no",
        "probability_yes",
        "inference_id",
    ]
    assert rows[1][4] == "yes"
    prefix = row_id_prefix("incoming/churn.csv", etag)
    assert [row[-1] for row in rows[1:]] == [f"{prefix}{n}" for n in (2, 3, 4)]
    assert rows[2][3] == "b, c"
    for row in rows[1:]:
        assert float(row[5]) + float(row[6]) == pytest.approx(1.0, abs=1e-5)


def test_ten_thousand_rows_with_ten_percent_bad(data: Any) -> None:
    """10,000 rows, every tenth broken in one of 9 ways: exactly the 9,000 good ones scored.

    A quoted line break inside a number makes two records: the line the quote opened on
    (refused for the quote) and the next one, read again on its own (refused for its width).
    """
    good = ROWS[0].split(";")

    def broken(kind: int) -> str:
        fields = list(good)
        if kind == 0:
            fields[0] = ""  # missing value in a non-nullable column
        elif kind == 1:
            fields[1] = "abc"  # text in a numeric column
        elif kind == 2:
            fields.append("7")  # an extra field
        elif kind == 3:
            fields = fields[:4]  # too few fields
        elif kind == 4:
            return ""  # blank line
        elif kind == 5:
            fields[2] = '"0.\n5"'  # quoted newline inside a number
        elif kind == 6:
            fields[3] = "NaN"  # a missing value, as training's reader (pandas) reads it
        elif kind == 7:
            fields[4] = "-Infinity"
        else:
            fields[5] = "1\udcff"  # a byte that is not UTF-8
        return ";".join(fields)

    lines = [HEADER]
    for i in range(10_000):
        lines.append(broken((i // 10) % 9) if i % 10 == 9 else ROWS[i % len(ROWS)])
    body = ("\n".join(lines) + "\n").encode(errors="surrogateescape")
    etag = put(data, "incoming/big.csv", body)
    assert run(sqs_event("incoming/big.csv", etag)) == {"batchItemFailures": []}
    done = report(data, "big.csv")
    assert done["rows"] == {"read": 10_111, "scored": 9_000, "rejected": 1_111}
    output = csv_rows(read(data, "predictions/big.csv") or b"")
    assert len(output) == 1 + 9_000
    errors = list(csv.reader(io.StringIO((read(data, "errors/big.csv") or b"").decode())))[1:]
    assert len({e[0] for e in errors}) == 1_111
    reasons = Counter(
        "a quote" if e[2].startswith("a quote opened") else e[2].split(":")[0] for e in errors
    )
    assert reasons == {
        "missing value in a column that does not allow one": 112 + 111,  # and NaN
        "not a number": 111,
        "a quote": 111,  # the line a quoted line break inside a number opened on...
        "expected 12 fields, got 10": 111,  # ...and the line after it
        "expected 12 fields, got 13": 111,
        "expected 12 fields, got 4": 111,
        "blank line": 111,
        "not a finite number": 111,  # -Infinity
        "bytes that are not UTF-8": 111,
    }


def s3_error(code: str, operation: str) -> Exception:
    """What botocore raises once its own retries of a failing S3 call are exhausted."""
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


@pytest.mark.parametrize(
    ("failing", "error"),
    [
        ("get_object", s3_error("InternalError", "GetObject")),
        ("upload_part", s3_error("SlowDown", "UploadPart")),
        ("complete_multipart_upload", EndpointConnectionError(endpoint_url="https://s3")),
    ],
)
def test_s3_failures_leave_nothing_and_the_retry_matches_a_clean_run(
    data: Any, monkeypatch: pytest.MonkeyPatch, failing: str, error: Exception
) -> None:
    """An S3 error on the first read, mid-upload or on complete: retried, never partial."""
    body = "\n".join([HEADER, *ROWS]).encode()
    run(sqs_event("incoming/clean.csv", put(data, "incoming/clean.csv", body)))
    key = f"incoming/{failing}.csv"
    obj = ObjectRef(DATA_BUCKET, key, put(data, key, body))
    runtime = app.container.get()
    s3, model = runtime.s3, runtime.models.get()
    real = getattr(s3, failing)

    calls: list[int] = []
    fail_on_call = 3 if failing == "upload_part" else 1  # the 3rd part: mid-upload

    def fail_on_input(**kwargs: Any) -> Any:
        if kwargs.get("Key", "").endswith(f"{failing}.csv"):
            calls.append(1)
            if len(calls) == fail_on_call:
                raise error
        return real(**kwargs)

    monkeypatch.setattr(s3, failing, fail_on_input)
    with pytest.raises(type(error)):  # raised to the handler: the message is retried
        # Small chunks and parts: this 100 KB file is uploaded in several parts.
        score_object(
            s3, obj, lambda: model, chunk_rows=100, seconds_left=lambda: 900.0, part_size=16 * 1024
        )
    assert len(calls) == fail_on_call
    assert read(data, f"predictions/{failing}.csv") is None
    assert read(data, f"reports/{failing}.csv.json") is None
    assert data.list_multipart_uploads(Bucket=DATA_BUCKET).get("Uploads", []) == []
    assert leases(data) == []
    monkeypatch.setattr(s3, failing, real)
    assert run(sqs_event(key, obj.etag)) == {"batchItemFailures": []}
    # The same rows and predictions as a clean run; each row's id names its own file.
    clean = (read(data, "predictions/clean.csv") or b"").replace(
        b"incoming/clean.csv@", key.encode() + b"@"
    )
    assert read(data, f"predictions/{failing}.csv") == clean


# ----- defects found by probing: files the sniffer refused, stale outputs and events ------
@pytest.mark.parametrize(
    ("body", "scored", "refused"),
    [
        (semicolons([HEADER, *ROWS[:5]], "\r"), 5, []),  # CR-only line endings
        (semicolons([HEADER, ROWS[0], ROWS[1].replace(";", "\r;", 1), *ROWS[2:6]]), 5, [3, 4]),
        (semicolons([HEADER + ";note", *(r + ";" + "x" * 200_000 for r in ROWS[:3])]), 3, []),
        (
            semicolons(
                [
                    HEADER + "".join(f";extra {i}" for i in range(9_000)),
                    *(r + ";1" * 9_000 for r in ROWS[:3]),
                ]
            ),
            3,
            [],
        ),
    ],
    ids=["cr-only", "bare-cr-in-a-field", "200kb-field", "9011-columns"],
)
def test_files_the_sniffer_refused_are_scored(
    data: Any, body: bytes, scored: int, refused: list[int]
) -> None:
    etag = put(data, "incoming/odd.csv", body)
    assert run(sqs_event("incoming/odd.csv", etag)) == {"batchItemFailures": []}
    done = report(data, "odd.csv")
    assert done["status"] == "succeeded", done
    assert done["rows"]["scored"] == scored
    errors = list(csv.reader(io.StringIO((read(data, "errors/odd.csv") or b"").decode())))
    assert [int(e[0]) for e in errors[1:]] == refused
    assert leases(data) == []


def test_a_single_line_of_megabytes_fails_once_with_a_report(data: Any) -> None:
    etag = put(data, "incoming/line.csv", b"a;" + b"9" * (3 << 20))
    assert run(sqs_event("incoming/line.csv", etag)) == {"batchItemFailures": []}
    done = report(data, "line.csv")
    assert done["status"] == "failed"
    assert "header row has a line longer than" in done["error"]
    assert leases(data) == []


def test_bad_rows_are_refused_one_at_a_time_wherever_they_are(data: Any) -> None:
    lines = [HEADER, *(ROWS[i % len(ROWS)] for i in range(30_000))]
    lines[3] = lines[3].replace(";", ";\x00", 1)  # a NUL in the first 64 KiB...
    lines[20_000] = lines[20_000].replace(";", ";\x00", 1)  # ...and far after it
    lines[100] = lines[100] + ';"' + "n" * 200_000 + '"'  # a quoted field over 128 KiB
    lines[25] = lines[25].replace(";", ';"', 1)  # a stray quote at line 26...
    lines[40] = lines[40].replace(";", ';x"', 1)  # ...closed by another 15 lines later
    lines[29_000] = lines[29_000] + ";" + "w" * (2 << 20)  # a line over the limit
    etag = put(data, "incoming/spread.csv", semicolons(lines))
    assert run(sqs_event("incoming/spread.csv", etag), remaining_ms=900_000) == {
        "batchItemFailures": []
    }
    errors = list(csv.reader(io.StringIO((read(data, "errors/spread.csv") or b"").decode())))
    by_line = {int(e[0]): e[2] for e in errors[1:]}
    assert sorted(by_line) == [4, 26, 41, 101, 20_001, 29_001]
    assert by_line[4] == by_line[20_001] == "a NUL byte"
    assert (
        by_line[26]
        == "quotes out of place: ';' expected after '\"' (the record would run on for 15 lines)"
    )
    assert by_line[101] == "expected 12 fields, got 13"  # refused for its width, not its size
    assert by_line[29_001] == "a line longer than 1,048,576 characters"
    done = report(data, "spread.csv")
    assert done["status"] == "succeeded"
    assert done["rows"] == {"read": 30_000, "scored": 29_994, "rejected": 6}


def test_outputs_of_an_earlier_version_do_not_survive(data: Any) -> None:
    key = "incoming/again.csv"
    v1 = [HEADER, *ROWS[:10], ROWS[0].replace(";", ";x;", 1)]
    run(sqs_event(key, put(data, key, semicolons(v1))))
    assert report(data, "again.csv")["outputs"]["errors"] == "errors/again.csv"
    run(sqs_event(key, put(data, key, semicolons([HEADER, *ROWS[:10]]))))
    done = report(data, "again.csv")
    assert done["outputs"] == {"predictions": "predictions/again.csv", "errors": None}
    assert read(data, "errors/again.csv") is None
    run(sqs_event(key, put(data, key, b"colour;size\nred;3\n")))
    assert report(data, "again.csv")["status"] == "failed"
    assert read(data, "predictions/again.csv") is None
    assert read(data, "errors/again.csv") is None
    assert leases(data) == []


def test_a_late_event_for_an_older_version_is_skipped(data: Any) -> None:
    data.put_bucket_versioning(Bucket=DATA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    key = "incoming/versions.csv"
    first = data.put_object(Bucket=DATA_BUCKET, Key=key, Body=semicolons([HEADER, *ROWS[:3]]))
    late = sqs_event(key, first["ETag"].strip('"'), version_id=first["VersionId"])
    assert run(late) == {"batchItemFailures": []}
    second = data.put_object(Bucket=DATA_BUCKET, Key=key, Body=semicolons([HEADER, *ROWS[:7]]))
    run(sqs_event(key, second["ETag"].strip('"'), version_id=second["VersionId"]))
    scored = (report(data, "versions.csv"), read(data, "predictions/versions.csv"))
    assert scored[0]["input"]["version_id"] == second["VersionId"]
    # When v1's event is delivered again, v2's results stay.
    result = app.lambda_handler(json.loads(late["Records"][0]["body"]), LambdaContext("test"))
    (skipped,) = result["reports"]
    assert skipped["status"] == "skipped"
    assert "overwritten since the event" in skipped["reason"]
    assert (report(data, "versions.csv"), read(data, "predictions/versions.csv")) == scored
    # The same content uploaded again is a new version: its old event is stale too.
    third = data.put_object(Bucket=DATA_BUCKET, Key=key, Body=semicolons([HEADER, *ROWS[:7]]))
    assert third["ETag"] == second["ETag"]
    stale = sqs_event(key, second["ETag"].strip('"'), version_id=second["VersionId"])
    run(sqs_event(key, third["ETag"].strip('"'), version_id=third["VersionId"]))
    assert report(data, "versions.csv")["input"]["version_id"] == third["VersionId"]
    skipped = app.lambda_handler(json.loads(stale["Records"][0]["body"]), LambdaContext("test"))
    assert "same content" in skipped["reports"][0]["reason"]
    assert report(data, "versions.csv")["input"]["version_id"] == third["VersionId"]
    assert leases(data) == []


def test_every_input_name_keeps_its_own_outputs(data: Any) -> None:
    """x.csv, x.csv.gz and x.csv.gz.csv: outputs at the same relative path, gzipped like it."""
    plain = semicolons([HEADER, *ROWS[:4]])
    zipped = gzip.compress(semicolons([HEADER, *ROWS[:9], ROWS[0].replace(";", ";x;", 1)]))
    named_like_zipped = semicolons([HEADER, *ROWS[:5]])
    for key, body in (
        ("incoming/x.csv", plain),
        ("incoming/x.csv.gz", zipped),
        ("incoming/x.csv.gz.csv", named_like_zipped),
        ("incoming/UPPER.CSV", plain),
    ):
        run(sqs_event(key, put(data, key, body)))
    assert len(csv_rows(read(data, "predictions/x.csv") or b"")) == 5
    assert len(csv_rows(gzip.decompress(read(data, "predictions/x.csv.gz") or b""))) == 10
    errors = gzip.decompress(read(data, "errors/x.csv.gz") or b"").decode()
    assert errors.splitlines()[1].startswith('11,,"expected 12 fields, got 13"')
    assert len(csv_rows(read(data, "predictions/x.csv.gz.csv") or b"")) == 6
    assert len(csv_rows(read(data, "predictions/UPPER.CSV") or b"")) == 5
    assert report(data, "x.csv")["rows"]["scored"] == 4
    assert report(data, "x.csv.gz")["outputs"] == {
        "predictions": "predictions/x.csv.gz",
        "errors": "errors/x.csv.gz",
    }
    assert report(data, "x.csv.gz.csv")["rows"]["scored"] == 5


def test_a_skipped_run_releases_its_lease(data: Any) -> None:
    key = "incoming/quick.csv"
    etag = put(data, key, semicolons([HEADER, *ROWS[:3]]))
    # A hand-made event (sam local generate-event's placeholder ETag) is skipped...
    event = sqs_event(key, "0123456789abcdef0123456789abcdef")
    body = json.loads(event["Records"][0]["body"])
    (skipped,) = app.lambda_handler(body, LambdaContext("test"))["reports"]
    assert skipped["status"] == "skipped"
    assert "hand-made or sample event" in skipped["reason"]
    assert leases(data) == []
    # ...and the object's real event is scored at once, not after a visibility timeout.
    assert run(sqs_event(key, etag)) == {"batchItemFailures": []}
    assert report(data, "quick.csv")["status"] == "succeeded"
    # A key deleted since its event leaves no lease behind either.
    gone = put(data, "incoming/gone.csv", semicolons([HEADER, *ROWS[:3]]))
    data.delete_object(Bucket=DATA_BUCKET, Key="incoming/gone.csv")
    body = json.loads(sqs_event("incoming/gone.csv", gone)["Records"][0]["body"])
    (skipped,) = app.lambda_handler(body, LambdaContext("test"))["reports"]
    assert skipped["reason"] == "the object was deleted since the event"
    assert leases(data) == []
    assert read(data, "reports/gone.csv.json") is None


def test_rows_the_model_cannot_predict_finitely_are_refused(data: Any) -> None:
    fields = ROWS[0].split(";")
    fields[8] = fields[9] = "3.4e38"  # pH and sulphates at float32's limit: accepted input
    key = "incoming/extreme.csv"
    etag = put(data, key, semicolons([HEADER, ROWS[0], ";".join(fields), ROWS[1]]))
    run(sqs_event(key, etag))
    assert report(data, "extreme.csv")["rows"] == {"read": 3, "scored": 2, "rejected": 1}
    scored = csv_rows(read(data, "predictions/extreme.csv") or b"")
    assert [row[:-2] for row in scored[1:]] == [ROWS[0].split(";"), ROWS[1].split(";")]
    prefix = row_id_prefix(key, etag)
    assert [row[-1] for row in scored[1:]] == [f"{prefix}2", f"{prefix}4"]
    errors = (read(data, "errors/extreme.csv") or b"").decode().splitlines()
    assert errors[1].startswith("3,,the model's prediction is not a finite number")


def test_headers_of_many_columns_and_sniffing_through_broken_rows(data: Any) -> None:
    wide = HEADER + "".join(f";x{i}" for i in range(40_000))
    key = "incoming/wide.csv"
    run(sqs_event(key, put(data, key, semicolons([wide, ROWS[0] + ";" * 40_000]))))
    assert report(data, "wide.csv")["rows"]["scored"] == 1
    assert report(data, "wide.csv")["seconds"] < 5
    key = "incoming/broken-start.csv"
    lines = [HEADER, *(r + ";9" for r in ROWS[:15]), *ROWS[15:1015]]
    run(sqs_event(key, put(data, key, semicolons(lines))))
    assert report(data, "broken-start.csv")["rows"] == {
        "read": 1015,
        "scored": 1000,
        "rejected": 15,
    }
