"""The shipped digits data is what its script makes from scikit-learn's copy."""

from __future__ import annotations

import csv
import io
from collections import Counter

from tests.helpers import ROOT
from training.digits_data import digits_csv, pixel_columns


def test_the_shipped_digits_are_the_scripts_bytes() -> None:
    assert (ROOT / "data" / "digits.csv").read_bytes() == digits_csv()


def test_each_row_is_an_8x8_image_and_its_digit() -> None:
    rows = list(csv.DictReader(io.StringIO(digits_csv().decode())))
    assert len(rows) == 1797
    assert list(rows[0]) == [*pixel_columns(), "digit"]
    assert pixel_columns()[:2] == ["p_0_0", "p_0_1"]
    assert pixel_columns()[8] == "p_1_0"
    assert {int(v) for row in rows for k, v in row.items() if k != "digit"} <= set(range(17))
    counts = Counter(row["digit"] for row in rows)
    assert sorted(counts) == [str(d) for d in range(10)]
    assert min(counts.values()) >= 170  # every digit about a tenth of the images
