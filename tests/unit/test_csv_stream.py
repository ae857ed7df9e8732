import gzip
import io

import pytest

from predictor.csv_stream import CsvStream, open_text, undecodable_records
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
        (b"a,\xe9\n1,2\n", "header row has bytes that are not UTF-8"),
    ],
    ids=["empty", "blank", "duplicates", "binary", "latin-1-header"],
)
def test_unreadable_files(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        records(stream(data), 10)


@pytest.mark.parametrize("quoted", [False, True])
def test_bytes_that_are_not_utf8_mark_only_their_record(quoted: bool) -> None:
    field = b'"x,\xe9"' if quoted else b"caf\xe9"
    data = b"a,b\n" + b"1,2\n" * 70_000 + b"3," + field + b"\n\xff\xfe,4\n5,6\n"
    chunks = list(stream(data).chunks(50_000))
    last = chunks[-1]
    bad = undecodable_records(last.raws)
    assert [last.lines[i] for i in bad] == [70_002, 70_003]
    assert last.raws[bad[0]].encode(errors="surrogateescape") == b"3," + field
    assert undecodable_records(chunks[0].raws) == []
    assert sum(len(c) for c in chunks) == 70_003
