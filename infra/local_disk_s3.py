"""A file-backed stand-in for the S3 calls the batch path makes (benchmarks, large tests).

moto keeps whole objects in memory, which would hide the memory of the code under
test; this keeps objects as files under a folder, so a process's peak RSS is its own.
Errors carry S3's codes, as botocore's ClientError does.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path
from typing import Any


class ClientError(Exception):
    """An S3 error with its code, shaped like botocore's."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class LocalDiskS3:
    """Objects and multipart uploads as files under ``root/<bucket>/<key>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._uploads: dict[str, list[Path]] = {}

    def _path(self, bucket: str, key: str) -> Path:
        return self.root / bucket / key

    def etag(self, bucket: str, key: str) -> str:
        """A stand-in ETag: size and modification time."""
        stat = self._path(bucket, key).stat()
        return hashlib.md5(f"{stat.st_size}-{stat.st_mtime_ns}".encode()).hexdigest()  # noqa: S324

    def _existing(self, bucket: str, key: str, options: dict[str, Any]) -> Path:
        path = self._path(bucket, key)
        if not path.exists():
            raise ClientError("NoSuchKey")
        if "IfMatch" in options and options["IfMatch"].strip('"') != self.etag(bucket, key):
            raise ClientError("PreconditionFailed")
        return path

    def get_object(self, Bucket: str, Key: str, **options: Any) -> dict[str, Any]:
        path = self._existing(Bucket, Key, options)
        return {"Body": path.open("rb"), "ETag": f'"{self.etag(Bucket, Key)}"'}

    def head_object(self, Bucket: str, Key: str, **options: Any) -> dict[str, Any]:
        self._existing(Bucket, Key, options)
        return {"ETag": f'"{self.etag(Bucket, Key)}"'}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **options: Any) -> dict[str, Any]:
        path = self._path(Bucket, Key)
        if options.get("IfNoneMatch") == "*" and path.exists():
            raise ClientError("PreconditionFailed")
        if "IfMatch" in options:
            self._existing(Bucket, Key, options)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Body)
        return {"ETag": f'"{self.etag(Bucket, Key)}"'}

    def delete_object(self, Bucket: str, Key: str, **options: Any) -> None:
        if "IfMatch" in options:
            self._existing(Bucket, Key, options)
        self._path(Bucket, Key).unlink(missing_ok=True)

    def create_multipart_upload(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        upload = uuid.uuid4().hex
        self._uploads[upload] = []
        return {"UploadId": upload}

    def upload_part(
        self, Bucket: str, Key: str, UploadId: str, PartNumber: int, Body: bytes
    ) -> dict[str, Any]:
        part = self.root / ".parts" / f"{UploadId}-{PartNumber}"
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(Body)
        self._uploads[UploadId].append(part)
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, Bucket: str, Key: str, UploadId: str, **_: Any) -> None:
        path = self._path(Bucket, Key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            for part in self._uploads.pop(UploadId):
                with part.open("rb") as source:
                    shutil.copyfileobj(source, out)
                part.unlink()

    def abort_multipart_upload(self, Bucket: str, Key: str, UploadId: str) -> None:
        for part in self._uploads.pop(UploadId, []):
            part.unlink(missing_ok=True)
