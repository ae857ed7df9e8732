import pytest

from predictor.io.csv.dialect import sniff_delimiter


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ('"a";"b";"c"\n1;2;3\n', ";"),
        ("a,b,c\n1,2,3\n", ","),
        ("a\tb\n1\t2\n", "\t"),
        ("only\n1\n2\n", ","),
        ("x;y,z;w\n1;2,5;3\n", ";"),  # decimal commas inside semicolon-separated fields
        ('name,comment\nann,"a; b; c"\n', ","),  # delimiters inside quotes do not count
        ("a;b\n1;2\n3;4\n5;", ";"),  # last line cut short by the sample
        ("", ","),
    ],
)
def test_sniff_delimiter(sample: str, expected: str) -> None:
    assert sniff_delimiter(sample) == expected


def test_a_few_malformed_rows_do_not_change_the_verdict() -> None:
    sample = '"a";"b";"c"\n1;2;3\n1;2;3;4\n1;2\n\n4;5;6\n"7\n";8;9\n'
    assert sniff_delimiter(sample) == ";"


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("a;b;c\r1;2;3\r4;5;6\r", ";"),  # CR-only line endings (old Mac exports)
        ("a;b;c\n1;2\r;3\n4;5;6\n7;8;9\n", ";"),  # a stray bare CR inside a field
        ("a;b\n1;" + "x" * 200_000 + "\n2;3\n", ";"),  # a 200 KB field
        (";".join(f"c{i}" for i in range(9011)) + "\n" + ";".join(["1"] * 9011) + "\n", ";"),
        ("a;b\n1;x\x85y\n2;3\n", ";"),  # U+0085 is data, not a line break, in a CSV
    ],
    ids=["cr-only", "bare-cr", "200kb-field", "9011-columns", "nel-in-field"],
)
def test_samples_the_csv_module_once_refused(sample: str, expected: str) -> None:
    assert sniff_delimiter(sample) == expected


def test_a_sample_of_mostly_broken_rows_still_finds_the_delimiter() -> None:
    header = "a;b;c"
    sample = "\n".join([header, *["1;2;3;9"] * 15, *["1;2;3"] * 4]) + "\n"
    assert sniff_delimiter(sample) == ";"
