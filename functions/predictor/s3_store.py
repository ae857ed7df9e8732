"""The batch path's access to S3, in one place: objects, versions and leases.

Everything here is a thin, typed wrapper over boto3 calls with the error codes that
matter classified once (:func:`error_code`), so the orchestrator reads as a story and
the pure scoring code never sees S3. Outputs stream through
:class:`predictor.s3_multipart.MultipartWriter`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from predictor.errors import InProgressError

logger = logging.getLogger(__name__)

#: What S3 answers when a conditional request's condition does not hold.
CONDITION_FAILED = ("PreconditionFailed", "ConditionalRequestConflict")
#: What S3 answers for a key or version that does not exist (HEAD: bare status codes).
NOT_FOUND = ("NoSuchKey", "NoSuchVersion", "404")


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ClientError (empty for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """One version of one object, as an S3 event names it."""

    bucket: str
    key: str
    etag: str
    version_id: str | None = None
    #: The object's size as the event gave it (not stored in reports).
    size: int | None = None


def read_json(s3: Any, bucket: str, key: str) -> tuple[dict[str, Any], str] | None:
    """A JSON object and its ETag, or None when the key does not exist."""
    response = _get(s3, bucket, key)
    if response is None:
        return None
    return json.loads(response["Body"].read()), str(response["ETag"])


def _get(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return dict(s3.get_object(Bucket=bucket, Key=key))
    except Exception as exc:
        if error_code(exc) in NOT_FOUND:
            return None
        raise


def write_json(s3: Any, bucket: str, key: str, document: dict[str, Any]) -> None:
    """Store ``document`` as indented JSON."""
    body = json.dumps(document, indent=2).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def put_bytes(s3: Any, bucket: str, key: str, body: bytes, content_type: str) -> None:
    """Store ``body`` as one object."""
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def object_size(s3: Any, bucket: str, key: str) -> int | None:
    """An object's size in bytes, or None when the key does not exist."""
    try:
        return int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except Exception as exc:
        if error_code(exc) in NOT_FOUND:
            return None
        raise


def get_bytes(s3: Any, bucket: str, key: str) -> bytes | None:
    """An object's bytes, or None when the key does not exist."""
    response = _get(s3, bucket, key)
    return None if response is None else bytes(response["Body"].read())


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


def list_objects(s3: Any, bucket: str, prefix: str) -> list[tuple[str, int]]:
    """(key, size) of every object directly under ``prefix`` (not in its "folders")."""
    found: list[tuple[str, int]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        found.extend((entry["Key"], int(entry["Size"])) for entry in page.get("Contents", []))
    return found


def list_uploads(s3: Any, bucket: str, prefix: str) -> list[tuple[str, float]]:
    """(key, upload time in epoch seconds) of every object under ``prefix``."""
    found: list[tuple[str, float]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend(
            (entry["Key"], float(entry["LastModified"].timestamp()))
            for entry in page.get("Contents", [])
        )
    return found


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every key under ``prefix``, at any depth."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(entry["Key"] for entry in page.get("Contents", []))
    return keys


def list_folders(s3: Any, bucket: str, prefix: str, start_after: str | None = None) -> list[str]:
    """The next key segment of every key under ``prefix`` (its "folders"), sorted; with
    ``start_after``, only the folders whose names sort after it.
    """
    names: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")
    options = {"StartAfter": prefix + start_after} if start_after else {}
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/", **options):
        names.extend(p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", []))
    return sorted(names)


def delete(s3: Any, bucket: str, keys: list[str]) -> None:
    """Delete each key (absent keys are fine)."""
    for key in keys:
        s3.delete_object(Bucket=bucket, Key=key)


def delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every object under ``prefix`` (a thousand per call); returns how many."""
    deleted = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


def abort_uploads(s3: Any, bucket: str, key: str) -> int:
    """Abort every multipart upload still open for exactly ``key``; returns how many."""
    aborted = 0
    paginator = s3.get_paginator("list_multipart_uploads")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        for upload in page.get("Uploads", []):
            if upload["Key"] == key:
                s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
                aborted += 1
    return aborted


def update_json(
    s3: Any,
    bucket: str,
    key: str,
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
    attempts: int = 10,
) -> bool:
    """Read-modify-write one JSON object with a conditional write, retried on a race.

    ``change`` returns the new document, or None to leave it as it is. Returns whether a
    change was written (False: absent, unchanged, or still racing after ``attempts``).
    """
    for _ in range(attempts):
        found = read_json(s3, bucket, key)
        if found is None:
            return False
        document, etag = found
        changed = change(document)
        if changed is None:
            return False
        body = json.dumps(changed, indent=2).encode()
        try:
            s3.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType="application/json", IfMatch=etag
            )
        except Exception as exc:
            if error_code(exc) not in CONDITION_FAILED:
                raise
            continue
        return True
    return False


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
