"""Line counting over raw bytes and assembling objects from parts with S3 copies."""

from __future__ import annotations

import io
from typing import Any

import pytest

from infra.local_env import DATA_BUCKET
from predictor.io.csv.byte_lines import LineCountingReader, count_lines, offset_after_lines
from predictor.io.s3_multipart import MIN_PART_SIZE, MultipartWriter

MiB = 1024 * 1024


class _Trickle(io.RawIOBase):
    """Gives ``data`` a few bytes per read, so that "\\r\\n" falls across reads."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._at = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        piece = self._data[self._at : self._at + min(self._step, size if size > 0 else self._step)]
        self._at += len(piece)
        return piece


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_line_counting_reader_counts_the_first_bytes_only(step: int) -> None:
    data = b"a\r\nb\rc\nd\r\n\r\ne\nrest\r\nmore\n"
    limit = data.index(b"rest")
    reader = LineCountingReader(_Trickle(data, step), limit)
    assert reader.lines is None
    assert io.BufferedReader(reader, buffer_size=4).read() == data
    assert reader.lines == count_lines(data[:limit]) == 6


def test_without_a_limit_the_count_stays_unknown() -> None:
    reader = LineCountingReader(io.BytesIO(b"a\nb\n"), None)
    io.BufferedReader(reader).read()
    assert reader.lines is None


def test_offset_after_lines_waits_for_the_byte_after_a_carriage_return() -> None:
    assert offset_after_lines(b"a\r\nb\rc", 2, at_end=False) == 5
    assert offset_after_lines(b"a\r", 1, at_end=False) is None
    assert offset_after_lines(b"a\r", 1, at_end=True) == 2
    assert offset_after_lines(b"a\nb", 2, at_end=True) is None
    assert offset_after_lines(b"", 0, at_end=True) == 0


def test_parts_are_assembled_in_order_with_copies_where_s3_allows(s3: Any) -> None:
    sizes = [12 * MiB, 100, 11 * MiB, 1 * MiB, 16 * MiB, 3, 5 * MiB + 1]
    parts = []
    for number, size in enumerate(sizes):
        body = bytes([65 + number]) * size
        key = f"runs/part-{number}"
        s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)
        parts.append((key, body))
    copies: list[str] = []
    original = s3.upload_part_copy

    def spy(**request: Any) -> Any:
        copies.append(request["CopySourceRange"])
        return original(**request)

    s3.upload_part_copy = spy
    writer = MultipartWriter(s3, DATA_BUCKET, "predictions/assembled.csv")
    writer.write(b"header\n")
    for key, body in parts:
        writer.append_object(key, len(body))
    writer.complete()
    assembled = s3.get_object(Bucket=DATA_BUCKET, Key="predictions/assembled.csv")["Body"].read()
    assert assembled == b"header\n" + b"".join(body for _, body in parts)
    assert writer.size == len(assembled)
    assert copies  # S3 copied most of the bytes
    copied = sum(int(r.split("-")[1]) - int(r.split("=")[1].split("-")[0]) + 1 for r in copies)
    assert copied > 0.5 * len(assembled)
    # S3 (and moto) refuse to complete an upload with a part under MIN_PART_SIZE but the
    # last: completing at all shows every part was large enough.
    assert 5 * MiB == MIN_PART_SIZE
