"""One object version as the batch path reads it: opened only while it is the key's current
version, read whole or in byte ranges, and the lease one run holds on it.
"""

from __future__ import annotations

import json
import logging
import time
from typing import IO, Any

from predictor.errors import InProgressError
from predictor.io.s3_store import CONDITION_FAILED, NOT_FOUND, ObjectRef, error_code, read_json

logger = logging.getLogger(__name__)


def last_modified(s3: Any, obj: ObjectRef) -> float | None:
    """When the object version was uploaded (epoch seconds); None if it is gone."""
    options = {"VersionId": obj.version_id} if obj.version_id else {}
    try:
        head = s3.head_object(Bucket=obj.bucket, Key=obj.key, **options)
    except Exception as exc:
        if error_code(exc) in NOT_FOUND or error_code(exc) == "400":
            return None
        raise
    return float(head["LastModified"].timestamp())


def open_current(s3: Any, obj: ObjectRef) -> tuple[IO[bytes] | None, str | None]:
    """The object's body if ``obj`` is still its current version, else why not.

    The current version is what gets scored: an event for a version since overwritten
    (a late or repeated delivery) must not bring older results back.
    """
    try:
        response = s3.get_object(Bucket=obj.bucket, Key=obj.key, IfMatch=obj.etag)
    except Exception as exc:
        code = error_code(exc)
        if code in NOT_FOUND:
            return None, "the object was deleted since the event"
        if code not in CONDITION_FAILED:
            raise
        return None, _why_not_current(s3, obj)
    current = response.get("VersionId")
    if obj.version_id and current and current != obj.version_id:
        response["Body"].close()
        return None, (
            f"the event is for version {obj.version_id}, but version {current} (same content) "
            "is the current one and has its own event"
        )
    return response["Body"], None


def _why_not_current(s3: Any, obj: ObjectRef) -> str:
    """Why the current object's ETag is not the event's: overwritten, or a made-up event."""
    if obj.version_id:
        try:
            head = s3.head_object(Bucket=obj.bucket, Key=obj.key, VersionId=obj.version_id)
            if head.get("ETag", "").strip('"') == obj.etag.strip('"'):
                return (
                    f"version {obj.version_id} has been overwritten since the event: the "
                    "current version has its own event"
                )
        except Exception as exc:
            if error_code(exc) not in (*NOT_FOUND, "400"):  # HEAD of a malformed version id
                raise
        return (
            f"no version of the object has ETag {obj.etag} and version id {obj.version_id}: "
            "the event was not sent by S3 for this object (a hand-made or sample event?)"
        )
    return (
        f"the object's ETag is no longer {obj.etag}: it changed since the event, or the event "
        "was not sent by S3 for this object (a hand-made or sample event?)"
    )


def still_current(s3: Any, obj: ObjectRef) -> bool:
    """Whether ``obj`` is still the object's current version (checked before committing)."""
    try:
        head = s3.head_object(Bucket=obj.bucket, Key=obj.key)
    except Exception as exc:
        if error_code(exc) in NOT_FOUND:
            return False
        raise
    if head.get("ETag", "").strip('"') != obj.etag.strip('"'):
        return False
    current = head.get("VersionId")
    return not (obj.version_id and current and current != obj.version_id)


class Lease:
    """An exclusive claim on one input, held as an object written with S3 conditional writes.

    A lease for the same object version that has not expired belongs to a run still
    going; a lease for another version, or an expired one, is taken over atomically.
    Releasing is a conditional delete, so a run never removes a lease taken over from it.
    """

    def __init__(self, s3: Any, obj: ObjectRef, key: str) -> None:
        self._s3, self._obj, self.key = s3, obj, key
        self._etag: str | None = None

    def claim(self, seconds: float) -> None:
        """Take the lease for ``seconds`` (InProgressError if another run holds it)."""
        obj = self._obj
        body = json.dumps(
            {"etag": obj.etag, "version_id": obj.version_id, "expires": time.time() + seconds}
        ).encode()
        if self._put(body, IfNoneMatch="*"):
            return
        found = read_json(self._s3, obj.bucket, self.key)
        if found is None:
            conditions = {"IfNoneMatch": "*"}
        else:
            lease, lease_etag = found
            same = lease.get("etag") == obj.etag and lease.get("version_id") == obj.version_id
            if same and lease.get("expires", 0) > time.time():
                raise InProgressError(f"{obj.key} is being scored by another invocation")
            conditions = {"IfMatch": lease_etag}
        if not self._put(body, **conditions):
            raise InProgressError(f"{obj.key} was claimed by another invocation")

    def _put(self, body: bytes, **conditions: str) -> bool:
        try:
            response = self._s3.put_object(
                Bucket=self._obj.bucket, Key=self.key, Body=body, **conditions
            )
        except Exception as exc:
            if error_code(exc) in CONDITION_FAILED:
                return False
            raise
        self._etag = str(response["ETag"])
        return True

    def release(self) -> None:
        """Delete the lease if it is still ours, so the next run of this key starts at once."""
        if self._etag is None:
            return
        try:
            self._s3.delete_object(Bucket=self._obj.bucket, Key=self.key, IfMatch=self._etag)
        except Exception as exc:
            if error_code(exc) not in (*CONDITION_FAILED, *NOT_FOUND):  # taken over, or gone
                logger.warning("could not release the lease on %s", self._obj.key, exc_info=True)
        self._etag = None


# ----- one object version, read in ranges (the batch state machine's steps) ------------------
def version_args(obj: ObjectRef) -> dict[str, str]:
    """GET arguments that read exactly the planned version, whatever happens to the key."""
    if obj.version_id:
        return {"VersionId": obj.version_id}
    return {"IfMatch": '"' + obj.etag.strip('"') + '"'}  # S3 compares the quoted form


def head_version(s3: Any, obj: ObjectRef) -> dict[str, Any] | None:
    """The HEAD of exactly ``obj``'s version; None when that version is gone."""
    try:
        return dict(s3.head_object(Bucket=obj.bucket, Key=obj.key, **version_args(obj)))
    except Exception as exc:
        if error_code(exc) in (*NOT_FOUND, *CONDITION_FAILED):
            return None
        raise


def read_range(s3: Any, obj: ObjectRef, start: int, end: int) -> bytes:
    """Bytes [start, end) of exactly ``obj``'s version."""
    response = s3.get_object(
        Bucket=obj.bucket, Key=obj.key, Range=f"bytes={start}-{end - 1}", **version_args(obj)
    )
    return bytes(response["Body"].read())


def open_range(s3: Any, obj: ObjectRef, start: int, end: int) -> IO[bytes]:
    """A stream of bytes [start, end) of exactly ``obj``'s version."""
    response = s3.get_object(
        Bucket=obj.bucket, Key=obj.key, Range=f"bytes={start}-{end - 1}", **version_args(obj)
    )
    body: IO[bytes] = response["Body"]
    return body


def open_from(s3: Any, obj: ObjectRef, start: int) -> IO[bytes]:
    """A stream of ``obj``'s version from byte ``start`` to its end."""
    response = s3.get_object(
        Bucket=obj.bucket, Key=obj.key, Range=f"bytes={start}-", **version_args(obj)
    )
    body: IO[bytes] = response["Body"]
    return body
