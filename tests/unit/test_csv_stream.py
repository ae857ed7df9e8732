import gzip
import io

import pytest

from predictor.csv_stream import CsvStream, open_text
from predictor.errors import InputError


def stream(text: str | bytes, gzipped: bool = False) -> CsvStream:
    data = text.encode() if isinstance(text, str) else text
    return CsvStream(open_text(io.BytesIO(gzip.compress(data) if gzipped else data), gzipped))


def records(csv: CsvStream, rows: int) -> list[tuple[int, str, list[str]]]:
    out = []
    for chunk in csv.chunks(rows):
        out += list(zip(chunk.lines, chunk.raws, chunk.fields, strict=True))
    return out


@pytest.mark.parametrize("rows", [1, 2, 3, 100])
def test_line_numbers_raw_text_and_fields_whatever_the_chunk_size(rows: int) -> None:
    text = '"a";"b"\r\n1;2\r\n\r\n3;"x\r\ny";9\r\n4;5\r\n'
    csv = stream(text)
    assert (csv.columns, csv.delimiter, csv.header_raw) == (["a", "b"], ";", '"a";"b"')
    assert records(csv, rows) == [
        (2, "1;2", ["1", "2"]),
        (3, "", []),
        (4, '3;"x\r\ny";9', ["3", "x\r\ny", "9"]),
        (6, "4;5", ["4", "5"]),
    ]


def test_quoted_field_running_past_the_chunk() -> None:
    csv = stream('a,b\n1,"two\nlines\nhere"\n5,6\n')
    assert records(csv, 1) == [
        (2, '1,"two\nlines\nhere"', ["1", "two\nlines\nhere"]),
        (5, "5,6", ["5", "6"]),
    ]


def test_bom_gzip_and_missing_final_newline() -> None:
    csv = stream(b"\xef\xbb\xbfx,y\n1,2", gzipped=True)
    assert csv.columns == ["x", "y"]
    assert records(csv, 10) == [(2, "1,2", ["1", "2"])]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"a,a\n1,2\n", "duplicate column"),
        (b"\xff\xfe\x00a", "not"),
        (b"a,b\n\xff\xff\n", "UTF-8"),
        (b"a,b\n" + b"1,2\n" * 40_000 + b"\xff\xff\n", r"not UTF-8 after line \d+"),
    ],
    ids=["empty", "blank", "duplicates", "binary", "bad-utf8", "bad-utf8-later"],
)
def test_unreadable_files(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        records(stream(data), 10)
