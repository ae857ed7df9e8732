import gzip
import io

import pytest

from predictor.errors import InputError
from predictor.io.csv.dialect import MAX_RECORD_CHARS
from predictor.io.csv.lines import open_text
from predictor.io.csv.problems import record_problems, shown_raw
from predictor.io.csv.stream import Chunk, CsvStream


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
    text = '"a";"b";"c"\r\n1;2;3\r\n\r\n3;"x\r\ny";9\r\n4;5;6\r\n'
    csv = stream(text)
    assert (csv.columns, csv.delimiter, csv.header_raw) == (["a", "b", "c"], ";", '"a";"b";"c"')
    assert records(csv, rows) == [
        (2, "1;2;3", ["1", "2", "3"]),
        (3, "", []),
        (4, '3;"x\r\ny";9', ["3", "x\r\ny", "9"]),
        (6, "4;5;6", ["4", "5", "6"]),
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
    bad = record_problems(last, 2)
    assert {last.lines[i]: reason for i, reason in bad.items()} == {
        70_002: "bytes that are not UTF-8",
        70_003: "bytes that are not UTF-8",
    }
    assert last.raws[min(bad)].encode(errors="surrogateescape") == b"3," + field
    assert record_problems(chunks[0], 2) == {}
    assert sum(len(c) for c in chunks) == 70_003


def numbers_only(fields: list[str]) -> str | None:
    """A stand-in for the schema: every field must be a number."""
    return next((f"not a number: {f!r}" for f in fields if not f.strip().isdigit()), None)


def problems_by_line(data: bytes, rows: int = 50_000) -> tuple[dict[int, str], list[Chunk]]:
    csv = stream(data)
    chunks = list(csv.chunks(rows, numbers_only))
    found = {}
    for chunk in chunks:
        for index, reason in record_problems(chunk, len(csv.columns)).items():
            found[chunk.lines[index]] = reason
    return found, chunks


@pytest.mark.parametrize("where", [3, 5_000])
def test_a_nul_byte_refuses_its_row_wherever_it_is(where: int) -> None:
    rows = [b"1,2\n"] * 6_000
    rows[where - 2] = b"1,\x002\n"
    found, chunks = problems_by_line(b"a,b\n" + b"".join(rows), rows=1_000)
    assert found == {where: "a NUL byte"}
    assert sum(len(c) for c in chunks) == 6_000


def test_a_nul_byte_in_the_header_is_not_a_csv() -> None:
    with pytest.raises(InputError, match="header row has a NUL byte"):
        stream(b"a,\x00b\n1,2\n")


@pytest.mark.parametrize("quoted", [False, True])
def test_a_line_over_the_limit_is_cut_and_refused_alone(quoted: bool) -> None:
    big = b"x" * (MAX_RECORD_CHARS + 10)
    field = b'"' + big + b'"' if quoted else big
    data = b"a,b\n1,2\n3," + field + b"\n4,5\n"
    found, chunks = problems_by_line(data)
    assert found == {3: f"a line longer than {MAX_RECORD_CHARS:,} characters"}
    raws = [raw for chunk in chunks for raw in chunk.raws]
    assert raws[0] == "1,2"
    assert raws[2] == "4,5"
    assert shown_raw(raws[1]).endswith("xxx...")
    assert len(raws[1]) < 2_000


def test_a_quoted_field_of_200_kb_is_a_row_like_any_other() -> None:
    found, chunks = problems_by_line(b'a,b\n1,"' + b"y" * 200_000 + b'"\n2,3\n')
    assert found == {}
    assert [len(f[1]) for c in chunks for f in c.fields] == [200_000, 1]


def test_a_stray_quote_refuses_its_line_and_rereads_the_rest() -> None:
    rows = [b"%d,%d\n" % (i, i) for i in range(40)]
    rows[23] = b'23,"23\n'  # line 25: a stray quote...
    rows[30] = b'30,3"0\n'  # ...closed by another at line 32: one record of the right width
    found, chunks = problems_by_line(b"a,b\n" + b"".join(rows), rows=7)
    assert found == {
        25: "quotes out of place: ',' expected after '\"' (the record would run on for 7 lines)"
    }
    read = [(line, f) for c in chunks for line, f in zip(c.lines, c.fields, strict=True)]
    assert len(read) == 40
    assert read[24] == (26, ["24", "24"])
    assert read[-1] == (41, ["39", "39"])


def test_an_unclosed_quote_is_bounded_and_costs_one_line() -> None:
    rows = [b"1,2\n"] * 30_000  # about 120 KB after the quote: far below the bound...
    data = b"a,b\n" + b'1,"2\n' + b"".join(rows) + b"3,4\n" * 300_000  # ...then past it
    found, chunks = problems_by_line(data)
    assert found == {2: "a quote opened on this line is not closed"}
    assert sum(len(c) for c in chunks) == 1 + 30_000 + 300_000


def test_cr_only_line_endings() -> None:
    found, chunks = problems_by_line(b"a;b\r1;2\r3;4\r")
    assert found == {}
    assert [(c.lines, c.fields) for c in chunks] == [(range(2, 4), [["1", "2"], ["3", "4"]])]


@pytest.mark.parametrize(
    "field",
    ['"3"5', '""3.51', '"3.5" ', '"3."5'],
    ids=["closed-then-digit", "empty-quotes-then-digits", "space-after-quote", "split-number"],
)
def test_a_quote_must_close_before_a_delimiter(field: str) -> None:
    found, chunks = problems_by_line(f"a,b\n1,2\n1,{field}\n3,4\n".encode())
    assert list(found) == [3]
    assert found[3].startswith("quotes out of place")
    assert [f for c in chunks for f in c.fields if f] == [["1", "2"], ["3", "4"]]


def test_a_quote_left_open_at_the_end_of_the_file_refuses_its_row() -> None:
    found, _ = problems_by_line(b'a,b\n1,2\n3,"4')
    assert list(found) == [3]
    assert found[3].startswith("quotes out of place: unexpected end of data")


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_a_line_of_exactly_the_limit_is_a_row_and_one_more_is_cut(ending: str) -> None:
    at_limit = "1," + "9" * (MAX_RECORD_CHARS - 2)
    over = "1," + "9" * (MAX_RECORD_CHARS - 1)
    text = ending.join(["a,b", at_limit, over, "3,4", "5,6"]) + ending
    found, chunks = problems_by_line(text.encode())
    assert found == {3: f"a line longer than {MAX_RECORD_CHARS:,} characters"}
    assert [line for c in chunks for line in c.lines] == [2, 3, 4, 5]
    raws = [raw for c in chunks for raw in c.raws]
    assert len(raws[0]) == MAX_RECORD_CHARS
    assert raws[2:] == ["3,4", "5,6"]


def test_a_header_of_100000_columns_is_read_in_linear_time() -> None:
    import time

    header = ",".join(f"c{i}" for i in range(100_000))
    started = time.perf_counter()
    csv = stream(f"{header}\n{','.join(['1'] * 100_000)}\n")
    assert len(csv.columns) == 100_000
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("seed", range(6))
def test_lines_read_in_bulk_are_the_lines_read_one_at_a_time(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks split in C give exactly the lines (and cuts) of reading line by line."""
    import random

    from predictor.io.csv import lines as csv_lines

    rng = random.Random(seed)
    pieces = ["a;1", "b;2", "", "\u00e9;3", "x\x0by", "p\x0cq", "r\x85s", "t\u2028u", "v\x1cw"]
    endings = ["\n", "\r\n", "\r"]
    text = "".join(rng.choice(pieces) + rng.choice(endings) for _ in range(3000))
    text += "z" * (MAX_RECORD_CHARS + 50) + "\r\n" + "tail;9"  # one line to cut, no last end
    monkeypatch.setattr(csv_lines, "BULK_CHARS", rng.choice([7, 64, 1000]))

    def lines() -> csv_lines.Lines:
        return csv_lines.Lines(text[:100], io.StringIO(text[100:], newline=""))

    one_at_a_time = list(lines())
    bulk, taken = lines(), []
    while chunk := bulk.take(rng.randint(1, 500)):
        taken += chunk
    assert taken == one_at_a_time
    assert one_at_a_time[-1] == "tail;9"
    assert sum(csv_lines.CUT_MARK in line for line in taken) == 1
    expected = io.StringIO(text, newline="").readlines()
    assert len(taken) == len(expected)


def test_a_cut_line_ending_in_cr_before_a_crlf_line_keeps_the_crlf_whole() -> None:
    """A carried "\\r" is looked past: "\\r\\n" after a cut line is one line ending."""
    from predictor.io.csv import lines as csv_lines

    text = "h\n" + "x" * (MAX_RECORD_CHARS + 5) + "\r\r\nnext\n"
    lines = list(csv_lines.Lines(text[:2], io.StringIO(text[2:], newline="")))
    assert len(lines) == 4
    assert lines[0] == "h\n"
    assert csv_lines.CUT_MARK in lines[1]
    assert lines[2:] == ["\r\n", "next\n"]


def test_spaces_after_a_delimiter_are_skipped_in_plain_and_quoted_chunks() -> None:
    plain = Chunk([2, 3], [" 1, red,  x", "2,blue,y "], delimiter=",")
    assert plain.fields == [["1", "red", "x"], ["2", "blue", "y "]]  # as pandas reads them
    quoted = stream('a,b,c\n1, "red, dark",x\n')
    assert records(quoted, 10) == [(2, '1, "red, dark",x', ["1", "red, dark", "x"])]
