import gzip
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import MODEL_BUCKET
from training.data import read_table


def test_semicolon_quoted_headers_bom_and_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    text = '"fixed acidity";" pH ";"kind";"quality"\n7.4;3.5;red;5\n;3.2;;6\n8.1;NA;white;7\n'
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    table = read_table(str(path))
    frame = table.frame
    assert list(frame.columns) == ["fixed acidity", "pH", "kind", "quality"]
    assert table.delimiter == ";"
    assert frame["fixed acidity"].isna().tolist() == [False, True, False]
    assert frame["pH"].isna().tolist() == [False, False, True]
    assert frame["kind"].isna().tolist() == [False, True, False]
    assert len(table.sha256) == 64


def test_gzip_and_comma(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,x\n2,y\n"))
    assert read_table(str(path)).frame.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}


def test_reads_from_s3(s3: Any) -> None:
    s3.put_object(Bucket=MODEL_BUCKET, Key="train/t.csv", Body=b"a;b\n1;2\n")
    table = read_table(f"s3://{MODEL_BUCKET}/train/t.csv", s3)
    assert table.frame.to_dict("list") == {"a": [1], "b": [2]}


@pytest.mark.parametrize(("content", "message"), [(b"", "empty"), (b"a,b\n", "no data rows")])
def test_unusable_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_table(str(path))
