"""The batch path's access to S3, in one place: objects, versions and leases.

Everything here is a thin, typed wrapper over boto3 calls with the error codes that
matter classified once (:func:`error_code`), so the orchestrator reads as a story and
the pure scoring code never sees S3. Outputs stream through
:class:`predictor.io.s3_multipart.MultipartWriter`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

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


def open_object(s3: Any, bucket: str, key: str) -> IO[bytes] | None:
    """A stream of an object's bytes (read it, then close it), or None when the key does
    not exist."""
    response = _get(s3, bucket, key)
    return None if response is None else response["Body"]


def get_many(s3: Any, bucket: str, keys: list[str], threads: int) -> Iterator[tuple[str, bytes]]:
    """(key, bytes) of each object, in order, read ``threads`` at a time: at most that many
    are held at once (a pool's map starts every read and holds what it has not handed on).
    A key that is gone gives no bytes (b"")."""
    with ThreadPoolExecutor(threads) as pool:
        for start in range(0, len(keys), threads):
            batch = keys[start : start + threads]
            yield from zip(
                batch, pool.map(lambda k: get_bytes(s3, bucket, k) or b"", batch), strict=True
            )


def list_objects(s3: Any, bucket: str, prefix: str) -> list[tuple[str, int]]:
    """(key, size) of every object directly under ``prefix`` (not in its "folders")."""
    found: list[tuple[str, int]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        found.extend((entry["Key"], int(entry["Size"])) for entry in page.get("Contents", []))
    return found


def list_uploads(
    s3: Any, bucket: str, prefix: str, *, top_level: bool = False
) -> list[tuple[str, float]]:
    """(key, upload time in epoch seconds) of every object under ``prefix`` (with
    ``top_level``, only those directly under it, not in a "folder" of it)."""
    found: list[tuple[str, float]] = []
    options = {"Delimiter": "/"} if top_level else {}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **options)
    for page in pages:
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
