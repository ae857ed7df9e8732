"""Writing one S3 object through a multipart upload: buffered, visible only on complete.

Part of the batch path's S3 access (:mod:`predictor.s3_store`): outputs of any size are
written part by part in bounded memory, and a failed run aborts the upload, so a partial
object is never visible.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any

logger = logging.getLogger(__name__)

#: Multipart part size: S3 needs at least 5 MiB for every part but the last.
PART_SIZE = 8 * 1024 * 1024

#: zlib's fastest level: measured on wine rows, 106 MB/s and 2.9x smaller (level 6:
#: 12 MB/s, 3.7x), so compressing a gzipped input's outputs barely slows scoring.
COMPRESSION_LEVEL = 1


class MultipartWriter:
    """Buffered writes to one S3 object through a multipart upload, visible on complete.

    With ``gzip``, what is written is compressed into one gzip member on the way.
    """

    def __init__(
        self, s3: Any, bucket: str, key: str, *, part_size: int = PART_SIZE, gzip: bool = False
    ) -> None:
        self._s3, self.bucket, self.key = s3, bucket, key
        self._part_size = part_size
        # wbits 31: a gzip member (header and trailer), which gunzip and pandas read.
        self._compressor = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, 31) if gzip else None
        self._content_type = "application/gzip" if gzip else "text/csv"
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._buffer: list[bytes] = []
        self._buffered = 0
        self.written = False

    def write(self, data: bytes) -> None:
        """Append ``data``; uploads a part whenever ``part_size`` bytes are buffered."""
        if self._compressor is not None:
            data = self._compressor.compress(data)
        self._buffer.append(data)
        self._buffered += len(data)
        self.written = True
        if self._buffered >= self._part_size:
            self._upload_part()

    def _upload_part(self) -> None:
        if self._upload_id is None:
            created = self._s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self._content_type
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        response = self._s3.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=b"".join(self._buffer),
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._buffer, self._buffered = [], 0

    def complete(self) -> None:
        """Upload what is buffered and make the object visible."""
        if self._compressor is not None:
            self._buffer.append(self._compressor.flush())
        self._upload_part()
        self._s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None

    def abort(self) -> None:
        """Discard the upload (nothing becomes visible); safe to call more than once."""
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        try:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
        except Exception:
            # The bucket's lifecycle rule removes incomplete uploads; the original
            # error matters more than this one.
            logger.warning("could not abort the upload of %s", self.key, exc_info=True)
