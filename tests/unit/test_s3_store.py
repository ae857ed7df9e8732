"""The batch path's S3 access: JSON, leases, object versions, multipart writes (moto)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.local_env import DATA_BUCKET
from predictor.errors import InProgressError
from predictor.io import s3_store, s3_versions
from predictor.io.s3_multipart import MultipartWriter
from predictor.io.s3_store import ObjectRef
from predictor.io.s3_versions import Lease


def put(s3: Any, key: str, body: bytes) -> ObjectRef:
    response = s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)
    return ObjectRef(DATA_BUCKET, key, response["ETag"].strip('"'), response.get("VersionId"))


def keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=DATA_BUCKET).get("Contents", [])]


def test_json_round_trip_and_missing_keys(s3: Any) -> None:
    assert s3_store.read_json(s3, DATA_BUCKET, "reports/none.json") is None
    s3_store.write_json(s3, DATA_BUCKET, "reports/a.json", {"status": "succeeded"})
    document, etag = s3_store.read_json(s3, DATA_BUCKET, "reports/a.json") or ({}, "")
    assert document == {"status": "succeeded"}
    assert etag.startswith('"')


def test_error_code_of_client_errors_only(s3: Any) -> None:
    with pytest.raises(s3.exceptions.NoSuchKey) as caught:
        s3.get_object(Bucket=DATA_BUCKET, Key="missing")
    assert s3_store.error_code(caught.value) == "NoSuchKey"
    assert s3_store.error_code(ValueError("x")) == ""


def test_multipart_writer_is_invisible_until_complete(s3: Any) -> None:
    mib = 1024 * 1024
    writer = MultipartWriter(s3, DATA_BUCKET, "predictions/x.csv", part_size=5 * mib)
    pieces = [bytes([65 + i]) * 3 * mib for i in range(3)]  # parts of 6 MiB and 3 MiB
    for piece in pieces:
        writer.write(piece)
    assert "predictions/x.csv" not in keys(s3)
    assert len(s3.list_multipart_uploads(Bucket=DATA_BUCKET)["Uploads"]) == 1
    writer.complete()
    stored = s3.get_object(Bucket=DATA_BUCKET, Key="predictions/x.csv")
    assert stored["Body"].read() == b"".join(pieces)
    assert stored["ETag"].endswith('-2"')  # two parts


def test_multipart_writer_abort_leaves_nothing(s3: Any) -> None:
    writer = MultipartWriter(s3, DATA_BUCKET, "predictions/y.csv", part_size=2)
    writer.write(b"12345")
    writer.abort()
    writer.abort()  # a second abort is harmless
    assert s3.list_multipart_uploads(Bucket=DATA_BUCKET).get("Uploads", []) == []
    assert keys(s3) == []


def test_lease_excludes_a_second_run_and_is_released(s3: Any) -> None:
    obj = put(s3, "incoming/a.csv", b"a\n1\n")
    first = Lease(s3, obj, "reports/a.csv.lease")
    first.claim(60)
    with pytest.raises(InProgressError):
        Lease(s3, obj, "reports/a.csv.lease").claim(60)
    first.release()
    assert "reports/a.csv.lease" not in keys(s3)
    again = Lease(s3, obj, "reports/a.csv.lease")
    again.claim(60)
    again.release()


def test_an_expired_lease_or_another_versions_lease_is_taken_over(s3: Any) -> None:
    obj = put(s3, "incoming/b.csv", b"a\n1\n")
    stale = Lease(s3, obj, "reports/b.csv.lease")
    stale.claim(-1)  # already expired
    taker = Lease(s3, obj, "reports/b.csv.lease")
    taker.claim(60)
    stale.release()  # no longer ours: the conditional delete leaves the taker's lease
    assert "reports/b.csv.lease" in keys(s3)
    newer = put(s3, "incoming/b.csv", b"a\n2\n")
    Lease(s3, newer, "reports/b.csv.lease").claim(60)  # another version: taken over
    lease = json.loads(s3.get_object(Bucket=DATA_BUCKET, Key="reports/b.csv.lease")["Body"].read())
    assert lease["etag"] == newer.etag


def test_open_current_knows_overwritten_deleted_and_made_up_events(s3: Any) -> None:
    first = put(s3, "incoming/c.csv", b"a\n1\n")
    body, why = s3_versions.open_current(s3, first)
    assert body is not None
    assert body.read() == b"a\n1\n"
    assert why is None
    second = put(s3, "incoming/c.csv", b"a\n2\n")
    assert s3_versions.open_current(s3, first)[1] == (
        f"version {first.version_id} has been overwritten since the event: "
        "the current version has its own event"
    )
    made_up = ObjectRef(DATA_BUCKET, "incoming/c.csv", "0" * 32, second.version_id)
    assert "not sent by S3" in (s3_versions.open_current(s3, made_up)[1] or "")
    assert s3_versions.still_current(s3, second)
    assert not s3_versions.still_current(s3, first)
    s3.delete_object(Bucket=DATA_BUCKET, Key="incoming/c.csv")
    assert s3_versions.open_current(s3, second)[1] == "the object was deleted since the event"
    assert not s3_versions.still_current(s3, second)
